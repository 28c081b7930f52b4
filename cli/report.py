"""Review reports for people: terminal tables, Markdown, CSV, and one self-contained HTML file.

The HTML has no scripts and no external resources: charts are inline SVG, so the file opens
offline, prints, and can be archived next to the audit bundle.
"""

import csv
import html
import io
from datetime import datetime
from typing import Any

from okr.cli.output import NONE, csv_cell, visible
from okr.domain.actors import acting
from okr.domain.numbers import figure

PCT = "{:.0%}"


def pct(x: float | None) -> str:
    return NONE if x is None else PCT.format(x)


def num(x: float | None) -> str:
    return NONE if x is None else figure(x)


def mean_score(summary: dict[str, Any]) -> str:
    """'mean score 62%', or 'nothing to score' for a cycle none of whose objectives has a
    score (none at all: it says so) — not 'mean score 0%'."""
    if summary["mean_score"] is None:
        return "nothing to score" + (": no objectives" if not summary["objectives"] else "")
    return f"mean score {pct(summary['mean_score'])}"


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
    runs; learning OKRs are not graded."""
    if card["succeeded"] is None:
        return "not graded" if card["okr_type"] == "learning" else NONE
    if not final:
        return "reached so far" if card["succeeded"] else "open"
    return "reached" if card["succeeded"] else "missed"


FINAL_GRADES = frozenset({"reached", "missed"})  # the verdicts the HTML review colours


def score_text(x: float | None) -> str:
    """A 0–1 score as a grade is said: '0.70' (none: '-')."""
    return NONE if x is None else f"{x:.2f}"


def objective_grade(card: dict[str, Any], final: bool = True) -> str:
    """'0.85 missed': an objective's grade — its score, the weighted mean of its key results'
    grades — and its verdict by its type's threshold (`grade`)."""
    verdict = grade(card, final)
    if card["score"] is None:
        return verdict
    return score_text(card["score"]) + ("" if verdict == NONE else f" {verdict}")


def commitment(review: dict[str, Any], zone: str | None) -> str:
    """'plan committed 2026-07-12', or 'plan not committed yet' when no commit was in force at
    the review's as-of (as known at its known-at)."""
    if review["committed_at"] is None:
        return "plan not committed yet"
    return f"plan committed {day(review['committed_at'], zone)}"


def kr_text(row: dict[str, Any]) -> str:
    """A plan-vs-actual row's key-result cell: 'leads Qualified leads'; on an objective's own
    line, 'all key results' (or '-' for an objective without any)."""
    if row["row"] == OBJECTIVE_ROW:
        return "all key results" if row["progress"] is not None else NONE
    return f"{row['key_result']} {row['kr_title'] or ''}".rstrip()


def late_text(b: dict[str, Any]) -> str:
    """'97 days late', or '97–156 days late' for a batch."""
    if "late_by_days" in b:
        return f"{b['late_by_days']} days late"
    lo, hi = b["late_by_days_min"], b["late_by_days_max"]
    return f"{lo} days late" if hi == lo else f"{lo}–{hi} days late"


def backdated_total(review: dict[str, Any]) -> str:
    """'121 back-dated check-ins (recorded more than a day after the time they are for)'."""
    n = len(review["backdated"])
    return (f"{n:,} back-dated check-in{'' if n == 1 else 's'} (recorded more than a day after "
            "the time they are for)")


def backdated_lines(review: dict[str, Any], zone: str, every: bool = False) -> list[str]:
    """The back-dated check-ins as lines: one per batch (`backdated_batches`: one actor, one
    source, one day recorded), a batch of one as that check-in; with `every`, one per
    check-in. Stored text is returned as it is: each format makes it visible or escapes it."""
    out = []
    if every:
        for b in review["backdated"]:
            out.append(f"back-dated: {b['key']} {num(b['value'])} for "
                       f"{day(b['effective_at'], zone)}, recorded {day(b['recorded_at'], zone)} "
                       f"by {acting(b['actor'], b['on_behalf_of'])}"
                       f"{_source(b['source'])}, {late_text(b)}")
        return out
    for b in review["backdated_batches"]:
        who = f"by {acting(b['actor'], b['on_behalf_of'])}{_source(b['source'])}"
        late = late_text(b)
        if b["check_ins"] == 1:
            out.append(f"back-dated: {b['key_results'][0]} {num(b['value'])} for "
                       f"{day(b['effective_from'], zone)}, recorded {b['recorded_on']} {who}, "
                       f"{late}")
            continue
        n = len(b["key_results"])
        on = b["key_results"][0] if n == 1 else f"{n} key results"
        first, last = day(b["effective_from"], zone), day(b["effective_until"], zone)
        out.append(f"back-dated: {b['check_ins']:,} check-ins on {on} for "
                   f"{first if first == last else f'{first} – {last}'}, recorded "
                   f"{b['recorded_on']} {who}, {late}")
    return out


