"""Write commands: cycles, objectives, key results, check-ins, initiatives, KPIs, and `show`.

Every write goes through the ledger Application (validated, one event or more, or nothing),
then is published to Kafka best effort; the write never fails because Kafka is away.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from okr.cli.context import State, state, want_json
from okr.cli.errors import UserError
from okr.cli.output import amount, bar, emit

if TYPE_CHECKING:
    from okr.domain.key_result import Phase

JSON = typer.Option(False, "--json", help="Print JSON.")
REASON = typer.Option(None, "--reason", "-r", help="Why (required for plan revisions).")

cycle_app = typer.Typer(help="Cycles: add, commit the plan, close, reopen.", no_args_is_help=True)
objective_app = typer.Typer(help="Objectives: add, update, abandon, close.", no_args_is_help=True)
kr_app = typer.Typer(help="Key results: add, revise, move, remove, link/unlink a KPI.",
                     no_args_is_help=True)
initiative_app = typer.Typer(help="Initiatives: add, set status.", no_args_is_help=True)
kpi_app = typer.Typer(help="KPIs: add, update, record a reading, retire.", no_args_is_help=True)


# ---- input parsing ----------------------------------------------------------------------

def number(text: str, what: str) -> float:
    """A finite number typed by a person, or a one-line error."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise UserError(f"{what} {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UserError(f"{what} must be a finite number, not {text!r}")
    return value


def opt_number(text: str | None, what: str) -> float | None:
    return None if text is None else number(text, what)


def when(st: State, text: str | None) -> datetime | None:
    """A person's time in their zone (None stays None)."""
    from okr.cli.times import parse_when
    return None if text is None else parse_when(text, st.settings.timezone)


def phases(st: State, items: list[str]) -> "list[Phase]":
    """Parse `--phase 2026-10-31=2.1` items into phased targets."""
    out: list[Phase] = []
    for item in items:
        at, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"phase {item!r} should look like 2026-10-31=2.1 (date=value)")
        t = when(st, at)
        out.append({"at": t, "value": number(value, "phased target")})
    return out


# ---- output -----------------------------------------------------------------------------

def done(ctx: typer.Context, as_json: bool, message: str, data: dict[str, Any]) -> None:
    """Report a successful write, then publish it to Kafka best effort."""
    st = state(ctx)
    if st.settings.inline_publish:
        from okr.cli.publish import after_write
        published = after_write(st)
    else:
        published = "not published now (OKR_INLINE_PUBLISH is off): run 'okr relay --once'"
    emit({**data, "published": published}, want_json(ctx, as_json),
         f"{message}\n{published}" if published else message)


def said(st: State, t: datetime) -> str:
    from okr.cli.times import say
    return say(t, st.settings.timezone)


# ---- cycles -----------------------------------------------------------------------------

@cycle_app.command("add")
def cycle_add(ctx: typer.Context, key: str = typer.Argument(..., help="2026-Q4, 2026-H2, 2026 "
                                                             "or a custom name."),
              start: str | None = typer.Option(None, help="Custom cycle start (local date)."),
              end: str | None = typer.Option(None, help="Custom cycle end, exclusive."),
              as_json: bool = JSON) -> None:
    """Open a cycle in planning."""
    st = state(ctx)
    c = st.ledger.add_cycle(key, when(st, start), when(st, end))
    done(ctx, as_json, f"cycle {c.key} added: {said(st, c.start)} – {said(st, c.end)}, planning",
         {"key": c.key, "start": c.start, "end": c.end, "status": c.status})


@cycle_app.command("commit")
def cycle_commit(ctx: typer.Context, key: str, as_json: bool = JSON) -> None:
    """Commit (lock) the cycle's plan; later changes are recorded revisions."""
    c = state(ctx).ledger.commit_cycle(key)
    done(ctx, as_json, f"cycle {c.key} committed: the plan is locked; changes now need a reason",
         {"key": c.key, "status": c.status})


