"""Failures are told apart by their class, never by the module a class lives in or the
modules loaded: the services' retry line and the CLI's one line name the party at fault;
DuckDB's failures come out of the projection as classes (QueryFailed, ProjectionUnavailable,
ProjectionLocked) with DuckDB's own line and its error as the cause."""

import subprocess
import sys
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError, PersistenceError

from okr.adapters.kafka_client import KafkaError
from okr.adapters.local_broker import BrokerError
from okr.cli.failures import translate
from okr.cli.services import _trouble
from okr.errors import (
    UNAVAILABLE,
    KafkaUnavailable,
    ProjectionUnavailable,
    StoreUnavailable,
    exit_code,
)
from okr.ledger.app import SaveUnconfirmed
from okr.projections.readonly import QueryFailed
from okr.projections.store import Projection, ProjectionLocked


@pytest.mark.parametrize(("exc", "party"), [
    (PersistenceError("disk I/O error"), "event store trouble"),
    (OperationalError("server closed the connection"), "event store trouble"),
    (SaveUnconfirmed("the connection broke while saving"), "event store trouble"),
    (ProjectionLocked("Could not set lock on file"), "projection file busy"),
    (KafkaError("NoBrokersAvailable"), "Kafka trouble"),
    (ConnectionRefusedError(111, "Connection refused"), "Kafka trouble"),
])
def test_a_retried_failure_names_its_party_by_class(exc: Exception, party: str) -> None:
    assert _trouble(exc) == party


def test_a_failure_of_ours_is_not_taken_for_the_stores_by_where_it_lives() -> None:
    class Elsewhere(RuntimeError):
        pass

    Elsewhere.__module__ = "eventsourcing.persistence"  # what module sniffing looked at
    assert _trouble(Elsewhere("x")) == "Kafka trouble"


def test_duckdb_refusing_a_query_is_a_query_failed_with_its_own_line(tmp_path: Path) -> None:
    with Projection(tmp_path / "p.duckdb") as proj:
        for sql, said in [("SELEC 1", "syntax error"),
                          ("SELECT * FROM no_such_table", "no_such_table"),
                          ("SELECT 1/'a'", "")]:
            with pytest.raises(QueryFailed) as exc:
                proj.query(sql)
            message = str(exc.value)
            assert said in message and "\n" not in message and message, sql
            assert type(exc.value.__cause__).__module__.startswith(("duckdb", "_duckdb"))
        assert proj.query("SELECT 42 AS answer") == (["answer"], [(42,)])


def test_a_damaged_projection_file_is_unavailable_with_duckdbs_line(tmp_path: Path) -> None:
    damaged = tmp_path / "p.duckdb"
    damaged.write_bytes(b"not a DuckDB file " * 500)
    with pytest.raises(ProjectionUnavailable) as exc:
        Projection(damaged, read_only=True)
    assert "not a valid DuckDB database file" in str(exc.value) and "\n" not in str(exc.value)
    assert type(exc.value.__cause__).__module__.startswith(("duckdb", "_duckdb"))
    assert translate(exc.value) is exc.value and exit_code(exc.value) == UNAVAILABLE


@pytest.mark.parametrize(("exc", "cls"), [
    (ProjectionLocked("Could not set lock on file"), ProjectionUnavailable),
    (BrokerError("the local broker is not running (okr broker start)"), KafkaUnavailable),
    (KafkaError("NoBrokersAvailable"), KafkaUnavailable),
    (PersistenceError("database is locked"), StoreUnavailable),
])
def test_the_cli_maps_each_class_to_its_party_and_exit_code(exc: Exception,
                                                             cls: type[Exception]) -> None:
    known = translate(exc)
    assert isinstance(known, cls) and exit_code(known) == UNAVAILABLE
    assert "\n" not in str(known)


def test_telling_a_projection_failure_apart_loads_neither_duckdb_nor_kafka() -> None:
    code = ("import sys\n"
            "from okr.cli.failures import translate\n"
            "from okr.errors import ProjectionUnavailable\n"
            "from okr.projections.errors import ProjectionLocked\n"
            "for e in (ProjectionUnavailable('x'), ProjectionLocked('y')):\n"
            "    assert translate(e) is not None\n"
            "print(sorted(m for m in ('duckdb', 'kafka') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"