def habit_text(h: dict[str, Any], review: dict[str, Any], zone: str) -> str:
    """'2 check-ins, 3 of 5 weeks without one (in force from 2026-09-01)'; a key result linked
    to a KPI is counted by the KPI's readings."""
    what = (f"{h['check_ins']} check-ins" if h["kpi"] is None else
            f"{h['readings']} readings of KPI {h['kpi']}"
            + (f" and {h['check_ins']} check-ins" if h["check_ins"] else ""))
    span = [f"from {day(h['since'], zone)}"] if h["since"] > review["start"] else []
    if h["until"] < review["evaluated_at"]:
        span.append(f"until {day(h['until'], zone)}")
    return (f"{what}, {h['weeks_without']} of {h['weeks']} weeks without one"
            + (f" (in force {' '.join(span)})" if span else ""))


def _source(source: str | None) -> str:
    return "" if source is None else f" (source {source})"


def _backdated_html(r: dict[str, Any], zone: str) -> str:
    """The flag of a revision given --effective (in force before it was recorded)."""
    if not r["backdated"]:
        return ""
    return f" <span class=flag>back-dated: in force from {day(r['effective_at'], zone)}</span>"


def bounds(low: float | None, high: float | None) -> str:
    """A target, or a range's two bounds."""
    return num(low) if high is None else f"{num(low)}–{num(high)}"


def initiatives_text(kr: dict[str, Any] | None) -> str:
    """'live-chat Implement live chat (done); …' — the work on a key result."""
    if kr is None or not kr.get("initiatives"):
        return NONE
    return "; ".join(f"{i['key']} {i['title']} ({i['status']})" for i in kr["initiatives"])


def revision_text(r: dict[str, Any]) -> str:
    """'target 40 → 25' style summary of a revision's changes; an item added after the
    commit reads 'added: kind increase, objective e1, …' (what it was added as, less its key
    and cycle, which the line says already, and fields left empty)."""
    def shown(v: Any) -> Any:
        return num(v) if isinstance(v, float) else v

    changes = r["changes"]
    if changes and all(v["from"] is None for v in changes.values()):
        parts = [f"{k} {shown(v['to'])}" for k, v in changes.items()
                 if k not in ("key", "cycle") and v["to"] not in (None, "", [], False)]
        return "added: " + ", ".join(parts)
    parts = [f"{k} {shown(v['from'])} → {shown(v['to'])}" for k, v in changes.items()]
    return ", ".join(parts) or r["type"]


# ---- rows shared by every format ---------------------------------------------------------

def carried_text(origin: str | None) -> str:
    """' (carried from KEY)' for an item carried forward from an earlier cycle, else ''."""
    return f" (carried from {origin})" if origin else ""


