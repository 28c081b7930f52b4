"""Which ledger a data directory serves.

Everything a data directory holds besides a SQLite store — the DuckDB projection, the local
broker's topics, the relay's own checkpoints, the consumer's offsets — is derived from one
ledger. Its file `ledger.json` records that ledger's identity (adapters/event_store.ledger_id:
made of its first event, so a backup restored or a copy is the same ledger) and where its store
was, and a data directory is never used with a store that holds another
ledger, or none: that would show one ledger's scorecards while writes go to another, and make
the audit cry tampering where nothing was tampered with.
"""

import json
from collections.abc import Callable
from typing import Any

from okr.errors import BadInput
from okr.settings import Settings

FILE = "ledger.json"
# How the identity in FILE was made: a hash of the ledger's first event
# (adapters/event_store.ledger_id), the same for every copy of the ledger.
# ("first-event", which hashed the whole first event, is bound again: an edit of that event
# made the data directory refuse its own store.)
IDENTITY = "first-event-recorded"


class OtherLedger(BadInput):
    """The data directory serves another ledger than the configured event store holds."""


def store_said(settings: Settings) -> str:
    """The configured event store, as a person recognises it."""
    if settings.store == "sqlite":
        return f"sqlite {settings.event_store_path}"
    return (f"postgres schema {settings.postgres_schema_used} of database "
            f"{settings.postgres_dbname} on {settings.postgres_host}:{settings.postgres_port}")


def bound(settings: Settings) -> dict[str, Any] | None:
    """What the data directory records of its ledger (None: nothing yet, as a data directory
    of an older version, or a new one)."""
    try:
        doc = json.loads((settings.home / FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OtherLedger(f"{settings.home / FILE} cannot be read ({exc}); it says which "
                          "ledger this data directory serves: restore it, or use another "
                          "data directory (--home, OKR_HOME)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ledger"), str):
        raise OtherLedger(f"{settings.home / FILE} is not what okr wrote there; it says which "
                          "ledger this data directory serves: restore it, or use another "
                          "data directory (--home, OKR_HOME)")
    return doc


def bind(settings: Settings, ledger_id: str) -> None:
    """Record that the data directory serves this ledger (private, whole or not at all)."""
    from okr.files import new_file

    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    doc = {"ledger": ledger_id, "identity": IDENTITY, "store": store_said(settings)}
    with new_file(settings.home / FILE) as tmp:
        tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")


def holds_projection(settings: Settings) -> bool:
    """Whether the data directory holds a projection already (of some ledger)."""
    return any(p.exists() for p in (settings.duckdb_file, settings.projection_work_file,
                                    settings.legacy_work_file))


def adopt_new(settings: Settings, ledger_id: str) -> None:
    """Record the ledger of a store just opened (or just given its first event) in a data
    directory that exists, serves none yet and holds no projection (a new one; an unreadable
    record is left for `check` to say): nothing there is of another ledger."""
    if not settings.home.is_dir() or holds_projection(settings):
        return
    try:
        if _served(settings) is None:
            bind(settings, ledger_id)
    except (OtherLedger, OSError):
        return


def _served(settings: Settings) -> dict[str, Any] | None:
    """`bound`, where a record of an identity made another way before (a random one kept in the
    store's okr_ledger table, or a hash of the whole first event; never released: another
    IDENTITY or none) counts as none: such a directory is bound again like one of an older
    version."""
    mine = bound(settings)
    return mine if mine is not None and mine.get("identity") == IDENTITY else None


def way_out(settings: Settings) -> str:
    """What to do about a data directory that is not of the configured store's ledger."""
    aside = ""
    if settings.store == "sqlite" and settings.event_store_path.is_file() \
            and not settings.kafka_bootstrap_servers:  # a local broker: its topics go with it
        aside = (f", or, for this directory to serve the ledger in "
                 f"{settings.event_store_path.name}, stop its broker (okr broker stop) and move "
                 f"everything but {settings.event_store_path.name} out of it (its projection is "
                 "then built again from the store)")
    return ("use the data directory of that ledger, or a new one (--home / OKR_HOME; its "
            "projection is built from the store), or configure the store this one serves again "
            f"(OKR_STORE, POSTGRES_SCHEMA, …){aside}; nothing was written")


def check(settings: Settings, ledger_id: str | None,
          projection_agrees: Callable[[], bool] | None = None) -> None:
    """Refuse (OtherLedger, one line) a data directory that serves another ledger than the
    store's (`ledger_id`: None where the store holds none yet, '' where it cannot tell); record
    the store's ledger in one that serves none yet. A data directory of an older version
    already holds a projection: it is taken to serve the store's ledger only if
    `projection_agrees` says its projection is of that ledger."""
    if ledger_id == "":
        return
    mine = _served(settings)
    if mine is None:
        if ledger_id is None:  # no ledger yet: bound on its first event (OkrLedger.save)
            return
        if holds_projection(settings) and projection_agrees is not None \
                and not projection_agrees():
            raise OtherLedger(
                f"this data directory ({settings.home}) holds the projection of another ledger "
                f"than the store configured now, ledger {ledger_id} ({store_said(settings)}): "
                + way_out(settings))
        bind(settings, ledger_id)
        return
    if mine["ledger"] == ledger_id:
        return
    now = (f"holds no ledger yet ({store_said(settings)})" if ledger_id is None
           else f"is ledger {ledger_id} ({store_said(settings)})")
    raise OtherLedger(
        f"this data directory ({settings.home}) holds the projection of ledger "
        f"{mine['ledger']} ({mine.get('store', '?')}); the store configured now {now}: "
        + way_out(settings))
