"""What loading a batch costs DuckDB in memory: the batch's share, not the history's.

The consumer opens its work file with a memory limit (192 MB); an operation that needs memory
in proportion to the events already stored runs out of it once the history is long enough
(it did at 620,000 events with 96 MB: the dedupe built a hash table over every stored event).
"""

from datetime import UTC, datetime
from pathlib import Path

from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.support.clock import recording_at

STORED = 600_000  # events already in the file: far more than the limit holds as a hash table
LIMIT = "24MB"


def _store_many(proj: Projection, n: int) -> None:
    """n stored check-ins of n aggregates (the events table's columns, written by SQL)."""
    proj.con.execute(f"""
        INSERT INTO events
        SELECT i AS position, uuid()::VARCHAR AS event_id, 'CheckInRecorded' AS type,
               'key_result' AS aggregate_type, uuid()::VARCHAR AS aggregate_id, 1 AS version,
               TIMESTAMPTZ '2026-01-01 00:00:00+00' AS recorded_at,
               TIMESTAMPTZ '2026-01-01 00:00:00+00' AS effective_at, 'ana' AS actor,
               NULL AS on_behalf_of, NULL AS reason,
               '{{"value":1.0,"confidence":null,"note":null}}'::JSON AS data,
               repeat('0', 64) AS prev_hash, repeat('1', 64) AS hash,
               0 AS kafka_partition, i AS kafka_offset
        FROM range(1, {n + 1}) t(i)""")
    proj.con.execute("CHECKPOINT")


def test_a_batch_loads_within_a_small_memory_limit_after_a_long_history(tmp_path: Path) -> None:
    app = OkrLedger(load_settings({"home": tmp_path / "home"}))
    with recording_at(lambda: datetime(2026, 10, 2, tzinfo=UTC)):  # any day: a pinned clock
        app.add_cycle("2026-Q4")
        app.add_objective("o1", "Grow revenue", cycle="2026-Q4", owner="ana")
        app.add_key_result("k1", "Signups", objective="o1", start=0, target=40)
        for value in range(1, 6):
            app.check_in("k1", value)
    records = [e.to_bytes() for e in chained(app)]
    app.close()
    path = tmp_path / "work.duckdb"
    with Projection(path) as proj:
        _store_many(proj, STORED)
    with Projection(path, memory_limit=LIMIT) as proj:
        batch = [ConsumedRecord(raw, 0, i) for i, raw in enumerate(records)]
        assert proj.apply("okr.ledger", batch, {0: len(records)}) == len(records)
        # the same batch again: every record is a duplicate, found without loading the history
        assert proj.apply("okr.ledger", batch, {0: len(records)}) == 0
        _, rows = proj.query("SELECT count(*) FROM check_ins WHERE key_result = 'k1'")
        assert rows == [(5,)]
        assert proj.event_count() == STORED + len(records)
