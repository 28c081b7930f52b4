"""Review reports for people: terminal tables, Markdown, CSV, and one self-contained HTML file.

The HTML has no scripts and no external resources: charts are inline SVG, so the file opens
offline, prints, and can be archived next to the audit bundle.
"""

import csv
import html
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from okr.cli.output import NONE, counted, csv_cell, datum, visible
from okr.domain.actors import acting
from okr.domain.numbers import figure, fraction, percent
from okr.domain.numbers import shown as shown_down
from okr.domain.review import REMOVED_BEHIND


def pct(x: float | None) -> str:
    """A 0–1 fraction as a whole percentage: '92%' (none: '-'), rounded down as every score
    is shown (domain/numbers.shown: never onto a bar it missed)."""
    return NONE if x is None else percent(x)


def num(x: float | None) -> str:
    return NONE if x is None else figure(x)


def restated(value: Any, field: str = "") -> str:
    """A restated field's value: a score or progress as every view shows it (`score_text`,
    `pct`: rounded down), another number as figures, none as '-', a flag as yes/no (not
    Python's None, True or 0.5160714285714285)."""
    if value is None or isinstance(value, bool):
        return NONE if value is None else ("yes" if value else "no")
    if field in ("score", "rollup"):
        return score_text(value)
    if field in ("progress", "expected", "confidence"):
        return pct(value)
    return figure(value) if isinstance(value, float | int) else str(value)


def mean_score(summary: dict[str, Any], final: bool = True) -> str:
    """'mean score 62%' ('mean score so far 62%' while the cycle runs), or 'nothing to score'
    for a cycle none of whose objectives has a score (none at all: it says so) — not
    'mean score 0%'."""
    if summary["mean_score"] is None:
        return "nothing to score" + (": no objectives" if not summary["objectives"] else "")
    return f"mean score {'' if final else 'so far '}{pct(summary['mean_score'])}"


def is_final(review: dict[str, Any]) -> bool:
    """Whether the review's grades are final: its cycle is over at the review's as-of, or
    closed (early, too); reopening makes them open again (docs/scoring.md#grades)."""
    return bool(review["evaluated_at"] >= review["end"] or review["status"] == "closed")


def headline(review: dict[str, Any], zone: str) -> str:
    """'3 of 5 graded objectives succeeded · mean score 85% · 6 objectives, 9 key results'; for
    a cycle not over at the review's as-of, '2 of 4 graded objectives reached so far (2026-Q4
    runs until 2026-12-31, Europe/Berlin) · mean score so far 62% · …' — not 'succeeded'."""
    s, final = review["summary"], is_final(review)
    verdict = (f"{s['succeeded']} of {s['graded']} graded objectives "
               + ("succeeded" if final else f"reached so far ({review['cycle']} runs until "
                  f"{day(review['end'], zone, end=True)}, {zone})"))
    if s.get("abandoned"):
        verdict += f" ({s['abandoned']} abandoned, not graded)"
    return (f"{verdict} · {mean_score(s, final)} · {counted(s['objectives'], 'objective')}, "
            f"{counted(s['key_results'], 'key result')}")


def header(review: dict[str, Any], zone: str, person: str | None = None) -> str:
    """The review's first line: the cycle's days in its zone (named), its status, the commit
    and the review's as-of and known-at as instants (the person's zone, UTC beside)."""
    return (f"{span(review, zone)}, status {review['status']}; {commitment(review, person)}; "
            f"as of {moment(review['as_of'], person)}, as known at "
            f"{moment(review['known_at'], person)}")


def day(t: datetime | None, zone: str | None, *, end: bool = False) -> str:
    """An instant's calendar day in `zone` (the cycle's: the days `okr list cycles` says), or
    '-'; an exclusive `end` says the last day before it."""
    from okr.cli.times import local_day
    return NONE if t is None else local_day(t, zone, end=end)


def moment(t: datetime | None, person: str | None = None) -> str:
    """An instant (a review's as-of and known-at) said as every answer says one: in the
    person's zone (`person`, else this invocation's setting) with UTC beside it, to the
    second — while the review's DAYS are the cycle's, in the zone it names."""
    from okr.cli.times import PERSON_ZONE, say
    return NONE if t is None else say(t, person or PERSON_ZONE.get())


def span(review: dict[str, Any], zone: str) -> str:
    """'2026-07-01 – 2026-09-30 (Europe/Berlin)': a reviewed cycle's first and last day."""
    return f"{day(review['start'], zone)} – {day(review['end'], zone, end=True)} ({zone})"


def grade(card: dict[str, Any], final: bool = True) -> str:
    """'reached' / 'missed' once the cycle is over or closed; 'reached so far' / 'open' while it
    runs; learning OKRs are not graded, nor is an objective abandoned ('abandoned')."""
    if card.get("status") == "abandoned":
        return "abandoned"
    if card["succeeded"] is None:
        return "not graded" if card["okr_type"] == "learning" else NONE
    if not final:
        return "reached so far" if card["succeeded"] else "open"
    return "reached" if card["succeeded"] else "missed"


