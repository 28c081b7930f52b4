"""Failures as one line and an exit code: the libraries' exceptions translated into okr's.

The exit codes and their classes are in okr/errors.py (one table). This module only turns
what a library or the OS raised at the edge into one of them, naming the party that failed
and what to do; an exception it does not know is a bug and keeps its traceback. Libraries are
consulted only when already imported, so a failure never imports Kafka or DuckDB.
"""

import sys

from okr.cli.output import first_line
from okr.errors import (
    BadInput,
    DataDirUnavailable,
    KafkaUnavailable,
    OkrError,
    ProjectionUnavailable,
    StoreUnavailable,
)


def _os_error(exc: OSError) -> OkrError:
    where = f" {exc.filename}" if exc.filename else ""
    reason = exc.strerror or first_line(exc)
    return DataDirUnavailable(f"data directory not usable ({reason}:{where}); check that it "
                              "exists and that this user may read and write it (--home, "
                              "OKR_HOME); nothing was written")


def _store_failure(exc: BaseException) -> OkrError:
    from okr.ledger.app import SaveUnconfirmed
    if isinstance(exc, SaveUnconfirmed):  # it may have been written: say exactly that
        return StoreUnavailable(first_line(exc))
    return StoreUnavailable(f"event store unavailable or failing ({first_line(exc)}); check "
                            "that it runs and the OKR_STORE / POSTGRES_* settings; nothing "
                            "was written")


def translate(exc: BaseException) -> OkrError | None:
    """okr's failure for `exc` (itself if it already is one), or None for a bug."""
    from okr.cli.errors import UserError
    from okr.domain.errors import DomainError
    from okr.settings import SettingsError

    if isinstance(exc, OkrError):
        return exc
    if isinstance(exc, DomainError | UserError | SettingsError):
        return BadInput(str(exc))
    if "eventsourcing.persistence" in sys.modules:
        from eventsourcing.persistence import PersistenceError
        if isinstance(exc, PersistenceError):
            return _store_failure(exc)
    if "sqlite3" in sys.modules:  # only the event store is a SQLite file
        from okr.adapters.event_store import failure
        known = failure(exc)
        if known is not None:
            return known
    if "kafka" in sys.modules:  # e.g. okr consume --once / ingest --once with Kafka away
        from okr.adapters.kafka_client import KafkaError
        from okr.adapters.local_broker import BrokerError
        if isinstance(exc, KafkaError | BrokerError):
            return KafkaUnavailable(f"Kafka unreachable or failing ({first_line(exc)}); start "
                                    "it ('okr broker start', or check "
                                    "KAFKA_BOOTSTRAP_SERVERS) and try again")
    if "okr.projections.store" in sys.modules:
        from okr.projections.store import ProjectionLocked
        if isinstance(exc, ProjectionLocked):
            return ProjectionUnavailable(f"the projection's work file stayed locked by another "
                                         f"process ({first_line(exc)}); nothing was changed, "
                                         "try again")
    duckdb_io = getattr(sys.modules.get("duckdb"), "IOException", None)
    if duckdb_io is not None and isinstance(exc, duckdb_io):
        return ProjectionUnavailable(f"the DuckDB projection cannot be opened or written "
                                     f"({first_line(exc)}); check the data directory's "
                                     "permissions and free space, then try again")
    if isinstance(exc, PermissionError | FileNotFoundError | NotADirectoryError
                  | IsADirectoryError | FileExistsError) or (
            isinstance(exc, OSError) and exc.errno in (28, 30, 122)):  # full, read-only, quota
        return _os_error(exc)
    return None