@cycle_app.command("close")
def cycle_close(ctx: typer.Context, key: str, reason: str | None = REASON,
                as_json: bool = JSON) -> None:
    """Close the cycle."""
    c = state(ctx).ledger.close_cycle(key, reason)
    done(ctx, as_json, f"cycle {c.key} closed", {"key": c.key, "status": c.status})


@cycle_app.command("reopen")
def cycle_reopen(ctx: typer.Context, key: str, reason: str | None = REASON,
                 as_json: bool = JSON) -> None:
    """Reopen a closed cycle (needs --reason)."""
    c = state(ctx).ledger.reopen_cycle(key, reason)
    done(ctx, as_json, f"cycle {c.key} reopened ({c.status})", {"key": c.key, "status": c.status})


# ---- objectives -------------------------------------------------------------------------

@objective_app.command("add")
def objective_add(ctx: typer.Context, key: str, title: str,
                  cycle: str = typer.Option(..., "--cycle", "-c"),
                  owner: str | None = typer.Option(None, help="Default: the actor."),
                  team: str = typer.Option("", help="Team name."),
                  level: str = typer.Option("team", help="company, department, team, "
                                            "individual or cross-functional."),
                  okr_type: str = typer.Option("committed", "--type",
                                               help="committed, aspirational or learning."),
                  description: str = typer.Option("", help="Longer description."),
                  parent: str | None = typer.Option(None, help="Parent objective (alignment)."),
                  reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Add an objective to a cycle."""
    st = state(ctx)
    o = st.ledger.add_objective(key, title, cycle, owner or st.settings.actor, team, level,
                                okr_type, description, parent, reason)
    done(ctx, as_json, f"objective {o.key} added to {o.cycle} ({o.okr_type}, owner {o.owner})",
         {"key": o.key, "cycle": o.cycle, "type": o.okr_type, "owner": o.owner})


@objective_app.command("update")
def objective_update(ctx: typer.Context, key: str,
                     title: str | None = typer.Option(None), description: str | None = None,
                     owner: str | None = None, team: str | None = None,
                     parent: str | None = typer.Option(None, help="Re-align under this one."),
                     no_parent: bool = typer.Option(False, "--no-parent",
                                                    help="Make it top level."),
                     okr_type: str | None = typer.Option(None, "--type"),
                     reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Retitle, change owner/team, re-align or change type (each its own event)."""
    if parent is not None and no_parent:
        raise UserError("give --parent or --no-parent, not both")
    o = state(ctx).ledger.update_objective(
        key, title=title, description=description, owner=owner, team=team, parent=parent,
        clear_parent=no_parent, okr_type=okr_type, reason=reason)
    done(ctx, as_json, f"objective {o.key} updated (version {o.version})",
         {"key": o.key, "version": o.version})


@objective_app.command("abandon")
def objective_abandon(ctx: typer.Context, key: str, reason: str | None = REASON,
                      as_json: bool = JSON) -> None:
    """Abandon an objective (needs --reason)."""
    o = state(ctx).ledger.abandon_objective(key, reason)
    done(ctx, as_json, f"objective {o.key} abandoned", {"key": o.key, "status": o.status})


@objective_app.command("close")
def objective_close(ctx: typer.Context, key: str,
                    status: str = typer.Option(..., help="achieved or missed"),
                    reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Close an objective as achieved or missed."""
    o = state(ctx).ledger.close_objective(key, status, reason)
    done(ctx, as_json, f"objective {o.key} closed: {o.status}", {"key": o.key,
                                                                  "status": o.status})


# ---- key results ------------------------------------------------------------------------

PHASE = typer.Option([], "--phase", help="Phased target DATE=VALUE (repeatable).")


@kr_app.command("add")
def kr_add(ctx: typer.Context, key: str, title: str,
           objective: str = typer.Option(..., "--objective", "-o"),
           kind: str = typer.Option("increase", help="increase, decrease, stay-above, "
                                    "stay-below, range or milestone."),
           start: str = typer.Option("0", help="Starting value."),
           target: str = typer.Option("1", help="Target (low bound for a range)."),
           target_high: str | None = typer.Option(None, help="High bound for a range."),
           unit: str = typer.Option("", help="Unit, e.g. %, users, EUR."),
           weight: str = typer.Option("1", help="Weight in the objective's score."),
           phase: list[str] = PHASE,
           kpi: str | None = typer.Option(None, help="Take values from this KPI."),
           reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Add a key result to an objective."""
    st = state(ctx)
    kr = st.ledger.add_key_result(
        key, title, objective, kind, number(start, "start"), number(target, "target"),
        opt_number(target_high, "target-high"), unit, number(weight, "weight"),
        phases(st, phase), kpi, reason)
    done(ctx, as_json, f"key result {kr.key} added to {kr.objective}: {kr.kind} "
         f"{kr.start:g} → {amount(kr.target, kr.unit)}",
         {"key": kr.key, "objective": kr.objective, "kind": kr.kind, "start": kr.start,
          "target": kr.target, "target_high": kr.target_high, "unit": kr.unit,
          "weight": kr.weight, "kpi": kr.kpi})


@kr_app.command("revise")
def kr_revise(ctx: typer.Context, key: str, start: str | None = None, target: str | None = None,
              target_high: str | None = None, weight: str | None = None,
              phase: list[str] = PHASE,
              clear_phases: bool = typer.Option(False, "--clear-phases"),
              reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Revise start, target, weight or phased targets (after commit: needs --reason)."""
    st = state(ctx)
    if phase and clear_phases:
        raise UserError("give --phase or --clear-phases, not both")
    kr = st.ledger.revise_key_result(
        key, start=opt_number(start, "start"), target=opt_number(target, "target"),
        target_high=opt_number(target_high, "target-high"), weight=opt_number(weight, "weight"),
        phases=[] if clear_phases else (phases(st, phase) or None), reason=reason)
    # What it replaced is the version before the revision, not a read taken before the
    # command: another writer may have revised the key result in between.
    before = st.ledger.repository.get(kr.id, version=kr.version - 1)
    old = {"start": before.start, "target": before.target, "weight": before.weight}
    changes = {k: (v, getattr(kr, k)) for k, v in old.items() if getattr(kr, k) != v}
    text = ", ".join(f"{k} {a:g} → {b:g}" for k, (a, b) in changes.items()) or "phases changed"
    done(ctx, as_json, f"key result {kr.key} revised: {text}",
         {"key": kr.key, "changes": {k: {"from": a, "to": b} for k, (a, b) in changes.items()},
          "reason": reason})


@kr_app.command("move")
def kr_move(ctx: typer.Context, key: str, objective: str = typer.Option(..., "--objective", "-o"),
            reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Move a key result to another objective of the same cycle."""
    kr = state(ctx).ledger.move_key_result(key, objective, reason)
    done(ctx, as_json, f"key result {kr.key} moved to {kr.objective}",
         {"key": kr.key, "objective": kr.objective})


@kr_app.command("remove")
def kr_remove(ctx: typer.Context, key: str, reason: str | None = REASON,
              as_json: bool = JSON) -> None:
    """Remove a key result from the plan (its history stays)."""
    kr = state(ctx).ledger.remove_key_result(key, reason)
    done(ctx, as_json, f"key result {kr.key} removed", {"key": kr.key, "removed": True})


@kr_app.command("link")
def kr_link(ctx: typer.Context, key: str, kpi: str, reason: str | None = REASON,
            as_json: bool = JSON) -> None:
    """Take the key result's value from a KPI's readings."""
    kr = state(ctx).ledger.link_kpi(key, kpi, reason)
    done(ctx, as_json, f"key result {kr.key} now follows KPI {kpi}", {"key": kr.key, "kpi": kpi})


@kr_app.command("unlink")
def kr_unlink(ctx: typer.Context, key: str, reason: str | None = REASON,
              as_json: bool = JSON) -> None:
    """Go back to manual check-ins."""
    kr = state(ctx).ledger.unlink_kpi(key, reason)
    done(ctx, as_json, f"key result {kr.key} unlinked from its KPI", {"key": kr.key, "kpi": None})


def checkin(ctx: typer.Context, kr: str = typer.Argument(..., help="Key result key."),
            value: str = typer.Argument(..., help="The value now (or at --at)."),
            confidence: str | None = typer.Option(None, help="0–1: how sure the target "
                                                  "will be hit."),
            note: str = typer.Option("", help="What happened."),
            at: str | None = typer.Option(None, help="Effective time (local; default now)."),
            source: str = typer.Option("manual", help="How the value was obtained, recorded "
                                       "with it (CSV imports record: import)."),
            as_json: bool = JSON) -> None:
    """Check in on a key result."""
    st = state(ctx)
    val = number(value, "value")
    conf = opt_number(confidence, "confidence")
    if conf is not None and not 0 <= conf <= 1:
        raise UserError(f"confidence {confidence} must be between 0 and 1")
    res = st.ledger.check_in(kr, val, conf, note, when(st, at), source=source)
    c = res.check_ins[-1]
    done(ctx, as_json, f"check-in on {res.key}: {amount(val, res.unit)}, effective "
         f"{said(st, c['effective_at'])}",
         {"key": res.key, "value": val, "confidence": conf, "note": c["note"],
          "effective_at": c["effective_at"], "source": c["source"]})


# ---- initiatives ------------------------------------------------------------------------

@initiative_app.command("add")
def initiative_add(ctx: typer.Context, key: str, title: str,
                   kr: str = typer.Option(..., "--kr", help="The key result it moves."),
                   owner: str | None = typer.Option(None, help="Default: the actor."),
                   as_json: bool = JSON) -> None:
    """Add an initiative for a key result."""
    i = state(ctx).ledger.add_initiative(key, title, kr, owner)
    done(ctx, as_json, f"initiative {i.key} added for {i.key_result} (planned)",
         {"key": i.key, "key_result": i.key_result, "status": i.status, "owner": i.owner})


@initiative_app.command("status")
def initiative_status(ctx: typer.Context, key: str,
                      status: str = typer.Argument(..., help="planned, in-progress, done or "
                                                   "dropped"),
                      reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Set an initiative's status."""
    i = state(ctx).ledger.set_initiative_status(key, status, reason)
    done(ctx, as_json, f"initiative {i.key} is now {i.status}", {"key": i.key,
                                                                  "status": i.status})


# ---- KPIs -------------------------------------------------------------------------------

@kpi_app.command("add")
def kpi_add(ctx: typer.Context, key: str, name: str, unit: str = typer.Option(""),
            direction: str = typer.Option("up", help="up (higher is better) or down."),
            target: str | None = None,
            green: str = typer.Option(..., help="Green from this value on."),
            red: str = typer.Option(..., help="Red beyond this value."),
            cadence: str = typer.Option("weekly", help="daily, weekly, monthly, quarterly."),
            tag: list[str] = typer.Option([], "--tag", help="leading, lagging, guardrail, …"),
            owner: str | None = None, as_json: bool = JSON) -> None:
    """Define a KPI."""
    k = state(ctx).ledger.add_kpi(
        key, name, unit=unit, direction=direction, target=opt_number(target, "target"),
        green=number(green, "green"), red=number(red, "red"), cadence=cadence, tags=tag,
        owner=owner)
    done(ctx, as_json, f"KPI {k.key} added: {k.name} ({k.direction}, {k.cadence})",
         {"key": k.key, **k.definition()})


@kpi_app.command("update")
def kpi_update(ctx: typer.Context, key: str, name: str | None = None, unit: str | None = None,
               direction: str | None = None, target: str | None = None,
               green: str | None = None, red: str | None = None, cadence: str | None = None,
               tag: list[str] = typer.Option([], "--tag", help="Replace the tags."),
               owner: str | None = None, reason: str | None = REASON,
               as_json: bool = JSON) -> None:
    """Change a KPI's definition."""
    changes: dict[str, Any] = {k: v for k, v in {
        "name": name, "unit": unit, "direction": direction, "cadence": cadence,
        "owner": owner, "target": opt_number(target, "target"),
        "green": opt_number(green, "green"), "red": opt_number(red, "red")}.items()
        if v is not None}
    if tag:
        changes["tags"] = tag
    if not changes:
        raise UserError("nothing to update: give at least one of --name, --unit, --direction, "
                        "--target, --green, --red, --cadence, --tag, --owner")
    k = state(ctx).ledger.update_kpi(key, changes, reason)
    done(ctx, as_json, f"KPI {k.key} updated", {"key": k.key, **k.definition()})


@kpi_app.command("record")
def kpi_record(ctx: typer.Context, key: str, value: str,
               at: str | None = typer.Option(None, help="Observed at (local; default now)."),
               source: str = typer.Option("manual", help="Where the value came from."),
               reading_id: str | None = typer.Option(None, "--id", help="Idempotency id."),
               as_json: bool = JSON) -> None:
    """Record a KPI reading."""
    st = state(ctx)
    val = number(value, "value")
    observed = when(st, at)
    new = st.ledger.record_reading(key, val, observed, source, reading_id)
    k = st.ledger.kpi(key)
    r = k.latest_reading() if observed is None else next(
        (x for x in reversed(k.readings) if x["observed_at"] == observed), k.readings[-1])
    text = (f"KPI {key}: {amount(val, k.unit)} observed {said(st, r['observed_at'])}" if new
            else f"KPI {key}: reading {reading_id} was already recorded; nothing written")
    done(ctx, as_json, text, {"key": key, "value": val, "observed_at": r["observed_at"],
                              "recorded": new})


@kpi_app.command("retire")
def kpi_retire(ctx: typer.Context, key: str, reason: str | None = REASON,
               as_json: bool = JSON) -> None:
    """Retire a KPI (its history stays)."""
    k = state(ctx).ledger.retire_kpi(key, reason)
    done(ctx, as_json, f"KPI {k.key} retired", {"key": k.key, "retired": True})


@kpi_app.command("list")
def kpi_list(ctx: typer.Context, all_: bool = typer.Option(False, "--all",
                                                          help="Include retired KPIs."),
             as_json: bool = JSON) -> None:
    """Every KPI with its latest value, trend, health and staleness."""
    from okr.domain.base import utc_now
    from okr.ledger.views import kpi_list as listing

    st = state(ctx)
    rows = [r for r in listing(st.ledger, utc_now()) if all_ or not r["retired"]]
    emit(rows, want_json(ctx, as_json), lambda: _kpi_table(st, rows))


def _kpi_table(st: State, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    arrows = {"better": "↗ better", "worse": "↘ worse", "flat": "→ flat", None: "-"}
    colours = {"green": "green", "amber": "yellow", "red": "red", None: "dim"}
    table = Table("KPI", "name", "latest", "observed", "trend", "health", "cadence")
    for r in rows:
        health = r["health"] or "no data"
        table.add_row(r["key"], r["name"], amount(r["value"], r["unit"]),
                      "-" if r["observed_at"] is None else said(st, r["observed_at"]),
                      arrows[r["trend"]], f"[{colours[r['health']]}]{health}[/]"
                      + (" [bold red]STALE[/]" if r["stale"] else ""), r["cadence"])
    Console().print(table)


# ---- show -------------------------------------------------------------------------------

KIND_NAMES = {"cycle": "cycle", "objective": "objective", "kr": "key_result",
              "key-result": "key_result", "initiative": "initiative", "kpi": "kpi"}


def show(ctx: typer.Context, key: str,
         kind: str | None = typer.Option(None, help="cycle, objective, kr, initiative or kpi "
                                         "(when a key is used by several kinds)."),
         as_json: bool = JSON) -> None:
    """Show anything by key, with its current state read from the ledger."""
    from okr.domain.base import utc_now
    from okr.ledger import views

    st = state(ctx)
    kinds = list(KIND_NAMES.values()) if kind is None else [KIND_NAMES.get(kind, "")]
    if "" in kinds:
        raise UserError(f"--kind {kind!r} is not one of: {', '.join(KIND_NAMES)}")
    if kinds[0] == "cycle":
        from okr.domain.cycles import canonical_cycle_key
        key = canonical_cycle_key(key)
    found = st.ledger.find(key, dict.fromkeys(kinds))
    if not found and kind is None:
        from okr.domain.cycles import canonical_cycle_key
        found = st.ledger.find(canonical_cycle_key(key), ["cycle"])
    if not found:
        raise UserError(f"nothing has the key {key!r}")
    if len(found) > 1:
        raise UserError(f"{key!r} is a key of several kinds ({', '.join(k for k, _ in found)}); "
                        "add --kind")
    found_kind, agg = found[0]
    data = views.view(st.ledger, found_kind, agg, utc_now())
    emit(data, want_json(ctx, as_json), lambda: render(st, data))


def render(st: State, data: dict[str, Any]) -> None:
    """Human view of `show` output."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    pct = lambda x: "-" if x is None else f"{x:.0%}"  # noqa: E731
    if data["kind"] == "objective":
        console.print(f"[bold]{data['key']}[/] {data['title']}  ({data['cycle']}, "
                      f"{data['okr_type']}, owner {data['owner']}, {data['status']})")
        console.print(f"score {pct(data['score'])}  expected {pct(data['expected'])}  "
                      f"{data['track'] or ''}")
        table = Table("key result", "progress", "value", "target", "expected", "status",
                      "confidence")
        for kr in data["key_results"]:
            table.add_row(kr["key"], f"{bar(kr['progress'], 10)} {pct(kr['progress'])}",
                          "-" if kr["value"] is None else f"{kr['value']:g}",
                          amount(kr["target"], kr["unit"]), pct(kr["expected"]), kr["status"],
                          pct(kr["confidence"]))
        console.print(table)
    elif data["kind"] == "key_result":
        console.print(f"[bold]{data['key']}[/] {data['title']}  (objective {data['objective']}, "
                      f"{data['kr_kind']} {data['start']:g} → "
                      f"{amount(data['target'], data['unit'])})")
        console.print(f"{bar(data['progress'])} {pct(data['progress'])}  expected "
                      f"{pct(data['expected'])}  {data['status']}  value "
                      f"{'-' if data['value'] is None else format(data['value'], 'g')}")
        for c in data["check_ins"]:
            console.print(f"  {said(st, c['effective_at'])}  {c['value']:g}  "
                          f"confidence {pct(c['confidence'])}  {c['note']}  ({c['actor']})")
    elif data["kind"] == "kpi":
        console.print(f"[bold]{data['key']}[/] {data['name']}  ({data['direction']}, green "
                      f"{data['green']:g}, red {data['red']:g}, {data['cadence']})")
        console.print(f"latest {amount(data['value'], data['unit'])}  "
                      f"health {data['health'] or '-'}"
                      f"{'  STALE' if data['stale'] else ''}")
        for r in data["readings"][-10:]:
            console.print(f"  {said(st, r['observed_at'])}  {r['value']:g}  {r['source']}")
    else:
        for k, v in data.items():
            console.print(f"{k}: {v}")


def register(app: typer.Typer) -> None:
    """Add the write commands (and `show`) to the root app."""
    app.add_typer(cycle_app, name="cycle")
    app.add_typer(objective_app, name="objective")
    app.add_typer(kr_app, name="kr")
    app.command("checkin")(checkin)
    app.add_typer(initiative_app, name="initiative")
    app.add_typer(kpi_app, name="kpi")
    app.command("show")(show)
