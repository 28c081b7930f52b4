"""Measurement commands: key-result check-ins, and KPIs with their readings."""


import typer

from okr.cli.commands import Typer, choice, completer
from okr.cli.context import state, want_json
from okr.cli.errors import UserError
from okr.cli.kpis import KPI_STATUSES
from okr.cli.kpis import STATUS_HELP as KPI_STATUS_HELP
from okr.cli.output import amount, emit, format_option, table_format
from okr.cli.writes import JSON, REASON, done, in_force, number, opt_number, said, warn, when
from okr.domain.vocab import Cadence, Direction

TAGS = ("leading", "lagging", "guardrail")  # suggested; a tag is any word

kpi_app = Typer(help="KPIs: add, update, record a reading, retire.", no_args_is_help=True)


# ---- check-ins --------------------------------------------------------------------------

def checkin(ctx: typer.Context, kr: str = typer.Argument(..., help="Key result key."),
            value: str = typer.Argument(..., help="The value now (or at --at)."),
            confidence: str | None = typer.Option(None, help="0–1: how sure the target "
                                                  "will be hit."),
            note: str = typer.Option("", help="What happened."),
            at: str | None = typer.Option(None, help="Effective time (local; default now; a date "
                                         "alone means the start of that day)."),
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
    c = res.last_check_in
    assert c is not None  # the check-in just recorded
    done(ctx, as_json, f"check-in on {res.key}: {amount(val, res.unit)}, effective "
         f"{said(st, c['effective_at'])}",
         {"key": res.key, "value": val, "confidence": conf, "note": c["note"],
          "effective_at": c["effective_at"], "source": c["source"]})


# ---- KPIs -------------------------------------------------------------------------------

@kpi_app.write("add", starts_ledger=True)
def kpi_add(ctx: typer.Context, key: str, name: str, unit: str = typer.Option(""),
            direction: str = choice("up", "--direction", values=Direction,
                                    help="up: higher is better; down: lower is better."),
            target: str | None = None,
            green: str = typer.Option(..., help="Green from this value on."),
            red: str = typer.Option(..., help="Red beyond this value."),
            cadence: str = choice("weekly", "--cadence", values=Cadence,
                                  help="How often a reading is due (stale after that)."),
            tag: list[str] = typer.Option([], "--tag", help="Any word (repeatable); "
                                          "leading, lagging and guardrail are usual.",
                                          autocompletion=completer(TAGS)),
            owner: str | None = None,
            effective: str | None = typer.Option(
                None, "--effective", help="When it was defined, if before now (local; a date "
                "alone means the start of that day): readings back-dated to then count in "
                "as-of views. Needs --reason."),
            reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Define a KPI."""
    st = state(ctx)
    k = st.ledger.add_kpi(
        key, name, unit=unit, direction=direction, target=opt_number(target, "target"),
        green=number(green, "green"), red=number(red, "red"), cadence=cadence, tags=tag,
        owner=owner, effective=when(st, effective), reason=reason)
    done(ctx, as_json, f"KPI {k.key} added: {k.name} ({k.direction}, {k.cadence})",
         {"key": k.key, **k.definition()}, in_force=in_force(k, effective))


@kpi_app.write("update")
def kpi_update(ctx: typer.Context, key: str, name: str | None = None, unit: str | None = None,
               direction: str | None = choice(None, "--direction", values=Direction),
               target: str | None = None,
               green: str | None = None, red: str | None = None,
               cadence: str | None = choice(None, "--cadence", values=Cadence),
               tag: list[str] = typer.Option([], "--tag", help="Replace the tags.",
                                             autocompletion=completer(TAGS)),
               owner: str | None = None, reason: str | None = REASON,
               as_json: bool = JSON) -> None:
    """Change a KPI's definition."""
    from okr.cli.writes import kpi_changes

    changes = kpi_changes(name=name, unit=unit, direction=direction, cadence=cadence,
                          owner=owner, target=opt_number(target, "target"),
                          green=opt_number(green, "green"), red=opt_number(red, "red"),
                          tags=tag)
    k = state(ctx).ledger.update_kpi(key, changes, reason)
    done(ctx, as_json, f"KPI {k.key} updated", {"key": k.key, **k.definition()})


@kpi_app.write("record")
def kpi_record(ctx: typer.Context, key: str, value: str,
               at: str | None = typer.Option(None, help="Observed at (local; default now)."),
               source: str = typer.Option("manual", help="Where the value came from."),
               reading_id: str | None = typer.Option(None, "--id", help="Idempotency id."),
               as_json: bool = JSON) -> None:
    """Record a KPI reading (one observed before the KPI was in force is recorded with a
    warning: it counts in no as-of view)."""
    from okr.domain.notices import early_reading

    st = state(ctx)
    val = number(value, "value")
    observed = when(st, at)
    new = st.ledger.record_reading(key, val, observed, source, reading_id)
    k = st.ledger.kpi(key)
    # The reading just recorded, or (an id seen before) the one recorded under that id then.
    r = (k.last_recorded if new or reading_id is None
         else st.ledger.reading_of(k)(k.reading_ids[reading_id]))
    assert r is not None
    text = (f"KPI {key}: {amount(val, k.unit)} observed {said(st, r['observed_at'])}" if new
            else f"KPI {key}: reading {reading_id} was already recorded; nothing written")
    notice = early_reading(k, r["observed_at"])
    early = notice is not None
    if new and notice is not None:  # recorded, but no view as of a time will show it: say so
        warn(st, notice)
    done(ctx, as_json, text, {"key": key, "value": val, "observed_at": r["observed_at"],
                              "recorded": new, "before_in_force": early})


@kpi_app.write("retire")
def kpi_retire(ctx: typer.Context, key: str, reason: str | None = REASON,
               as_json: bool = JSON) -> None:
    """Retire a KPI (its history stays)."""
    k = state(ctx).ledger.retire_kpi(key, reason)
    done(ctx, as_json, f"KPI {k.key} retired", {"key": k.key, "retired": True})


@kpi_app.command("list")
def kpi_list(ctx: typer.Context, all_: bool = typer.Option(False, "--all",
                                                          help="Include retired KPIs."),
             owner: str | None = typer.Option(None, "--owner", help="Only this owner's."),
             status: str | None = choice(None, "--status", values=KPI_STATUSES,
                                         help=KPI_STATUS_HELP),
             fmt: str | None = format_option(), as_json: bool = JSON) -> None:
    """Every KPI with its latest value, trend, health and staleness (read from the ledger,
    now; `okr list kpis` gives the same from the projection, also at past instants)."""
    from okr.cli.kpis import kpi_rows, kpi_table
    from okr.domain.base import utc_now
    from okr.ledger.views import kpi_list as listing

    st = state(ctx)
    st.reading = True
    fmt = table_format(fmt, want_json(ctx, as_json))
    rows = kpi_rows(listing(st.ledger, utc_now()), all_=all_, owner=owner, status=status)
    emit(rows, fmt == "json", lambda: kpi_table(st, rows, fmt))


def register(app: typer.Typer) -> None:
    """Add `checkin` and the KPI commands to the root app."""
    app.write("checkin")(checkin)
    app.add_typer(kpi_app, name="kpi")
