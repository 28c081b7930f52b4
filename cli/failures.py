"""Failures as one line and an exit code: the libraries' exceptions translated into okr's.

The exit codes and their classes are in okr/errors.py (one table). This module only turns
what a library or the OS raised at the edge into one of them, naming the party that failed
and what to do; an exception it does not know is a bug and keeps its traceback. Failures are
told apart by class: the adapters raise okr's own (the projection's ProjectionUnavailable)
or classes that load no library (projections/errors.ProjectionLocked,
adapters/local_broker.BrokerError), or translate their library's
(adapters/event_store.failure); kafka-python's own errors are its classes, asked last.
"""

from typing import TYPE_CHECKING

from okr.cli.output import first_line
from okr.errors import (
    BadInput,
    DataDirUnavailable,
    KafkaUnavailable,
    OkrError,
    ProjectionUnavailable,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from okr.domain.errors import DomainError


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


def _said_here(exc: "DomainError") -> str:
    """A refusal's message with its times in the person's zone, or in UTC when that zone
    cannot be read (the message must still be said)."""
    from okr.cli.times import said_briefly
    try:
        return exc.said(said_briefly)
    except BadInput:  # OKR_TZ names no zone: str() says the times in UTC
        return str(exc)


def translate(exc: BaseException) -> OkrError | None:
    """okr's failure for `exc` (itself if it already is one), or None for a bug."""
    from okr.cli.errors import UserError
    from okr.domain.errors import DomainError
    from okr.settings import SettingsError

    if isinstance(exc, OkrError):
        return exc
    if isinstance(exc, DomainError):  # its times said in the person's zone (OKR_TZ)
        return BadInput(_said_here(exc))
    if isinstance(exc, UserError | SettingsError):
        return BadInput(str(exc))
    from eventsourcing.persistence import PersistenceError

    from okr.adapters.event_store import failure
    from okr.adapters.local_broker import BrokerError
    from okr.projections.errors import ProjectionLocked

    if isinstance(exc, PersistenceError):
        return _store_failure(exc)
    known = failure(exc)  # the SQLite driver's, about the event store file
    if known is not None:
        return known
    if isinstance(exc, ProjectionLocked):
        return ProjectionUnavailable(f"the projection's work file stayed locked by another "
                                     f"process ({first_line(exc)}); nothing was changed, "
                                     "try again")
    if isinstance(exc, PermissionError | FileNotFoundError | NotADirectoryError
                  | IsADirectoryError | FileExistsError) or (
            isinstance(exc, OSError) and exc.errno in (28, 30, 122)):  # full, read-only, quota
        return _os_error(exc)
    # Last: kafka-python's classes load kafka-python (a third of a second), paid only by a
    # failure nothing above knows.
    from okr.adapters.kafka_client import KafkaError
    if isinstance(exc, BrokerError | KafkaError):
        return KafkaUnavailable(f"Kafka unreachable or failing ({first_line(exc)}); start "
                                "it ('okr broker start', or check "
                                "KAFKA_BOOTSTRAP_SERVERS) and try again")
    return None