FINAL_GRADES = frozenset({"reached", "missed"})  # the verdicts the HTML review colours


def score_text(x: float | None) -> str:
    """A 0–1 score as a grade is said: '0.69' (none: '-'), rounded down as `pct` rounds."""
    return NONE if x is None else fraction(x)


def objective_grade(card: dict[str, Any], final: bool = True) -> str:
    """'0.85 missed': an objective's grade — its score, the weighted mean of its key results'
    grades — and its verdict by its type's threshold (`grade`)."""
    verdict = grade(card, final)
    if card["score"] is None:
        return verdict
    return score_text(card["score"]) + ("" if verdict == NONE else f" {verdict}")


def commitment(review: dict[str, Any], person: str | None = None) -> str:
    """'plan committed 2026-07-12T09:30:00+02:00 (2026-07-12T07:30:00Z)' — an instant, said as
    the review's as-of is — or 'plan not committed yet' when no commit was in force at the
    review's as-of (as known at its known-at)."""
    if review["committed_at"] is None:
        return "plan not committed yet"
    return f"plan committed {moment(review['committed_at'], person)}"


def kr_text(row: dict[str, Any]) -> str:
    """A plan-vs-actual row's key-result cell: 'leads Qualified leads'; on an objective's own
    line, 'all key results' (or '-' for an objective without any)."""
    if row["row"] == OBJECTIVE_ROW:
        return "all key results" if row["progress"] is not None else NONE
    return f"{row['key_result']} {row['kr_title'] or ''}".rstrip()


def late_text(b: dict[str, Any]) -> str:
    """'97 days late', or '97–156 days late' for a batch."""
    if "late_by_days" in b:
        return f"{counted(b['late_by_days'], 'day')} late"
    lo, hi = b["late_by_days_min"], b["late_by_days_max"]
    return f"{counted(lo, 'day')} late" if hi == lo else f"{lo}–{hi} days late"


def backdated_total(review: dict[str, Any]) -> str:
    """'121 back-dated check-ins (recorded more than a day after the time they are for)'."""
    n = len(review["backdated"])
    return (f"{n:,} back-dated check-in{'' if n == 1 else 's'} (recorded more than a day after "
            "the time they are for)")


def backdated_lines(review: dict[str, Any], zone: str, every: bool = False,
                    person: str | None = None) -> list[str]:
    """The back-dated check-ins as lines: one per batch (`backdated_batches`: one actor, one
    source, one day recorded in the cycle's `zone`), a batch of one as that check-in; with
    `every`, one per check-in. The time a check-in is for is said as the cycle's day, its
    zone named (the day it counts on); when it was recorded, as an instant in the `person`'s
    zone with UTC beside (a batch: its day of recording, zone named). Stored text is returned
    as it is: each format makes it visible or escapes it."""
    out = []
    if every:
        for b in review["backdated"]:
            out.append(f"back-dated: {b['key']} {num(b['value'])} for "
                       f"{day(b['effective_at'], zone)} ({zone}), recorded "
                       f"{moment(b['recorded_at'], person)} "
                       f"by {acting(b['actor'], b['on_behalf_of'])}"
                       f"{_source(b['source'])}, {late_text(b)}")
        return out
    for b in review["backdated_batches"]:
        who = f"by {acting(b['actor'], b['on_behalf_of'])}{_source(b['source'])}"
        late = late_text(b)
        if b["check_ins"] == 1:
            out.append(f"back-dated: {b['key_results'][0]} {num(b['value'])} for "
                       f"{day(b['effective_from'], zone)} ({zone}), recorded "
                       f"{moment(b['recorded_from'], person)} {who}, {late}")
            continue
        n = len(b["key_results"])
        on = b["key_results"][0] if n == 1 else f"{n} key results"
        first, last = day(b["effective_from"], zone), day(b["effective_until"], zone)
        out.append(f"back-dated: {b['check_ins']:,} check-ins on {on} for "
                   f"{first if first == last else f'{first} – {last}'} ({zone}), recorded "
                   f"{b['recorded_on']} ({zone}) {who}, {late}")
    return out


def habit_text(h: dict[str, Any], review: dict[str, Any], zone: str) -> str:
    """'2 check-ins, 3 of 5 weeks without one (in force from 2026-09-01)'; a key result linked
    to a KPI is counted by the KPI's readings."""
    what = (counted(h["check_ins"], "check-in") if h["kpi"] is None else
            f"{counted(h['readings'], 'reading')} of KPI {h['kpi']}"
            + (f" and {counted(h['check_ins'], 'check-in')}" if h["check_ins"] else ""))
    span = [f"from {day(h['since'], zone)}"] if h["since"] > review["start"] else []
    if h["until"] < review["evaluated_at"]:
        span.append(f"until {day(h['until'], zone)}")
    return (f"{what}, {h['weeks_without']} of {counted(h['weeks'], 'week')} without one"
            + (f" (in force {' '.join(span)})" if span else ""))


def _source(source: str | None) -> str:
    return "" if source is None else f" (source {source})"


