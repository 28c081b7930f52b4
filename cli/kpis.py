"""KPI listings: what `okr kpi list` (from the ledger) and `okr list kpis` (from the
projection, at any instant) share — the status filter and the table."""

from typing import Any

from okr.cli.context import State
from okr.cli.errors import UserError
from okr.cli.output import NONE, amount
from okr.cli.writes import said
from okr.domain.numbers import figure

KPI_STATUSES = ("green", "amber", "red", "no-data", "stale")
STATUS_HELP = ("Only KPIs whose health is green, amber or red, that have no reading yet "
               "(no-data), or whose latest reading is older than their cadence (stale).")


def check_kpi_status(status: str | None) -> None:
    """A one-line error for a --status that is not one of KPI_STATUSES."""
    if status is not None and status not in KPI_STATUSES:
        raise UserError(f"--status {status!r} is not one of: {', '.join(KPI_STATUSES)} "
                        "(for KPIs)")


def kpi_rows(rows: list[dict[str, Any]], *, all_: bool, owner: str | None,
             status: str | None) -> list[dict[str, Any]]:
    """The KPIs a listing shows: retired ones only with `all_`, then by owner and status."""
    check_kpi_status(status)
    return [r for r in rows if (all_ or not r["retired"])
            and (owner is None or r["owner"] == owner)
            and (status is None or (r["stale"] if status == "stale"
                                    else (r["health"] or "no-data") == status))]


def kpi_table(st: State, rows: list[dict[str, Any]], fmt: str) -> None:
    """KPI rows (as ledger.views.kpi_list shapes them) as a table, TSV or CSV."""
    from okr.cli.output import print_table, styled  # rich: only when a table is printed

    def trend(r: dict[str, Any]) -> str:
        """The arrow the way the value moved, the word whether that is good for the KPI."""
        if r["trend"] in (None, "flat"):
            return "→ flat" if r["trend"] else NONE
        rose = (r["trend"] == "better") == (r["direction"] == "up")
        return f"{'↗' if rose else '↘'} {r['trend']}"

    if fmt == "csv":  # plain data: the value a number, its unit, time and staleness apart
        from okr.cli.output import datum
        print_table(["KPI", "name", "latest", "unit", "observed", "trend", "health", "stale",
                     "cadence"],
                    [[r["key"], r["name"], "" if r["value"] is None else figure(r["value"]),
                      r["unit"], "" if r["observed_at"] is None else datum(r["observed_at"]),
                      r["trend"] or "", r["health"] or "", str(bool(r["stale"])).lower(),
                      r["cadence"]] for r in rows], fmt)
        return
    colours = {"green": "green", "amber": "yellow", "red": "red", None: "dim"}
    print_table(["KPI", "name", "latest", "observed", "trend", "health", "cadence"],
                [[r["key"], r["name"], amount(r["value"], r["unit"]),
                  NONE if r["observed_at"] is None else said(st, r["observed_at"]),
                  trend(r),
                  styled((r["health"] or "no data", colours[r["health"]]),
                         *([(" STALE", "bold red")] if r["stale"] else [])),
                  r["cadence"]] for r in rows], fmt)
