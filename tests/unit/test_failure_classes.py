"""Failures are told apart by their class, never by the module a class lives in: the
services' retry line names the party at fault, and DuckDB's refusal of a query comes out of
the projection as QueryFailed with DuckDB's own one-line message."""

from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError, PersistenceError

from okr.adapters.kafka_client import KafkaError
from okr.cli.services import _trouble
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
