"""What the read commands answer, as data — their `--json` — apart from how they print it:
`okr list …`, `okr show` and `okr due` here, used by those commands and by the web API's reads
(web/api_reads.py), so both say the same. Bad filters are the commands' one-line errors."""

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from okr.cli.errors import UserError
from okr.domain.errors import NotFound

T = TypeVar("T")

# The statuses each kind has (domain/vocab.py): a cycle's lifecycle, an objective's and an
# initiative's, and a key result's track against its expected progress.
CYCLE_STATUSES = ("planning", "committed", "closed")
OBJECTIVE_STATUSES = ("active", "achieved", "missed", "abandoned")
KR_STATUSES = ("on-track", "at-risk", "off-track", "final")
INITIATIVE_STATUSES = ("planned", "in-progress", "done", "dropped")


def _check_status(status: str | None, words: tuple[str, ...], kind: str) -> None:
    if status is not None and status not in words:
        raise UserError(f"--status {status!r} is not one of: {', '.join(words)} (for {kind})")


STATUSES = {"cycles": CYCLE_STATUSES, "objectives": OBJECTIVE_STATUSES,
            "key results": KR_STATUSES, "initiatives": INITIATIVE_STATUSES}


def check_status(kind: str, status: str | None) -> None:
    """A one-line error for a --status the listing of `kind` does not know (before reading)."""
    if kind == "kpis":
        from okr.cli.kpis import check_kpi_status
        check_kpi_status(status)
    else:
        _check_status(status, STATUSES[kind], kind)


class CycleNotFound(NotFound):
    """A cycle the view read does not hold (not added, not yet known, not yet begun)."""

    def __init__(self, key: str, *, listed: bool = True) -> None:
        """`listed`: say that `okr list cycles` lists them (a filter's refusal)."""
        self.key = key
        super().__init__(f"cycle {key!r} not found" + (
            " (at that time); 'okr list cycles' lists them" if listed else ""))


def known_cycle_key(proj: Any, cycle: str | None, a: datetime, k: datetime) -> str | None:
    """The canonical key of the --cycle filter; for a cycle not there, NotFound in one line
    (the CLI: exit 2; the API: 404) — never an empty answer, as if the cycle were empty."""
    if cycle is None:
        return None
    from okr.domain.periods import canonical_cycle_key
    key = canonical_cycle_key(cycle)
    if key not in {c["key"] for c in proj.listing_at("cycles", a, k)}:
        raise CycleNotFound(key)
    return key


def in_view(read: Callable[[], T], a: datetime, k: datetime, zone: str | None,
            past: bool) -> T:
    """`read()`; in a `past` view (an as-of or known-at given) its NotFound names the
    instants the view read, as the web pages say them: "… not found as of <local> (<UTC>),
    as known at <local> (<UTC>)" — the item exists now, maybe, but not in that view."""
    try:
        return read()
    except NotFound as exc:
        if not past:
            raise
        raise not_in_view(exc, a, k, zone) from None


def not_in_view(exc: NotFound, a: datetime, k: datetime, zone: str | None) -> NotFound:
    """`exc` saying the view's instants (the person's zone, UTC beside)."""
    from okr.cli.times import say
    view = f" as of {say(a, zone)}, as known at {say(k, zone)}"
    if isinstance(exc, CycleNotFound):  # the hint: a listing of the same view, not of now
        return NotFound(f"cycle {exc.key!r} not found{view}; 'okr list cycles' with the same "
                        "--as-of and --known-at lists the cycles of that view")
    return NotFound(exc.template + view, **exc.values)


def _cards(proj: Any, a: datetime, k: datetime, cycle: str | None, team: str | None,
           owner: str | None) -> list[dict[str, Any]]:
    """The scorecard of the objectives of that --cycle, --team and --owner (None: any;
    filtered inside the SQL, so only they are scored), with each objective and key result's
    `carried_from` (the item of an earlier cycle it was carried forward from, or None)."""
    key = known_cycle_key(proj, cycle, a, k)
    origin = proj.carried_from()
    cards: list[dict[str, Any]] = proj.scorecard_at(a, k, cycle=key, team=team, owner=owner)
    for c in cards:
        c["carried_from"] = origin.get(("objective", c["key"]))
        for kr in c["key_results"]:
            kr["carried_from"] = origin.get(("key_result", kr["key"]))
    return cards


