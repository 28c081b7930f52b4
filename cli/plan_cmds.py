"""Plan commands: cycles, objectives, key results and initiatives."""

from typing import Any

import typer

from okr.cli.commands import Typer, choice, choice_argument
from okr.cli.context import State, state
from okr.cli.output import aim_text, counted
from okr.cli.writes import (
    JSON,
    REASON,
    done,
    in_force,
    not_both,
    number,
    opt_number,
    phases,
    phases_said,
    warn,
    when,
)
from okr.domain.numbers import figure
from okr.domain.vocab import InitiativeStatus, KrKind, Level, ObjectiveStatus, OkrType

CLOSED_AS = (ObjectiveStatus.ACHIEVED, ObjectiveStatus.MISSED)

EFFECTIVE = typer.Option(
    None, "--effective", help="When it took effect (local; a date alone means the start of "
    "that day), if not when recorded; needs --reason and is flagged in reviews. While the "
    "cycle is in planning, plan items are in force from the cycle's start anyway.")

cycle_app = Typer(help="Cycles: add, commit the plan, close, reopen, carry forward.",
                  no_args_is_help=True)
objective_app = Typer(help="Objectives: add, update, abandon, close.", no_args_is_help=True)
kr_app = Typer(help="Key results: add, revise, move, remove, link/unlink a KPI.",
               no_args_is_help=True)
initiative_app = Typer(help="Initiatives: add, set status.", no_args_is_help=True)


# ---- cycles -----------------------------------------------------------------------------

@cycle_app.write("add", starts_ledger=True)
def cycle_add(ctx: typer.Context, key: str = typer.Argument(..., help="2026-Q4, 2026-H2, 2026 "
                                                             "or a custom name."),
              start: str | None = typer.Option(None, help="Custom cycle start (a date in the "
                                               "organisation's zone, OKR_ORG_TZ)."),
              end: str | None = typer.Option(None, help="Custom cycle end, exclusive."),
              as_json: bool = JSON) -> None:
    """Open a cycle in planning. Named periods (2026-Q4, 2026-H2, 2026) run from local
    midnight to local midnight in the organisation's zone (OKR_ORG_TZ, default UTC), which
    is recorded on the cycle."""
    from okr.cli.times import parse_when, say

    st = state(ctx)
    tz = st.settings.org_timezone
    c = st.ledger.add_cycle(key, None if start is None else parse_when(start, tz),
                            None if end is None else parse_when(end, tz))
    done(ctx, as_json, f"cycle {c.key} added: {say(c.start, c.timezone)} – "
         f"{say(c.end, c.timezone)} ({c.timezone}), planning",
         {"key": c.key, "start": c.start, "end": c.end, "timezone": c.timezone,
          "status": c.status})


@cycle_app.write("commit")
def cycle_commit(ctx: typer.Context, key: str, as_json: bool = JSON) -> None:
    """Commit (lock) the cycle's plan; later changes are recorded revisions."""
    c = state(ctx).ledger.commit_cycle(key)
    done(ctx, as_json, f"cycle {c.key} committed: the plan is locked; changes now need a reason",
         {"key": c.key, "status": c.status})


@cycle_app.write("close")
def cycle_close(ctx: typer.Context, key: str, reason: str | None = REASON,
                as_json: bool = JSON) -> None:
    """Close the cycle."""
    c = state(ctx).ledger.close_cycle(key, reason)
    done(ctx, as_json, f"cycle {c.key} closed", {"key": c.key, "status": c.status})


@cycle_app.write("reopen")
def cycle_reopen(ctx: typer.Context, key: str, reason: str | None = REASON,
                 as_json: bool = JSON) -> None:
    """Reopen a closed cycle (needs --reason)."""
    c = state(ctx).ledger.reopen_cycle(key, reason)
    done(ctx, as_json, f"cycle {c.key} reopened ({c.status})", {"key": c.key, "status": c.status})