KR_ROW, OBJECTIVE_ROW = "key result", "objective"  # a plan-vs-actual row's `row`


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
    said once."""
    rows = []
    # Final once the cycle is over, or closed (early, too); reopening makes it open again.
    final = review["evaluated_at"] >= review["end"] or review["status"] == "closed"
    for card in review["objectives"]:
        verdict = grade(card, final)
        common = {"objective": card["key"], "objective_title": card["title"],
                  "type": card["okr_type"], "owner": card["owner"], "team": card["team"],
                  "objective_score": card["score"], "objective_grade": verdict,
                  "objective_carried_from": card["carried_from"],
                  "closed_as": (card.get("closed") or {}).get("status")}
        for kr in card["key_results"]:
            rows.append({
                "row": KR_ROW, **common, "grade": score_text(kr["progress"]),
                "key_result": kr["key"], "kr_title": kr["title"],
                "planned_target": kr["planned_target"],
                "planned_target_high": kr["planned_target_high"],
                "final_target": kr["target"], "final_target_high": kr["target_high"],
                "initiatives": initiatives_text(kr), "value": kr["value"],
                "progress": kr["progress"], "expected": kr["expected"], "status": kr["status"],
                "added_after_commit": kr["added_after_commit"], "removed_after_commit": False,
                "carried_from": kr["carried_from"]})
        for kr in card.get("removed_key_results", ()):
            rows.append({
                "row": KR_ROW, **common, "grade": NONE,
                "key_result": kr["key"], "kr_title": kr["title"],
                "planned_target": kr["planned_target"],
                "planned_target_high": kr["planned_target_high"],
                "final_target": None, "final_target_high": None, "initiatives": NONE,
                "value": kr["value"], "progress": kr["progress"], "expected": kr["expected"],
                "status": "removed", "added_after_commit": False, "removed_after_commit": True,
                "carried_from": None})
        rows.append({
            "row": OBJECTIVE_ROW, **common, "grade": objective_grade(card, final) + call_text(card),
            "key_result": None, "kr_title": None, "planned_target": None,
            "planned_target_high": None, "final_target": None, "final_target_high": None,
            "initiatives": NONE, "value": None, "progress": card["score"],
            "expected": card["expected"], "status": card["track"], "added_after_commit": None,
            "removed_after_commit": None, "carried_from": None})
    return rows


def to_csv(review: dict[str, Any]) -> str:
    """The plan-vs-actual table as CSV (one row per key result)."""
    rows = score_rows(review)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["objective"])
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~"})


def _md(text: Any) -> str:
    """Stored text as Markdown text: made visible, every Markdown character escaped (a title
    can neither break a table with '|' nor become a link or an HTML tag)."""
    return visible(text).translate(_MD_SPECIAL)


def to_markdown(review: dict[str, Any], zone: str, person: str | None = None,
                every: bool = False) -> str:
    """The review as Markdown, for a wiki page or a pull request: days in the cycle's `zone`,
    instants in the `person`'s; back-dated check-ins in batches (`every`: one a line)."""
    s = review["summary"]
    m = _md
    out = [f"# Review of {m(review['cycle'])}",
           f"{span(review, zone)}, status {m(review['status'])}; "
           f"{commitment(review, zone)}; as of "
           f"{moment(review['as_of'], person)}, as known at "
           f"{moment(review['known_at'], person)}.",
           "",
           f"{s['succeeded']} of {s['graded']} graded objectives succeeded; {mean_score(s)} "
           f"over {s['objectives']} objectives and {s['key_results']} key results.", "",
           "## Plan vs actual", "",
           "| objective | type | key result | planned target | final target | value | "
           "progress | expected | status | grade | initiatives |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in score_rows(review):
        out.append(f"| {m(r['objective'])} {m(r['objective_title'])}"
                   f"{m(carried_text(r['objective_carried_from']))} | {m(r['type'])} | "
                   f"{m(kr_text(r))}"
                   f"{' (added after commit)' if r['added_after_commit'] else ''}"
                   f"{' (removed)' if r['removed_after_commit'] else ''}"
                   f"{m(carried_text(r['carried_from']))} | "
                   f"{bounds(r['planned_target'], r['planned_target_high'])} | "
                   f"{bounds(r['final_target'], r['final_target_high'])} | {num(r['value'])} | "
                   f"{pct(r['progress'])} | {pct(r['expected'])} | {m(r['status'] or '-')} | "
                   f"{r['grade']} | {m(r['initiatives'])} |")
    out += ["", "## Teams", "", "| team | objectives | key results | score | expected | "
            "track | on-track | at-risk | off-track |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for t in review["summaries"]["teams"]:
        out.append(f"| {m(t['team'] or '-')} | {t['objectives']} | {t['key_results']} | "
                   f"{pct(t['score'])} | {pct(t['expected'])} | {t['track'] or '-'} | "
                   f"{t['on-track']} | {t['at-risk']} | {t['off-track']} |")
    if review["summaries"]["departments"]:
        out += ["", "## Departments (roll-ups)", "", "| objective | level | own score | "
                "roll-up | expected | track | objectives below | teams |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for d in review["summaries"]["departments"]:
        out.append(f"| {m(d['key'])} {m(d['title'])} | {d['level']} | {pct(d['score'])} | "
                   f"{pct(d['rollup'])} | {pct(d['rollup_expected'])} | "
                   f"{d['rollup_track'] or '-'} | {d['objectives_below']} | "
                   f"{m(', '.join(d['teams']) or '-')} |")
    out += ["", "## Revisions after commit", ""]
    if not review["revisions"]:
        out.append("None: the plan stood as committed.")
    for r in review["revisions"]:
        flag = " **goalpost moved**" if r["goalpost_moved"] else ""
        if r["backdated"]:
            flag += f" *back-dated: in force from {day(r['effective_at'], zone)}*"
        out.append(f"- {day(r['at'], zone)} {m(r['key'])}: {m(revision_text(r))} by "
                   f"{m(acting(r['actor'], r['on_behalf_of']))} — "
                   f"{m(r['reason'] or 'no reason')}{flag}")
    out += ["", "## Confidence", "", "| owner | check-ins | mean confidence | hit rate | Brier |",
            "| --- | --- | --- | --- | --- |"]
    for c in review["calibration"]:
        out.append(f"| {m(c['owner'])} | {c['check_ins']} | {pct(c['mean_confidence'])} | "
                   f"{pct(c['hit_rate'])} | {c['brier']:.3f} |")
    out += ["", "## KPI guardrails", "", "| KPI | green | amber | red | no data | stale | "
            "at end |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for g in review["guardrails"]:
        sh = g["shares"]
        out.append(f"| {m(g['key'])} | {pct(sh['green'])} | {pct(sh['amber'])} | {pct(sh['red'])} "
                   f"| {pct(sh['none'])} | {pct(g['stale_share'])} | "
                   f"{g['health_at_end'] or '-'}{' (stale)' if g['stale_at_end'] else ''} |")
    out += ["", "## Check-in habits", ""]
    for key, h in review["habits"].items():
        out.append(f"- {m(key)}: {habit_text(h, review, zone)}")
    if review["backdated"]:
        out += ["", "## Back-dated check-ins", "", m(backdated_total(review)) + ":", ""]
        out += [f"- {m(line)}" for line in backdated_lines(review, zone, every)]
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


def _verdict_class(row: dict[str, Any]) -> str:
    """The colour class of an objective's row's grade: its final verdict, if any."""
    verdict = row["objective_grade"] if row["row"] == OBJECTIVE_ROW else None
    return verdict if verdict in FINAL_GRADES else ""


def _e(text: Any) -> str:
    """Stored text as HTML text: escaped, with control and bidi characters made visible."""
    return html.escape(visible(text))


_ROLLUP_COLOUR = "#7c3aed"  # the summaries' score bars


def _score_bar(x: float | None) -> str:
    """A score 0–1 as a small inline bar (none: a dash)."""
    if x is None:
        return "-"
    width = round(120 * max(0.0, min(1.0, x)))
    return (f'<svg width="124" height="12" role="img" aria-label="{pct(x)}">'
            f'<rect x="0" y="0" width="124" height="12" fill="#eee"/>'
            f'<rect x="2" y="2" width="{width}" height="8" fill="{_ROLLUP_COLOUR}"/></svg> '
            f"{pct(x)}")


def summaries_html(summary: dict[str, list[dict[str, Any]]]) -> str:
    """The team and department summaries as two HTML tables with score bars."""
    e = _e
    teams = "".join(
        f"<tr><td>{e(t['team'] or '-')}</td><td>{t['objectives']}</td>"
        f"<td>{t['key_results']}</td><td>{_score_bar(t['score'])}</td>"
        f"<td>{pct(t['expected'])}</td><td>{e(t['track'] or '-')}</td><td>{t['on-track']}</td>"
        f"<td>{t['at-risk']}</td><td>{t['off-track']}</td></tr>" for t in summary["teams"])
    deps = "".join(
        f"<tr><td>{e(d['key'])} {e(d['title'])}</td><td>{e(d['level'])}</td>"
        f"<td>{pct(d['score'])}</td><td>{_score_bar(d['rollup'])}</td>"
        f"<td>{pct(d['rollup_expected'])}</td><td>{e(d['rollup_track'] or '-')}</td>"
        f"<td>{d['objectives_below']}</td><td>{e(', '.join(d['teams']) or '-')}</td></tr>"
        for d in summary["departments"])
    out = ("<h2>Teams</h2><table><tr><th>team</th><th>objectives</th><th>key results</th>"
           "<th>score</th><th>expected</th><th>track</th><th>on-track</th><th>at-risk</th>"
           f"<th>off-track</th></tr>{teams}</table>")
    if deps:
        out += ("<h2>Departments (roll-ups)</h2><table><tr><th>objective</th><th>level</th>"
                "<th>own score</th><th>roll-up</th><th>expected</th><th>track</th>"
                f"<th>objectives below</th><th>teams</th></tr>{deps}</table>")
    return out


def to_html(review: dict[str, Any], zone: str, person: str | None = None,
            every: bool = False) -> str:
    """The review as one self-contained HTML page (inline CSS and SVG, no scripts, no CDN):
    days in the cycle's `zone`, instants in the `person`'s; back-dated check-ins in batches
    (`every`: one a line)."""
    e = _e
    s = review["summary"]
    rows = "".join(
        f"<tr><td>{e(r['objective'])} {e(r['objective_title'])}"
        f"{e(carried_text(r['objective_carried_from']))}</td><td>{e(r['type'])}</td>"
        f"<td>{e(kr_text(r))}"
        f"{' <span class=flag>added after commit</span>' if r['added_after_commit'] else ''}"
        f"{' <span class=flag>removed after commit</span>' if r['removed_after_commit'] else ''}"
        f"{e(carried_text(r['carried_from']))}"
        f"</td><td>{bounds(r['planned_target'], r['planned_target_high'])}</td>"
        f"<td>{bounds(r['final_target'], r['final_target_high'])}</td>"
        f"<td>{num(r['value'])}</td><td>{pct(r['progress'])}</td><td>{pct(r['expected'])}</td>"
        f"<td>{e(r['status'] or '-')}</td>"
        f"<td class=\"{_verdict_class(r)}\">{e(r['grade'])}</td>"
        f"<td>{e(r['initiatives'])}</td></tr>"
        for r in score_rows(review))
    revs = "".join(
        f"<li>{day(r['at'], zone)} <b>{e(r['key'])}</b>: {e(revision_text(r))} by "
        f"{e(acting(r['actor'], r['on_behalf_of']))} — "
        f"{e(r['reason'] or 'no reason')}"
        f"{' <span class=flag>goalpost moved</span>' if r['goalpost_moved'] else ''}"
        f"{_backdated_html(r, zone)}</li>"
        for r in review["revisions"]) or "<li>None: the plan stood as committed.</li>"
    krs = [kr for c in review["objectives"] for kr in c["key_results"]]
    kr_figs = "".join(f"<figure>{kr_chart(review, kr['key'], zone)}<figcaption>{e(kr['key'])} — "
                      f"{e(kr['title'])}</figcaption></figure>" for kr in krs)
    kpi_figs = "".join(
        f"<figure>{kpi_chart(review, g, zone)}<figcaption>{e(g['key'])} — {e(g['name'])}: green "
        f"{pct(g['shares']['green'])}, amber {pct(g['shares']['amber'])}, red "
        f"{pct(g['shares']['red'])}, stale {pct(g['stale_share'])}</figcaption></figure>"
        for g in review["guardrails"])
    late = "".join(f"<li>{e(line)}</li>" for line in backdated_lines(review, zone, every))
    late_html = (f"<h2>Back-dated check-ins</h2><p>{e(backdated_total(review))}:</p>"
                 f"<ul>{late}</ul>" if late else "")
    calib = "".join(f"<tr><td>{e(c['owner'])}</td><td>{c['check_ins']}</td>"
                    f"<td>{pct(c['mean_confidence'])}</td><td>{pct(c['hit_rate'])}</td>"
                    f"<td>{c['brier']:.3f}</td></tr>" for c in review["calibration"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Review of {e(review['cycle'])}</title><style>{_CSS}</style></head><body>
<h1>Review of {e(review['cycle'])}</h1>
<p class="muted">{e(span(review, zone))} · status {e(review['status'])} ·
{commitment(review, zone)} · as of {moment(review['as_of'], person)},
as known at {moment(review['known_at'], person)}</p>
<p><b>{s['succeeded']} of {s['graded']}</b> graded objectives succeeded · {e(mean_score(s))}
· {s['objectives']} objectives, {s['key_results']} key results</p>
{summaries_html(review["summaries"])}
<h2>Plan vs actual</h2>
<table><tr><th>objective</th><th>type</th><th>key result</th><th>planned target</th>
<th>final target</th><th>value</th><th>progress</th><th>expected</th><th>status</th>
<th>grade</th><th>initiatives</th></tr>{rows}</table>
<h2>Revisions after commit</h2><ul>{revs}</ul>
<h2>Progress over time</h2>
<p class="legend"><span>━ actual</span><span>╌ expected</span><span>┆ target revision</span></p>
<div class="charts">{kr_figs}</div>
<h2>KPI guardrails</h2><div class="charts">{kpi_figs or '<p>No guardrail KPIs.</p>'}</div>
<h2>Confidence vs outcome</h2>
<table><tr><th>owner</th><th>check-ins</th><th>mean confidence</th><th>hit rate</th>
<th>Brier score</th></tr>{calib}</table>
{late_html}
</body></html>
"""