def bounds(low: float | None, high: float | None) -> str:
    """A target, or a range's two bounds."""
    return num(low) if high is None else f"{num(low)}–{num(high)}"


def initiatives_text(kr: dict[str, Any] | None) -> str:
    """'live-chat Implement live chat (done); …' — the work on a key result."""
    if kr is None or not kr.get("initiatives"):
        return NONE
    return "; ".join(f"{i['key']} {i['title']} ({i['status']})" for i in kr["initiatives"])


def revision_text(r: dict[str, Any]) -> str:
    """'target 40 → 25' style summary of a revision's changes; a yes/no field said in words
    ('removed', 'no longer removed'), not as a boolean diff; an item added after the commit
    reads 'added: kind increase, objective e1, …' (what it was added as, less its key and
    cycle, which the line says already, and fields left empty)."""
    def shown(v: Any) -> Any:
        return num(v) if isinstance(v, float) else v

    changes = r["changes"]
    if changes and all(v["from"] is None for v in changes.values()):
        parts = [k if v["to"] is True else f"{k} {shown(v['to'])}" for k, v in changes.items()
                 if k not in ("key", "cycle") and v["to"] not in (None, "", [], False)]
        return "added: " + ", ".join(parts)
    parts = [(k if v["to"] else f"no longer {k}") if isinstance(v["to"], bool)
             else f"{k} {shown(v['from'])} → {shown(v['to'])}" for k, v in changes.items()]
    return ", ".join(parts) or r["type"]


# ---- rows shared by every format ---------------------------------------------------------

def carried_text(origin: str | None) -> str:
    """' (carried from KEY)' for an item carried forward from an earlier cycle, else ''."""
    return f" (carried from {origin})" if origin else ""


def moved_text(origin: str | None) -> str:
    """' (moved from KEY after commit)' for a key result the plan put under another
    objective, else ''."""
    return f" (moved from {origin} after commit)" if origin else ""


KR_ROW, OBJECTIVE_ROW = "key result", "objective"  # a plan-vs-actual row's `row`
# A track (on-track / at-risk / off-track) compares progress with the expectation while a
# cycle runs; once it is over (or closed) the grade says how it ended, and every track the
# review shows reads this instead (docs/scoring.md#grades).
FINAL = "final"


def call_text(card: dict[str, Any]) -> str:
    """' · closed as achieved (disagrees)': the team's recorded close of an objective, said
    beside its computed grade ('' when none)."""
    closed = card.get("closed")
    if not closed:
        return ""
    return f" · closed as {closed['status']}{' (disagrees)' if closed['disagrees'] else ''}"