def cycle_items(p: Any, a: datetime, k: datetime, status: str | None) -> list[dict[str, Any]]:
    return [r for r in p.listing_at("cycles", a, k) if status is None or r["status"] == status]


def objective_items(p: Any, a: datetime, k: datetime, cycle: str | None, team: str | None,
                    owner: str | None, status: str | None) -> list[dict[str, Any]]:
    return [{name: v for name, v in c.items() if name != "key_results"}
            | {"key_results": len(c["key_results"])}
            for c in _cards(p, a, k, cycle, team, owner)
            if status is None or c["status"] == status]


def kr_items(p: Any, a: datetime, k: datetime, cycle: str | None, team: str | None,
             owner: str | None, status: str | None) -> list[dict[str, Any]]:
    return [kr | {"cycle": c["cycle"], "owner": c["owner"], "team": c["team"]}
            for c in _cards(p, a, k, cycle, team, owner) for kr in c["key_results"]
            if status is None or kr["status"] == status]


def initiative_items(p: Any, a: datetime, k: datetime, cycle: str | None, team: str | None,
                     owner: str | None, status: str | None) -> list[dict[str, Any]]:
    key = known_cycle_key(p, cycle, a, k)
    return [r for r in p.listing_at("initiatives", a, k) if (key is None or r["cycle"] == key)
            and (team is None or r["team"] == team) and (owner is None or r["owner"] == owner)
            and (status is None or r["status"] == status)]


def kpi_items(p: Any, a: datetime, k: datetime, all_: bool, owner: str | None,
              status: str | None) -> list[dict[str, Any]]:
    from okr.cli.kpis import kpi_rows

    return kpi_rows([{"kind": "kpi", **r} for r in p.listing_at("kpis", a, k)], all_=all_,
                    owner=owner, status=status)



# ---- okr show, okr due ------------------------------------------------------------------

KIND_NAMES = {"cycle": "cycle", "objective": "objective", "kr": "key_result",
              "key-result": "key_result", "initiative": "initiative", "kpi": "kpi"}


def show_data(ledger: Any, key: str, kind: str | None) -> dict[str, Any]:
    """What `okr show KEY [--kind]` shows (GET /api/v1/items/KEY too), read from the ledger
    now; a one-line error when nothing or several kinds have the key."""
    from okr.domain.base import utc_now
    from okr.ledger import views

    kinds = list(KIND_NAMES.values()) if kind is None else [KIND_NAMES.get(kind, "")]
    if "" in kinds:
        raise UserError(f"--kind {kind!r} is not one of: {', '.join(KIND_NAMES)}")
    if kinds[0] == "cycle":
        from okr.domain.periods import canonical_cycle_key
        key = canonical_cycle_key(key)
    found = ledger.find(key, dict.fromkeys(kinds))
    if not found and kind is None:
        from okr.domain.periods import canonical_cycle_key
        found = ledger.find(canonical_cycle_key(key), ["cycle"])
    if not found:
        raise UserError(f"nothing has the key {key!r}")
    if len(found) > 1:
        raise UserError(f"{key!r} is a key of several kinds ({', '.join(k for k, _ in found)}); "
                        "add --kind")
    found_kind, agg = found[0]
    data: dict[str, Any] = views.view(ledger, found_kind, agg, utc_now())
    return data


def due_now(proj: Any, now: datetime, cadence: str, owner: str | None, team: str | None
            ) -> dict[str, Any]:
    """What `okr due --json` says (GET /api/v1/due too): the items due at `now`, by owner and
    team, the longest overdue first."""
    from okr.domain.due import due_items

    krs, kpis = proj.due_inputs(now)
    items = [i for i in due_items(krs, kpis, cadence, now)
             if (owner is None or i["owner"] == owner) and (team is None or team in i["teams"])]
    return {"now": now, "checkin_cadence": cadence, "items": items}