@cycle_app.write("carry")
def cycle_carry(ctx: typer.Context,
                source: str = typer.Argument(..., metavar="FROM", help="The cycle to carry "
                                             "from, e.g. 2026-Q4."),
                target: str = typer.Argument(..., metavar="TO", help="A later cycle, already "
                                             "added, e.g. 2027-Q1."),
                unfinished_only: bool = typer.Option(
                    False, "--unfinished-only", help="Only key results below 1.0 at the end of "
                    "FROM (or never checked in), and the objectives holding one."),
                effective: str | None = typer.Option(
                    None, "--effective", help="When the copies took effect (local; a date "
                    "alone means the start of that day), if not when recorded: not before TO "
                    "starts; needs --reason and is flagged in reviews. While TO is in planning "
                    "they are in force from its start anyway."),
                reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Copy FROM's objectives (not abandoned ones) and their key results into TO, each new
    item recording the one it was carried from. Keys get TO appended (rev-2x → rev-2x.2027-Q1).
    Carrying again adds only what was not carried before."""
    from okr.ledger.carry import carry

    st = state(ctx)
    since = when(st, effective)
    carried = carry(st.ledger, source, target, unfinished_only=unfinished_only, reason=reason,
                    effective=since)
    src, dst = st.ledger.cycle(source).key, st.ledger.cycle(target).key
    new = [c for c in carried if c.new]
    label = {"objective": "objective", "key_result": "key result"}
    counts = {k: sum(c.kind == k for c in new) for k in label}
    if new:
        head = (f"carried {counted(counts['objective'], 'objective')} and "
                f"{counted(counts['key_result'], 'key result')} from {src} to {dst}: "
                + ", ".join(f"{c.origin} → {c.key}" for c in new))
    elif carried:  # what qualified: with --unfinished-only, the unfinished items alone
        head = (f"nothing to carry: every {'unfinished ' if unfinished_only else ''}item was "
                f"carried from {src} to {dst} before")
    else:
        head = f"nothing to carry: {src} has no objectives that qualify"
    # Copies whose parent stayed behind keep it (docs/scoring.md, "Carrying forward").
    # Each a line of its own (`then`): a newline inside `head` would be shown as ␊.
    kept = [c for c in new if c.parent_cycle is not None]
    then = [f"kept aligned to {parent} of {cyc} (another cycle: its roll-up does not count "
            "them): " + ", ".join(c.key for c in kept if c.parent == parent)
            for parent, cyc in dict.fromkeys((c.parent, c.parent_cycle) for c in kept)]
    done(ctx, as_json, head,
         {"from": src, "to": dst, "unfinished_only": unfinished_only,
          "carried": [{"kind": c.kind, "from": c.origin, "to": c.key} for c in new],
          "already_carried": [{"kind": c.kind, "from": c.origin, "to": c.key}
                              for c in carried if not c.new],
          "kept_parent": [{"objective": c.key, "parent": c.parent, "parent_cycle": c.parent_cycle}
                          for c in kept]},
         then, in_force=since if new else None)


# ---- objectives -------------------------------------------------------------------------

@objective_app.write("add")
def objective_add(ctx: typer.Context, key: str, title: str,
                  cycle: str = typer.Option(..., "--cycle", "-c"),
                  owner: str | None = typer.Option(None, help="Default: the actor."),
                  team: str = typer.Option("", help="Team name."),
                  level: str = choice("team", "--level", values=Level,
                                      help="Where it sits in the organisation."),
                  okr_type: str = choice("committed", "--type", values=OkrType,
                                         help="Committed ones are expected to reach 1.0, "
                                         "aspirational ones count 0.7 as success."),
                  description: str = typer.Option("", help="Longer description."),
                  parent: str | None = typer.Option(None, help="Parent objective (alignment)."),
                  effective: str | None = EFFECTIVE,
                  reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Add an objective to a cycle (one in force before its cycle is recorded with a warning
    saying when it counts from)."""
    st = state(ctx)
    o = st.ledger.add_objective(key, title, cycle, owner or st.ledger.principal, team, level,
                                okr_type, description, parent, reason,
                                effective=when(st, effective))
    notice = st.ledger.objective_notice(o.key, o.cycle, o.in_force_since)
    if notice is not None:  # recorded, but no as-of view shows it until later: say so
        warn(st, notice)
    done(ctx, as_json, f"objective {o.key} added to {o.cycle} ({o.okr_type}, owner {o.owner})",
         {"key": o.key, "cycle": o.cycle, "type": o.okr_type, "owner": o.owner,
          "before_in_force": notice is not None,
          "counts_from": o.in_force_since if notice is None else notice.since},
         in_force=in_force(o, effective))


@objective_app.write("update")
def objective_update(ctx: typer.Context, key: str,
                     title: str | None = typer.Option(None), description: str | None = None,
                     owner: str | None = None, team: str | None = None,
                     parent: str | None = typer.Option(None, help="Re-align under this one."),
                     no_parent: bool = typer.Option(False, "--no-parent",
                                                    help="Make it top level."),
                     okr_type: str | None = choice(None, "--type", values=OkrType),
                     effective: str | None = EFFECTIVE,
                     reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Retitle, change owner/team, re-align or change type (each its own event)."""
    not_both(parent is not None, no_parent, "--parent", "--no-parent")
    st = state(ctx)
    o = st.ledger.update_objective(
        key, title=title, description=description, owner=owner, team=team, parent=parent,
        clear_parent=no_parent, okr_type=okr_type, reason=reason,
        effective=when(st, effective))
    done(ctx, as_json, f"objective {o.key} updated (version {o.version})",
         {"key": o.key, "version": o.version},
         in_force=in_force(o, effective))


@objective_app.write("abandon")
def objective_abandon(ctx: typer.Context, key: str, reason: str | None = REASON,
                      effective: str | None = EFFECTIVE, as_json: bool = JSON) -> None:
    """Abandon an objective (needs --reason)."""
    st = state(ctx)
    o = st.ledger.abandon_objective(key, reason, effective=when(st, effective))
    done(ctx, as_json, f"objective {o.key} abandoned", {"key": o.key, "status": o.status},
         in_force=in_force(o, effective))


@objective_app.write("close")
def objective_close(ctx: typer.Context, key: str,
                    status: str = choice(..., "--status", values=CLOSED_AS),
                    effective: str | None = EFFECTIVE,
                    reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Close an objective as achieved or missed."""
    st = state(ctx)
    o = st.ledger.close_objective(key, status, reason, effective=when(st, effective))
    done(ctx, as_json, f"objective {o.key} closed: {o.status}", {"key": o.key,
                                                                  "status": o.status},
         in_force=in_force(o, effective))


# ---- key results ------------------------------------------------------------------------

PHASE = typer.Option([], "--phase", help="Phased target DATE=VALUE (repeatable).")
TOLERANCE_HELP = ("Threshold kinds only (stay-above, stay-below, range): a band this wide past "
                  "the threshold scores partial credit, falling from 1 to 0 across it "
                  "(default: none; a breach scores 0). See docs/scoring.md.")


# What `kr revise` can change, as the key result's attributes (its JSON "changes" keys).
REVISED = ("start", "target", "target_high", "weight", "tolerance", "phases")


def _said(value: float | list[Any] | None) -> str:
    """A revised value in a sentence: a number, 'none', or how many phased targets."""
    if isinstance(value, list):
        return str(len(value)) if value else "none"
    return "none" if value is None else figure(value)


@kr_app.write("add")
def kr_add(ctx: typer.Context, key: str, title: str,
           objective: str = typer.Option(..., "--objective", "-o"),
           kind: str = choice("increase", "--kind", values=KrKind,
                              help="How progress is scored (docs/scoring.md)."),
           start: str = typer.Option("0", help="Starting value."),
           target: str = typer.Option("1", help="Target (low bound for a range)."),
           target_high: str | None = typer.Option(None, help="High bound for a range."),
           unit: str = typer.Option("", help="Unit, e.g. %, users, EUR."),
           weight: str = typer.Option("1", help="Weight in the objective's score."),
           phase: list[str] = PHASE,
           kpi: str | None = typer.Option(None, help="Take values from this KPI."),
           tolerance: str | None = typer.Option(None, help=TOLERANCE_HELP),
           effective: str | None = EFFECTIVE,
           reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Add a key result to an objective (one in force before its objective is recorded with
    a warning saying when it counts from)."""
    st = state(ctx)
    kr = st.ledger.add_key_result(
        key, title, objective, kind, number(start, "start"), number(target, "target"),
        opt_number(target_high, "target-high"), unit, number(weight, "weight"),
        phases(st, phase), kpi, reason, effective=when(st, effective),
        tolerance=opt_number(tolerance, "tolerance"))
    notice = st.ledger.key_result_notice(kr.key, kr.objective, kr.in_force_since)
    if notice is not None:  # recorded, but no as-of view shows it until later: say so
        warn(st, notice)
    done(ctx, as_json, f"key result {kr.key} added to {kr.objective}: "
         + aim_text(kr.kind, kr.start, kr.target, kr.target_high, kr.unit, kr.tolerance),
         {"key": kr.key, "objective": kr.objective, "kind": kr.kind, "start": kr.start,
          "target": kr.target, "target_high": kr.target_high, "tolerance": kr.tolerance,
          "unit": kr.unit, "weight": kr.weight, "phases": kr.phases, "kpi": kr.kpi,
          "before_in_force": notice is not None,
          "counts_from": kr.in_force_since if notice is None else notice.since},
         _phases_line(st, kr.phases) if kr.phases else [], in_force=in_force(kr, effective))


@kr_app.write("revise")
def kr_revise(ctx: typer.Context, key: str, start: str | None = None, target: str | None = None,
              target_high: str | None = None, weight: str | None = None,
              phase: list[str] = PHASE,
              clear_phases: bool = typer.Option(False, "--clear-phases"),
              tolerance: str | None = typer.Option(None, help=TOLERANCE_HELP),
              clear_tolerance: bool = typer.Option(False, "--clear-tolerance",
                                                   help="Drop the tolerance band: a breach "
                                                   "scores 0 again."),
              effective: str | None = EFFECTIVE,
              reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Revise start, target, weight, phased targets or tolerance (after commit: needs
    --reason)."""
    st = state(ctx)
    not_both(bool(phase), clear_phases, "--phase", "--clear-phases")
    not_both(tolerance is not None, clear_tolerance, "--tolerance", "--clear-tolerance")
    kr = st.ledger.revise_key_result(
        key, start=opt_number(start, "start"), target=opt_number(target, "target"),
        target_high=opt_number(target_high, "target-high"), weight=opt_number(weight, "weight"),
        phases=[] if clear_phases else (phases(st, phase) or None), reason=reason,
        tolerance=opt_number(tolerance, "tolerance"), clear_tolerance=clear_tolerance,
        effective=when(st, effective))
    # What it replaced is the version before the revision, not a read taken before the
    # command: another writer may have revised the key result in between.
    before = st.ledger.repository.get(kr.id, version=kr.version - 1)
    changes = {k: (getattr(before, k), getattr(kr, k)) for k in REVISED
               if getattr(kr, k) != getattr(before, k)}
    text = ", ".join(f"{k} {_said(a)} → {_said(b)}" for k, (a, b) in changes.items()) \
        or "nothing changed"
    done(ctx, as_json, f"key result {kr.key} revised: {text}",
         {"key": kr.key, "changes": {k: {"from": a, "to": b} for k, (a, b) in changes.items()},
          "reason": reason},
         _phases_line(st, kr.phases, "now") if "phases" in changes else [],
         in_force=in_force(kr, effective) if changes else None)


def _phases_line(st: State, phased: list[Any], now: str = "") -> list[str]:
    """A write's phased targets said back, each instant in the person's zone with UTC beside
    it: a date typed is read in that zone, so the reader sees which instant it became."""
    return [f"phased targets{' ' + now if now else ''}: "
            f"{phases_said(phased, st.settings.timezone)}"]


@kr_app.write("move")
def kr_move(ctx: typer.Context, key: str, objective: str = typer.Option(..., "--objective", "-o"),
            effective: str | None = EFFECTIVE,
            reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Move a key result to another objective of the same cycle."""
    st = state(ctx)
    kr = st.ledger.move_key_result(key, objective, reason, effective=when(st, effective))
    done(ctx, as_json, f"key result {kr.key} moved to {kr.objective}",
         {"key": kr.key, "objective": kr.objective},
         in_force=in_force(kr, effective))


@kr_app.write("remove")
def kr_remove(ctx: typer.Context, key: str, reason: str | None = REASON,
              effective: str | None = EFFECTIVE, as_json: bool = JSON) -> None:
    """Remove a key result from the plan (its history stays)."""
    st = state(ctx)
    kr = st.ledger.remove_key_result(key, reason, effective=when(st, effective))
    done(ctx, as_json, f"key result {kr.key} removed", {"key": kr.key, "removed": True},
         in_force=in_force(kr, effective))


@kr_app.write("link")
def kr_link(ctx: typer.Context, key: str, kpi: str, reason: str | None = REASON,
            effective: str | None = EFFECTIVE, as_json: bool = JSON) -> None:
    """Take the key result's value from a KPI's readings."""
    st = state(ctx)
    kr = st.ledger.link_kpi(key, kpi, reason, effective=when(st, effective))
    done(ctx, as_json, f"key result {kr.key} now follows KPI {kpi}", {"key": kr.key, "kpi": kpi},
         in_force=in_force(kr, effective))


@kr_app.write("unlink")
def kr_unlink(ctx: typer.Context, key: str, reason: str | None = REASON,
              effective: str | None = EFFECTIVE, as_json: bool = JSON) -> None:
    """Go back to manual check-ins."""
    st = state(ctx)
    kr = st.ledger.unlink_kpi(key, reason, effective=when(st, effective))
    done(ctx, as_json, f"key result {kr.key} unlinked from its KPI", {"key": kr.key, "kpi": None},
         in_force=in_force(kr, effective))


# ---- initiatives ------------------------------------------------------------------------

@initiative_app.write("add")
def initiative_add(ctx: typer.Context, key: str, title: str,
                   kr: str = typer.Option(..., "--kr", help="The key result it moves."),
                   owner: str | None = typer.Option(None, help="Default: the actor."),
                   effective: str | None = EFFECTIVE, reason: str | None = REASON,
                   as_json: bool = JSON) -> None:
    """Add an initiative for a key result."""
    st = state(ctx)
    i = st.ledger.add_initiative(key, title, kr, owner, effective=when(st, effective),
                                 reason=reason)
    done(ctx, as_json, f"initiative {i.key} added for {i.key_result} (planned)",
         {"key": i.key, "key_result": i.key_result, "status": i.status, "owner": i.owner},
         in_force=in_force(i, effective))


@initiative_app.write("status")
def initiative_status(ctx: typer.Context, key: str,
                      status: str = choice_argument(..., values=InitiativeStatus,
                                                    help="The initiative's status now."),
                      effective: str | None = EFFECTIVE,
                      reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Set an initiative's status."""
    st = state(ctx)
    i = st.ledger.set_initiative_status(key, status, reason, effective=when(st, effective))
    done(ctx, as_json, f"initiative {i.key} is now {i.status}", {"key": i.key,
                                                                  "status": i.status},
         in_force=in_force(i, effective))


def register(app: typer.Typer) -> None:
    """Add the plan commands to the root app."""
    app.add_typer(cycle_app, name="cycle")
    app.add_typer(objective_app, name="objective")
    app.add_typer(kr_app, name="kr")
    app.add_typer(initiative_app, name="initiative")