def score_rows(review: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan-vs-actual table: per objective, a row per key result graded by its own 0–1
    score, a row per key result of the plan removed after commit (its value, progress and
    expectation when removed, status 'removed', no grade), then the objective's own row — its
    score (the weighted mean of its live key results' grades), expectation, track and grade
    with its verdict, and the team's recorded close beside it — so the objective's grade is
    said once. A key result's row carries what its score is computed from (kind, start,
    targets, tolerance, weight, unit: docs/scoring.md)."""
    rows = []
    final = is_final(review)
    for card in review["objectives"]:
        verdict = grade(card, final)
        common = {"objective": card["key"], "objective_title": card["title"],
                  "type": card["okr_type"], "planned_type": card.get("planned_type"),
                  "owner": card["owner"], "team": card["team"],
                  "objective_score": card["score"], "objective_grade": verdict,
                  "objective_carried_from": card["carried_from"],
                  "objective_added_after_commit": card.get("added_after_commit", False),
                  "closed_as": (card.get("closed") or {}).get("status")}
        for kr in card["key_results"]:
            rows.append({
                "row": KR_ROW, **common, "grade": score_text(kr["progress"]),
                "key_result": kr["key"], "kr_title": kr["title"],
                "kr_kind": kr.get("kind"), "unit": kr.get("unit"), "start": kr.get("start"),
                "planned_target": kr["planned_target"],
                "planned_target_high": kr["planned_target_high"],
                "final_target": kr["target"], "final_target_high": kr["target_high"],
                "tolerance": kr.get("tolerance"), "weight": kr.get("weight"),
                "initiatives": initiatives_text(kr), "value": kr["value"],
                "progress": kr["progress"], "expected": kr["expected"],
                "status": FINAL if final else kr["status"],
                "added_after_commit": kr["added_after_commit"], "removed_after_commit": False,
                "moved_from": kr.get("moved_from"), "carried_from": kr["carried_from"],
                "goalpost": goalposts_of(review, "key_result", kr["key"])})
        for kr in card.get("removed_key_results", ()):
            rows.append({
                "row": KR_ROW, **common, "grade": NONE,
                "key_result": kr["key"], "kr_title": kr["title"],
                "kr_kind": kr.get("kind"), "unit": kr.get("unit"), "start": kr.get("start"),
                "planned_target": kr["planned_target"],
                "planned_target_high": kr["planned_target_high"],
                "final_target": None, "final_target_high": None,
                "tolerance": kr.get("tolerance"), "weight": kr.get("planned_weight",
                                                                   kr.get("weight")),
                "initiatives": NONE,
                "value": kr["value"], "progress": kr["progress"], "expected": kr["expected"],
                "status": "removed", "added_after_commit": False, "removed_after_commit": True,
                "moved_from": None, "carried_from": None,
                "goalpost": goalposts_of(review, "key_result", kr["key"])})
        rows.append({
            "row": OBJECTIVE_ROW, **common, "grade": objective_grade(card, final) + call_text(card),
            "key_result": None, "kr_title": None, "kr_kind": None, "unit": None,
            "start": None, "planned_target": None, "planned_target_high": None,
            "final_target": None, "final_target_high": None, "tolerance": None,
            "weight": None, "initiatives": NONE, "value": None, "progress": card["score"],
            "expected": card["expected"], "status": FINAL if final else card["track"],
            "added_after_commit": None, "removed_after_commit": None, "moved_from": None,
            "carried_from": None, "goalpost": goalposts_of(review, "objective", card["key"])})
    return rows


def csv_number(x: Any) -> Any:
    """A number in a CSV cell: to 12 significant digits, as `figure` says it in text — the
    value with the noise of binary floating point (0.5999999999999943) taken off; JSON keeps
    every digit. Anything else as it is."""
    if isinstance(x, float):
        return figure(x)
    return x


def to_csv(review: dict[str, Any]) -> str:
    """The plan-vs-actual table as CSV: one row per key result, then its objective's row;
    numbers as numbers (csv_number), no unit or percent sign in them."""
    rows = score_rows(review)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["objective"])
    writer.writeheader()
    writer.writerows({k: csv_cell(csv_number(v)) for k, v in r.items()} for r in rows)
    return buf.getvalue()


# ---- one content, several renderings ------------------------------------------------------
# Every format (terminal, TSV, Markdown, the HTML file and the web page) shows these sections,
# in this order, with these texts: a format only chooses how to draw them.

@dataclass(frozen=True)
class Line:
    """A line of a listed section, and its flags (drawn as badges where a format can)."""

    text: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """A section of the review: a table (`columns`, `rows` of text), or a list of `lines`;
    `intro` said before it, `empty` said when it holds nothing. `bars` names the columns
    whose cells the HTML also draws as a score bar (their 0–1 values, one per row)."""

    key: str
    title: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    lines: tuple[Line, ...] = ()
    intro: str = ""
    empty: str = ""
    bars: tuple[tuple[int, tuple[float | None, ...]], ...] = ()


PLAN_COLUMNS = ("objective", "type", "key result", "planned target", "final target", "value",
                "progress", "expected", "status", "grade", "initiatives")


def type_text(row: dict[str, Any]) -> str:
    """'aspirational (planned committed)' when the type changed after commit, else the type."""
    planned = row.get("planned_type")
    if planned and planned != row["type"]:
        return f"{row['type']} (planned {planned})"
    return str(row["type"])


def goalpost_text(r: dict[str, Any], zone: str | None = None) -> str:
    """'goalpost moved (type lowered)' for a revision that moved the goalposts, else ''; a
    key result removed while behind says how far behind and when (the day in the cycle's
    `zone`): 'goalpost moved (removed while behind: 5% against 54% expected on 2026-08-20)'."""
    if not r["goalpost_moved"]:
        return ""
    why = "; ".join(
        f"{g}: {pct(r['progress_then'])} against {pct(r['expected_then'])} expected on "
        f"{day(r['judged_at'], zone)}" if g == REMOVED_BEHIND else g
        for g in (r.get("goalpost") or "").split("; ") if g)
    return f"goalpost moved ({why})" if why else "goalpost moved"


def goalposts_of(review: dict[str, Any], kind: str, key: str | None) -> str:
    """The goalpost moves of the revisions to the item of this `kind` and `key` (a plan row's
    key result, or its objective: an objective and a key result may share a key), in their
    order: 'target eased; removed while behind', or ''."""
    return "; ".join(r["goalpost"] for r in review["revisions"]
                     if r["kind"] == kind and r["key"] == key and r["goalpost_moved"]
                     and r["goalpost"])


def plan_cells(r: dict[str, Any]) -> tuple[str, ...]:
    """A plan-vs-actual row (score_rows) as the text of its cells."""
    return (f"{r['objective']} {r['objective_title']}"
            f"{' (added after commit)' if r['objective_added_after_commit'] else ''}"
            f"{carried_text(r['objective_carried_from'])}",
            type_text(r),
            f"{kr_text(r)}{' (added after commit)' if r['added_after_commit'] else ''}"
            f"{' (removed after commit)' if r['removed_after_commit'] else ''}"
            f"{moved_text(r['moved_from'])}"
            f"{carried_text(r['carried_from'])}",
            bounds(r["planned_target"], r["planned_target_high"]),
            bounds(r["final_target"], r["final_target_high"]), num(r["value"]),
            pct(r["progress"]), pct(r["expected"]), r["status"] or NONE, r["grade"],
            r["initiatives"])


def revision_line(r: dict[str, Any], zone: str, person: str | None = None) -> Line:
    """A revision after commit: when it was recorded (an instant, in the `person`'s zone with
    UTC beside), what changed, who, why, and its flags — a back-dated one's day in force
    from, in the cycle's `zone` (named)."""
    flags = ((goalpost_text(r, zone),) if r["goalpost_moved"] else ()) + (
        (f"back-dated: in force from {day(r['effective_at'], zone)} ({zone})",)
        if r["backdated"] else ())
    return Line(f"{moment(r['at'], person)} {r['key']}: {revision_text(r)} by "
                f"{acting(r['actor'], r['on_behalf_of'])} — {r['reason'] or 'no reason'}",
                flags)


def sections(review: dict[str, Any], zone: str, person: str | None = None,
             every: bool = False) -> list[Section]:
    """The review's sections, as every format shows them: days in the cycle's `zone` (named),
    instants in the `person`'s with UTC beside; back-dated check-ins in batches (`every`: one
    a line)."""
    out = []
    final = is_final(review)

    def track(t: str | None) -> str:
        return FINAL if final else t or NONE

    def tracked(n: int) -> str:  # a count of key results on a track
        return NONE if final else str(n)

    teams = review["summaries"]["teams"]
    out.append(Section(
        "teams", "Teams", ("team", "objectives", "scored", "key results", "score", "expected",
                           "track", "on-track", "at-risk", "off-track"),
        tuple((t["team"] or NONE, str(t["objectives"]), str(t["scored_objectives"]),
               str(t["key_results"]), pct(t["score"]), pct(t["expected"]), track(t["track"]),
               tracked(t["on-track"]), tracked(t["at-risk"]), tracked(t["off-track"]))
              for t in teams),
        empty="No objectives.", bars=((4, tuple(t["score"] for t in teams)),)))
    deps = review["summaries"]["departments"]
    if deps:
        out.append(Section(
            "departments", "Departments (roll-ups)",
            ("objective", "level", "team", "own score", "roll-up", "expected", "track",
             "objectives below", "teams"),
            tuple((f"{d['key']} {d['title']}", d["level"], d["team"] or NONE, pct(d["score"]),
                   pct(d["rollup"]), pct(d["rollup_expected"]), track(d["rollup_track"]),
                   str(d["objectives_below"]), ", ".join(d["teams"]) or NONE) for d in deps),
            bars=((4, tuple(d["rollup"] for d in deps)),)))
    out.append(Section("plan", "Plan vs actual", PLAN_COLUMNS,
                       tuple(plan_cells(r) for r in score_rows(review)),
                       empty="No objectives."))
    out.append(Section("revisions", "Revisions after commit",
                       lines=tuple(revision_line(r, zone, person) for r in review["revisions"]),
                       empty="None: the plan stood as committed."))
    out.append(Section(
        "guardrails", "KPI guardrails",
        ("KPI", "green", "amber", "red", "no data", "stale", "at end"),
        tuple((g["key"], pct(g["shares"]["green"]), pct(g["shares"]["amber"]),
               pct(g["shares"]["red"]), pct(g["shares"]["none"]), pct(g["stale_share"]),
               (g["health_at_end"] or "no reading") + (" (stale)" if g["stale_at_end"] else ""))
              for g in review["guardrails"]),
        empty="No guardrail KPIs."))
    out.append(Section(
        "calibration", "Confidence vs outcome",
        ("owner", "check-ins", "mean confidence", "hit rate", "Brier"),
        tuple((c["owner"], str(c["check_ins"]), pct(c["mean_confidence"]), pct(c["hit_rate"]),
               f"{c['brier']:.3f}") for c in review["calibration"]),
        intro="" if final or not review["calibration"] else
        "So far: each confidence is judged against the outcome reached so far (the cycle runs "
        "on).",
        empty="No check-ins with a confidence."))
    out.append(Section(
        "habits", "Check-in habits",
        ("key result", "habit"),
        tuple((key, habit_text(h, review, zone)) for key, h in review["habits"].items()),
        empty="No key results."))
    out.append(Section(
        "backdated", "Back-dated check-ins",
        lines=tuple(Line(x) for x in backdated_lines(review, zone, every, person)),
        intro=backdated_total(review) + ":" if review["backdated"] else "",
        empty="None: every check-in was recorded within a day of the time it is for."))
    if "restatements" in review:
        # a cycle not yet known at the moment compared with: everything became known since
        unknown = review.get("compared_cycle_known") is False
        since = moment(review["compared_known_at"], person)
        out.append(Section(
            "restatements", "Restatements",
            lines=tuple(Line(f"{x['key']} {x['field']} "
                             + ("not yet known" if unknown else restated(x["before"], x["field"]))
                             + f" → {restated(x['after'], x['field'])}")
                        for x in review["restatements"]),
            intro=(f"{review['cycle']} was not yet known at {since}: everything in this review "
                   "became known since:" if unknown else f"what changed since {since}:"),
            empty="None: the same as known then."))
    return out


# '&' too: a renderer reads `&#x202e;` or `&lt;b&gt;` in text as the character it names.
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~&"})


def _md(text: Any) -> str:
    """Stored text as Markdown text: made visible, every Markdown character escaped (a title
    can neither break a table with '|' nor become a link, an HTML tag or a character
    reference)."""
    return visible(text).translate(_MD_SPECIAL)


def to_markdown(review: dict[str, Any], zone: str, person: str | None = None,
                every: bool = False) -> str:
    """The review as Markdown, for a wiki page or a pull request: its sections (`sections`)
    as headings, tables and lists."""
    m = _md
    out = [f"# Review of {m(review['cycle'])}", f"{m(header(review, zone, person))}.", "",
           f"{m(headline(review, zone))}."]
    for sec in sections(review, zone, person, every):
        out += ["", f"## {sec.title}", ""]
        if sec.intro:
            out += [m(sec.intro), ""]
        if sec.columns and sec.rows:
            out.append("| " + " | ".join(sec.columns) + " |")
            out.append("|" + " --- |" * len(sec.columns))
            out += ["| " + " | ".join(m(c) for c in row) + " |" for row in sec.rows]
        elif sec.lines:
            out += [f"- {m(x.text)}" + "".join(f" **{m(f)}**" for f in x.flags)
                    for x in sec.lines]
        else:
            out.append(m(sec.empty))
    return "\n".join(out) + "\n"


# ---- HTML with inline SVG charts ---------------------------------------------------------

_W, _H, _PAD = 520, 180, 36
_COLORS = {"green": "#2e9d5b", "amber": "#e0a400", "red": "#d64545"}


def _x(t: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds() or 1.0
    return _PAD + (_W - 2 * _PAD) * max(0.0, min(1.0, (t - start).total_seconds() / span))


def _y(v: float, lo: float, hi: float) -> float:
    span = (hi - lo) or 1.0
    return _H - _PAD + (2 * _PAD - _H) * (v - lo) / span


def _poly(points: list[tuple[float, float]], color: str, dash: str = "") -> str:
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline fill="none" stroke="{color}" stroke-width="2"{extra} points="{pts}"/>'


def _axes(start: datetime, end: datetime, lo_label: str, hi_label: str,
          zone: str | None) -> str:
    x0, x1, y0, y1 = _PAD, _W - _PAD, _H - _PAD, _PAD
    return (f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#999"/>'
            f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#999"/>'
            f'<text x="{x0}" y="{_H - 10}" font-size="11">{day(start, zone)}</text>'
            f'<text x="{x1}" y="{_H - 10}" font-size="11" text-anchor="end">'
            f'{day(end, zone, end=True)}</text>'
            f'<text x="4" y="{y0}" font-size="11">{_e(lo_label)}</text>'
            f'<text x="4" y="{y1 + 4}" font-size="11">{_e(hi_label)}</text>')


def kr_chart(review: dict[str, Any], key: str, zone: str,
             dots: frozenset[datetime] = frozenset()) -> str:
    """Actual vs expected progress of one key result, with its target revisions marked (and a
    dot at each point of the series `dots` names, such as its check-ins); days in `zone`."""
    start, end = review["start"], review["end"]
    series = review["progress"].get(key, [])
    actual = [(_x(p["at"], start, end), _y(p["progress"], 0, 1)) for p in series]
    points = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#2563eb"><title>{day(p["at"], zone)}: '
        f'{_e(num(p["value"]))} ({pct(p["progress"])}, expected {pct(p["expected"])})'
        '</title></circle>' for p, (x, y) in zip(series, actual, strict=True) if p["at"] in dots)
    expected = [(_x(p["at"], start, end), _y(p["expected"], 0, 1)) for p in series]
    marks = []
    for r in review["revisions"]:
        if r["key"] == key and r["type"] == "KeyResultRevised":
            x = _x(r["effective_at"], start, end)
            color = _COLORS["red"] if r["goalpost_moved"] else "#555"
            label = _e(revision_text(r))
            marks.append(f'<line x1="{x:.1f}" y1="{_PAD}" x2="{x:.1f}" y2="{_H - _PAD}" '
                         f'stroke="{color}" stroke-dasharray="4 3"><title>{label}</title></line>'
                         f'<text x="{x + 3:.1f}" y="{_PAD + 10}" font-size="10" '
                         f'fill="{color}">{label}</text>')
    return (f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
            f'aria-label="progress of {_e(key)}">{_axes(start, end, "0%", "100%", zone)}'
            f'{_poly(expected, "#8a8a8a", "6 4")}{_poly(actual, "#2563eb")}{points}'
            f'{"".join(marks)}</svg>')


def _band(y0: float, y1: float, colour: str) -> str:
    return (f'<rect x="{_PAD}" y="{min(y0, y1):.1f}" width="{_W - 2 * _PAD}" '
            f'height="{abs(y1 - y0):.1f}" fill="{colour}" opacity="0.15"/>')


def kpi_chart(review: dict[str, Any], g: dict[str, Any], zone: str | None) -> str:
    """A KPI's readings over the cycle, on its green/amber/red threshold bands; days in
    `zone`."""
    start, end = review["start"], review["end"]
    values = [r["value"] for r in g["readings"]] + [g["green"], g["red"]]
    lo, hi = min(values), max(values)
    margin = (hi - lo) * 0.15 or 1.0
    lo, hi = lo - margin, hi + margin
    y_green, y_red = _y(g["green"], lo, hi), _y(g["red"], lo, hi)
    top, bottom = (_PAD, _H - _PAD) if g["direction"] == "up" else (_H - _PAD, _PAD)
    bands = (_band(top, y_green, _COLORS["green"]) + _band(y_green, y_red, _COLORS["amber"])
             + _band(y_red, bottom, _COLORS["red"]))
    pts = [(_x(r["at"], start, end), _y(r["value"], lo, hi)) for r in g["readings"]]
    steps: list[tuple[float, float]] = []
    for i, p in enumerate(pts):  # a reading holds until the next: draw steps
        if i:
            steps.append((p[0], pts[i - 1][1]))
        steps.append(p)
    if pts:
        steps.append((_x(review["evaluated_at"], start, end), pts[-1][1]))
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#111"/>' for x, y in pts)
    return (f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
            f'aria-label="KPI {_e(g["key"])}">{bands}'
            f'{_axes(start, end, num(round(lo, 2)), num(round(hi, 2)), zone)}'
            f'{_poly(steps, "#111")}{dots}</svg>')


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#111}
h1{margin-bottom:.2rem} .muted{color:#666} table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;font-size:.9rem}
th{background:#f4f4f4}
.reached{color:#2e9d5b;font-weight:600} .missed{color:#d64545;font-weight:600}
.flag{background:#fde2e2;color:#a11;padding:0 .3rem;border-radius:3px;font-size:.8rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem} figure{margin:0} figcaption{font-size:.85rem}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
"""


def _e(text: Any) -> str:
    """Stored text as HTML text: escaped, with control and bidi characters made visible."""
    return html.escape(visible(text))


_ROLLUP_COLOUR = "#7c3aed"  # the summaries' score bars


def _score_bar(x: float | None) -> str:
    """A score 0–1 as a small inline bar (none: a dash)."""
    if x is None:
        return "-"
    width = int(shown_down(120 * max(0.0, min(1.0, x)), 0))  # as the figure beside it: down
    return (f'<svg width="124" height="12" role="img" aria-label="{pct(x)}">'
            f'<rect x="0" y="0" width="124" height="12" fill="#eee"/>'
            f'<rect x="2" y="2" width="{width}" height="8" fill="{_ROLLUP_COLOUR}"/></svg> '
            f"{pct(x)}")


def _cell_html(sec: Section, i: int, j: int, text: str) -> str:
    """A table cell of a section: a score bar where the section draws one, a final grade
    coloured, else the escaped text."""
    for column, values in sec.bars:
        if column == j:
            return f"<td>{_score_bar(values[i])}</td>"
    verdict = text.rsplit(" ", 1)[-1]
    if sec.key == "plan" and PLAN_COLUMNS[j] == "grade" and verdict in FINAL_GRADES:
        return f'<td class="{verdict}">{_e(text)}</td>'
    return f"<td>{_e(text)}</td>"


def section_html(sec: Section) -> str:
    """A section (without its heading) as HTML: intro, then its table or list, or what it
    says when empty."""
    e = _e
    out = f"<p>{e(sec.intro)}</p>" if sec.intro else ""
    if sec.columns and sec.rows:
        head = "".join(f"<th>{e(c)}</th>" for c in sec.columns)
        body = "".join("<tr>" + "".join(_cell_html(sec, i, j, c) for j, c in enumerate(row))
                       + "</tr>" for i, row in enumerate(sec.rows))
        return f"{out}<table><tr>{head}</tr>{body}</table>"
    if sec.lines:
        items = "".join(f"<li>{e(x.text)}"
                        + "".join(f" <span class=flag>{e(f)}</span>" for f in x.flags)
                        + "</li>" for x in sec.lines)
        return f"{out}<ul>{items}</ul>"
    return f"{out}<p>{e(sec.empty)}</p>"


def to_html(review: dict[str, Any], zone: str, person: str | None = None,
            every: bool = False) -> str:
    """The review as one self-contained HTML page (inline CSS and SVG, no scripts, no CDN):
    its sections (`sections`), with charts of each key result's progress after the
    revisions and of each guardrail KPI in its section."""
    e = _e
    krs = [kr for c in review["objectives"] for kr in c["key_results"]]
    kr_figs = "".join(f"<figure>{kr_chart(review, kr['key'], zone)}<figcaption>{e(kr['key'])} — "
                      f"{e(kr['title'])}</figcaption></figure>" for kr in krs)
    kpi_figs = "".join(
        f"<figure>{kpi_chart(review, g, zone)}<figcaption>{e(g['key'])} — {e(g['name'])}: green "
        f"{pct(g['shares']['green'])}, amber {pct(g['shares']['amber'])}, red "
        f"{pct(g['shares']['red'])}, stale {pct(g['stale_share'])}</figcaption></figure>"
        for g in review["guardrails"])
    body = []
    for sec in sections(review, zone, person, every):
        body.append(f"<h2>{e(sec.title)}</h2>{section_html(sec)}")
        if sec.key == "guardrails" and kpi_figs:
            body.append(f'<div class="charts">{kpi_figs}</div>')
        if sec.key == "revisions":
            body.append("<h2>Progress over time</h2>\n<p class=\"legend\"><span>━ actual</span>"
                        "<span>╌ expected</span><span>┆ target revision</span></p>\n"
                        f'<div class="charts">{kr_figs}</div>')
    sections_html = "\n".join(body)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Review of {e(review['cycle'])}</title><style>{_CSS}</style></head><body>
<h1>Review of {e(review['cycle'])}</h1>
<p class="muted">{e(header(review, zone, person))}</p>
<p>{e(headline(review, zone))}</p>
{sections_html}
</body></html>
"""


# ---- the retro: two cycles side by side ----------------------------------------------------

def retro_of(a: tuple[dict[str, Any], str], b: tuple[dict[str, Any], str],
             team: str | None = None) -> dict[str, Any]:
    """`okr retro`'s figures (domain/review.retro) of two (review, zone) pairs, each cycle's
    with its days (in its zone, named), whether it is over at the review's as-of, and the
    instant its figures are as of."""
    from okr.domain.review import retro

    data = retro(a[0], b[0], team)
    for side, (review, zone) in (("a", a), ("b", b)):
        data[side] = {**data[side], "first_day": day(review["start"], zone),
                      "last_day": day(review["end"], zone, end=True), "timezone": zone,
                      "over": is_final(review), "evaluated_at": review["evaluated_at"]}
    return data


# (measure, how a cycle's figure is said, how the change is said, said 'so far' while running)
_COUNT, _POINTS, _BRIER = "count", "points", "brier"
RETRO_MEASURES = (("objectives", _COUNT, False), ("graded", _COUNT, False),
                  ("succeeded", _COUNT, True), ("hit_rate", _POINTS, True),
                  ("mean_score", _POINTS, True), ("kr_done", _COUNT, True),
                  ("revisions", _COUNT, False), ("goalposts_moved", _COUNT, False),
                  ("calls_disagreeing", _COUNT, False),
                  ("brier", _BRIER, True))


def _retro_figure(x: float | None, how: str) -> str:
    if x is None:
        return NONE
    if how == _POINTS:
        return pct(x)
    return f"{x:.3f}" if how == _BRIER else str(x)


def _retro_change(x: float | None, how: str, a: float | None = None,
                  b: float | None = None) -> str:
    """A change: '+2', '-10 pp' (percentage points: 60% → 50%: the difference of the two
    percentages as shown, so that the row adds up), '+0.192'."""
    if x is None:
        return NONE
    if how == _POINTS:
        assert a is not None and b is not None  # a change of rates is of two rates
        points = int(shown_down(b * 100, 0) - shown_down(a * 100, 0))
        return f"{points:+d} pp" if points else "0 pp"
    if how == _BRIER:
        return f"{x:+.3f}"
    return f"{x:+d}" if x else "0"


def retro_rows(d: dict[str, Any], person: str | None = None
               ) -> tuple[list[str], list[list[str]]]:
    """The retro as a person reads it (terminal, TSV, the web page): each cycle's days and
    whether it is over, its figures ('so far' for one still running) and the change."""
    a, b = d["a"], d["b"]

    def over(side: dict[str, Any]) -> str:
        return "yes" if side["over"] else f"no: as of {moment(side['evaluated_at'], person)}"

    rows = [["days", *(f"{s['first_day']} – {s['last_day']} ({s['timezone']})" for s in (a, b)),
             NONE],
            ["over", over(a), over(b), NONE]]
    for name, how, so_far in RETRO_MEASURES:
        rows.append([name.replace("_", " "),
                     *(_retro_figure(s[name], how)
                       + (" so far" if so_far and not s["over"] and s[name] is not None
                          else "") for s in (a, b)),
                     _retro_change(d["change"].get(name), how, a[name], b[name])])
    return ["", a["cycle"], b["cycle"], "change"], rows


def retro_csv_rows(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The retro as CSV: one measure a row, plain data — days as dates, `over` true/false,
    `evaluated_at` in ISO 8601 UTC, rates and scores as 0–1 fractions and their change as
    the difference of those (-0.1: ten percentage points down)."""
    a, b = d["a"], d["b"]
    rows: list[list[Any]] = [[name, a[name], b[name], None]
                             for name in ("first_day", "last_day", "timezone")]
    rows += [["over", str(a["over"]).lower(), str(b["over"]).lower(), None],
             ["evaluated_at", datum(a["evaluated_at"]), datum(b["evaluated_at"]), None]]
    for name, _, _ in RETRO_MEASURES:
        rows.append([name, csv_number(a[name]), csv_number(b[name]),
                     csv_number(d["change"].get(name))])
    return ["measure", a["cycle"], b["cycle"], "change"], rows
