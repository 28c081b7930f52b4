"""The DuckDB projection: the only module that imports duckdb.

`Projection.apply` loads one batch of envelopes (through Arrow) and, in the same transaction,
the derived rows and the consumed offsets: a batch is in the tables with its offsets or not at
all. Duplicates — the same (aggregate id, version) again — change nothing.

Version tables are rebuilt, per touched aggregate, from the `events` table with window
functions, so they are a pure function of the events and cannot drift from them.
"""

import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from okr.domain.history import CREATED, Fact
from okr.ledger.envelope import Envelope, canonical_json, revive_data

SCHEMA_VERSION = 1
READINGS = ("CheckInRecorded", "KpiReadingRecorded")


@dataclass(frozen=True)
class Versioned:
    """A bitemporal version table: one row per structural event, the state after it."""

    table: str
    aggregate_type: str
    fields: tuple[tuple[str, str], ...]  # (column, DuckDB type), taken from `data` when present
    overrides: tuple[tuple[str, str], ...] = ()  # column → JSON expression per event
    flags: tuple[tuple[str, str], ...] = ()  # column → event type that sets it for good


PHASES = 'STRUCT("at" TIMESTAMPTZ, value DOUBLE)[]'
VERSIONED = (
    Versioned("cycle_versions", "cycle",
              (("key", "VARCHAR"), ("start", "TIMESTAMPTZ"), ("end", "TIMESTAMPTZ"))),
    Versioned("objective_versions", "objective",
              (("key", "VARCHAR"), ("title", "VARCHAR"), ("description", "VARCHAR"),
               ("cycle", "VARCHAR"), ("owner", "VARCHAR"), ("team", "VARCHAR"),
               ("level", "VARCHAR"), ("okr_type", "VARCHAR"), ("parent", "VARCHAR"),
               ("status", "VARCHAR")),
              (("status", "CASE WHEN type = 'ObjectiveAdded' THEN '\"active\"'::JSON "
                          "ELSE data->'$.status' END"),)),
    Versioned("key_result_versions", "key_result",
              (("key", "VARCHAR"), ("title", "VARCHAR"), ("objective", "VARCHAR"),
               ("cycle", "VARCHAR"), ("kind", "VARCHAR"), ("start", "DOUBLE"),
               ("target", "DOUBLE"), ("target_high", "DOUBLE"), ("unit", "VARCHAR"),
               ("weight", "DOUBLE"), ("phases", PHASES), ("kpi", "VARCHAR")),
              (("kpi", "CASE type WHEN 'KeyResultAdded' THEN 'null'::JSON WHEN 'KpiLinked' "
                       "THEN data->'$.kpi' WHEN 'KpiUnlinked' THEN 'null'::JSON END"),),
              (("removed", "KeyResultRemoved"),)),
    Versioned("initiative_versions", "initiative",
              (("key", "VARCHAR"), ("title", "VARCHAR"), ("key_result", "VARCHAR"),
               ("owner", "VARCHAR"), ("status", "VARCHAR")),
              (("status", "CASE WHEN type = 'InitiativeAdded' THEN '\"planned\"'::JSON "
                          "ELSE data->'$.status' END"),)),
    Versioned("kpi_versions", "kpi",
              (("key", "VARCHAR"), ("name", "VARCHAR"), ("unit", "VARCHAR"),
               ("direction", "VARCHAR"), ("target", "DOUBLE"), ("green", "DOUBLE"),
               ("red", "DOUBLE"), ("cadence", "VARCHAR"), ("tags", "VARCHAR[]"),
               ("owner", "VARCHAR")),
              (), (("retired", "KpiRetired"),)),
)
# Cycles: the status follows from the lifecycle events, so it is derived, not copied.
CYCLE_EXTRA = (("status", "VARCHAR"), ("committed_at", "TIMESTAMPTZ"))


def _cast(expr: str, typ: str) -> str:
    if typ == "VARCHAR":
        return f"json_extract_string({expr}, '$')"
    if typ == "TIMESTAMPTZ":
        return f"json_extract_string({expr}, '$')::TIMESTAMPTZ"
    if typ == "DOUBLE":
        return f"({expr})::DOUBLE"
    if typ == "VARCHAR[]":
        return f"from_json({expr}, '[\"VARCHAR\"]')"
    if typ == PHASES:
        return f"from_json({expr}, '[{{\"at\": \"TIMESTAMPTZ\", \"value\": \"DOUBLE\"}}]')"
    raise ValueError(typ)


def _columns(v: Versioned) -> list[tuple[str, str]]:
    cols = [("aggregate_id", "VARCHAR"), ("version", "INTEGER"), ("position", "BIGINT"),
            ("valid_from", "TIMESTAMPTZ"), ("valid_to", "TIMESTAMPTZ"), *v.fields,
            *((name, "BOOLEAN") for name, _ in v.flags)]
    if v.table == "cycle_versions":
        cols += CYCLE_EXTRA
    return [*cols, ("change", "VARCHAR"), ("plan_revision", "BOOLEAN"), ("actor", "VARCHAR"),
            ("reason", "VARCHAR")]


def _ddl(v: Versioned) -> str:
    cols = ", ".join(f'"{n}" {t}' for n, t in _columns(v))
    return f"CREATE TABLE IF NOT EXISTS {v.table} ({cols})"


def _rebuild(v: Versioned) -> str:
    """SQL that rebuilds the versions of the aggregates listed in temp table `touched`."""
    overrides = dict(v.overrides)
    window = "OVER (PARTITION BY aggregate_id ORDER BY version ROWS BETWEEN UNBOUNDED " \
             "PRECEDING AND CURRENT ROW)"
    picks = [f"last_value({overrides.get(n, f'data->{chr(39)}$.{n}{chr(39)}')} IGNORE NULLS) "
             f'{window} AS "j_{n}"' for n, _ in v.fields]
    picks += [f"bool_or(type = '{etype}') {window} AS \"{n}\"" for n, etype in v.flags]
    outs = [f'{_cast(f"j_{n}", t)} AS "{n}"' for n, t in v.fields]
    outs += [f'"{n}"' for n, _ in v.flags]
    if v.table == "cycle_versions":
        picks += [f"last_value(CASE WHEN type = 'PlanCommitted' THEN recorded_at END IGNORE "
                  f"NULLS) {window} AS committed_at",
                  f"last_value(CASE type WHEN 'CycleAdded' THEN 'planning' WHEN 'PlanCommitted' "
                  f"THEN 'committed' WHEN 'CycleClosed' THEN 'closed' WHEN 'CycleReopened' THEN "
                  f"'reopened' END IGNORE NULLS) {window} AS status_raw"]
        outs += ["CASE WHEN status_raw = 'reopened' THEN (CASE WHEN committed_at IS NULL THEN "
                 "'planning' ELSE 'committed' END) ELSE status_raw END AS status",
                 "committed_at"]
    skip = ", ".join(f"'{t}'" for t in READINGS)
    return (
        f"DELETE FROM {v.table} WHERE aggregate_id IN (SELECT aggregate_id FROM touched);\n"
        f"INSERT INTO {v.table} SELECT aggregate_id, version, position, recorded_at AS "
        f"valid_from, lead(recorded_at) OVER (PARTITION BY aggregate_id ORDER BY version) AS "
        f"valid_to, {', '.join(outs)}, type AS change, "
        f"(data->>'plan_revision')::BOOLEAN AS plan_revision, actor, reason FROM ("
        f"SELECT *, {', '.join(picks)} FROM events WHERE aggregate_type = '{v.aggregate_type}' "
        f"AND type NOT IN ({skip}) AND aggregate_id IN (SELECT aggregate_id FROM touched))")


_ARROW = pa.schema([
    ("position", pa.int64()), ("event_id", pa.string()), ("type", pa.string()),
    ("aggregate_type", pa.string()), ("aggregate_id", pa.string()), ("version", pa.int32()),
    ("recorded_at", pa.string()), ("effective_at", pa.string()), ("actor", pa.string()),
    ("reason", pa.string()), ("data", pa.string()), ("prev_hash", pa.string()),
    ("hash", pa.string()), ("kafka_partition", pa.int32()), ("kafka_offset", pa.int64()),
])
_CREATED = ", ".join(f"'{t}'" for t in sorted(CREATED))


@dataclass(frozen=True)
class Located:
    """An envelope and where it was read."""

    envelope: Envelope
    partition: int
    offset: int


class Projection:
    """One DuckDB file of projections. Open read-write (the consumer) or read-only (readers)."""

    def __init__(self, path: Path | str, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        if not read_only and self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(self.path, read_only=read_only)
        self.con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self._setup()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Projection":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- schema ------------------------------------------------------------------------

    def _setup(self) -> None:
        c = self.con
        c.execute("CREATE TABLE IF NOT EXISTS projection_meta (schema_version INTEGER)")
        row = c.execute("SELECT schema_version FROM projection_meta").fetchone()
        if row is not None and row[0] != SCHEMA_VERSION:
            self._drop_all()  # an older layout: rebuilt from Kafka from offset 0
        c.execute(_sql("schema.sql"))
        for v in VERSIONED:
            c.execute(_ddl(v))
        c.execute(_sql("macros.sql"))
        c.execute("DELETE FROM projection_meta")
        c.execute("INSERT INTO projection_meta VALUES (?)", [SCHEMA_VERSION])

    def _drop_all(self) -> None:
        for (name,) in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND table_name <> 'projection_meta'").fetchall():
            self.con.execute(f'DROP TABLE "{name}"')

    # ---- writing -----------------------------------------------------------------------

    def offsets(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition, as committed with the rows."""
        return dict(self.con.execute(
            "SELECT partition, next_offset FROM consumer_offsets WHERE topic = ?",
            [topic]).fetchall())

    def apply(self, topic: str, batch: Sequence[Located], offsets: dict[int, int]) -> int:
        """Load a batch and the next offsets in one transaction; returns new events stored."""
        c = self.con
        c.execute("BEGIN TRANSACTION")
        try:
            added = self._load(batch) if batch else 0
            for partition, next_offset in offsets.items():
                c.execute("INSERT INTO consumer_offsets VALUES (?, ?, ?, now()) ON CONFLICT "
                          "(topic, partition) DO UPDATE SET next_offset = excluded.next_offset, "
                          "updated_at = excluded.updated_at", [topic, partition, next_offset])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return added

    def _load(self, batch: Sequence[Located]) -> int:
        c = self.con
        rows: dict[str, list[Any]] = {name: [] for name in _ARROW.names}
        for item in batch:
            e = item.envelope
            for name, value in (
                    ("position", e.position), ("event_id", e.event_id), ("type", e.type),
                    ("aggregate_type", e.aggregate_type), ("aggregate_id", e.aggregate_id),
                    ("version", e.version), ("recorded_at", e.recorded_at),
                    ("effective_at", e.effective_at), ("actor", e.actor), ("reason", e.reason),
                    ("data", canonical_json(e.data).decode()), ("prev_hash", e.prev_hash),
                    ("hash", e.hash), ("kafka_partition", item.partition),
                    ("kafka_offset", item.offset)):
                rows[name].append(value)
        incoming = pa.table(rows, schema=_ARROW)  # noqa: F841 - read by name in the SQL below
        c.execute("""
            CREATE OR REPLACE TEMP TABLE new_events AS
            SELECT * FROM (
                SELECT * EXCLUDE (recorded_at, effective_at, data),
                       recorded_at::TIMESTAMPTZ AS recorded_at,
                       effective_at::TIMESTAMPTZ AS effective_at, data::JSON AS data
                FROM incoming
                QUALIFY row_number() OVER (PARTITION BY aggregate_id, version
                                           ORDER BY kafka_partition, kafka_offset) = 1) b
            WHERE NOT EXISTS (SELECT 1 FROM events e
                              WHERE e.aggregate_id = b.aggregate_id AND e.version = b.version)
        """)
        added = c.execute("SELECT count(*) FROM new_events").fetchone()[0]  # type: ignore[index]
        if not added:
            return 0
        c.execute(f"""
            INSERT INTO events BY NAME SELECT * FROM new_events ORDER BY position;
            INSERT INTO aggregates SELECT aggregate_id, aggregate_type, data->>'key'
                FROM new_events WHERE type IN ({_CREATED}) ON CONFLICT DO NOTHING;
            INSERT INTO check_ins
                SELECT n.aggregate_id, a.key, n.position, n.version, n.effective_at,
                       n.recorded_at, (n.data->>'value')::DOUBLE,
                       (n.data->>'confidence')::DOUBLE, n.data->>'note', n.actor
                FROM new_events n LEFT JOIN aggregates a USING (aggregate_id)
                WHERE n.type = 'CheckInRecorded';
            INSERT INTO kpi_readings
                SELECT n.aggregate_id, a.key, n.position, n.version, n.effective_at,
                       n.recorded_at, (n.data->>'value')::DOUBLE, n.data->>'source',
                       n.data->>'reading_id', n.actor
                FROM new_events n LEFT JOIN aggregates a USING (aggregate_id)
                WHERE n.type = 'KpiReadingRecorded';
        """)
        touched = c.execute(
            "CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT aggregate_id, aggregate_type "
            "FROM new_events WHERE type NOT IN ('CheckInRecorded', 'KpiReadingRecorded');"
            "SELECT list(DISTINCT aggregate_type) FROM touched").fetchone()[0]  # type: ignore[index]
        for v in VERSIONED:
            if v.aggregate_type in (touched or []):
                c.execute(_rebuild(v))
        return int(added)

    # ---- reading -----------------------------------------------------------------------

    def event_count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]

    def scorecard_at(self, as_of: datetime, known_at: datetime) -> list[dict[str, Any]]:
        """The scorecard as `domain.history.scorecard` shapes it, from the `scorecard_at` macro."""
        cur = self.con.execute("SELECT * FROM scorecard_at(?, ?)", [as_of, known_at])
        names = [d[0] for d in cur.description]
        cards: list[dict[str, Any]] = []
        for values in cur.fetchall():
            r = dict(zip(names, values, strict=True))
            if not cards or cards[-1]["key"] != r["objective"]:
                cards.append({
                    "key": r["objective"], "title": r["objective_title"], "cycle": r["cycle"],
                    "owner": r["owner"], "team": r["team"], "level": r["level"],
                    "okr_type": r["okr_type"], "parent": r["parent"],
                    "status": r["objective_status"], "score": r["objective_score"],
                    "expected": r["objective_expected"], "track": r["objective_track"],
                    "succeeded": r["succeeded"], "key_results": []})
            if r["key_result"] is not None:
                cards[-1]["key_results"].append({
                    "key": r["key_result"], "objective": r["objective"], "title": r["kr_title"],
                    "kind": r["kind"], "start": r["start"], "target": r["target"],
                    "target_high": r["target_high"], "unit": r["unit"], "weight": r["weight"],
                    "value": r["value"], "progress": r["progress"], "expected": r["expected"],
                    "status": r["status"], "confidence": r["confidence"], "kpi": r["kpi"],
                    "kpi_health": r["kpi_health"], "kpi_stale": r["kpi_stale"]})
        return cards

    def facts(self, since_position: int = 0) -> Iterator[Fact]:
        """Every stored event as a domain fact, in position order."""
        cur = self.con.execute(
            "SELECT position, aggregate_id, version, type, recorded_at, effective_at, actor, "
            "reason, data FROM events WHERE position > ? ORDER BY position", [since_position])
        while rows := cur.fetchmany(10_000):
            for pos, agg, ver, typ, rec, eff, actor, reason, data in rows:
                yield Fact(position=pos, aggregate_id=agg, version=ver, type=typ,
                           recorded_at=rec, effective_at=eff, actor=actor, reason=reason,
                           data=revive_data(typ, json.loads(data)))

    def query(self, sql: str, params: Iterable[Any] = ()
              ) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self.con.execute(sql, list(params))
        return [d[0] for d in cur.description or []], cur.fetchall()

    def export_parquet(self, out: Path) -> dict[str, int]:
        """Every table as Parquet under `out`, partitioned by cycle where a table has one."""
        out.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        for table, by_cycle in EXPORTS.items():
            if by_cycle:
                target, options = out / table, "FORMAT parquet, PARTITION_BY (cycle)"
                if target.exists():  # a previous export's partitions must not linger
                    shutil.rmtree(target)
            else:
                target, options = out / f"{table}.parquet", "FORMAT parquet"
            row = self.con.execute(f"COPY ({EXPORT_SQL[table]}) TO '{_quote(target)}' "
                                   f"({options})").fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts

    def lock_down(self) -> None:
        """For untrusted queries: no files, no network, no extensions, settings frozen."""
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET autoinstall_known_extensions = false")
        self.con.execute("SET autoload_known_extensions = false")
        self.con.execute("SET lock_configuration = true")

    def checkpoint(self) -> None:
        self.con.execute("CHECKPOINT")


# Tables exported to Parquet; True = partitioned by cycle (rows without a cycle land in
# cycle=__HIVE_DEFAULT_PARTITION__).
EXPORTS = {"events": False, "cycle_versions": False, "objective_versions": True,
           "key_result_versions": True, "initiative_versions": False, "kpi_versions": False,
           "check_ins": True, "kpi_readings": False}
EXPORT_SQL = {name: f"SELECT * FROM {name}" for name in EXPORTS} | {
    "check_ins": "SELECT c.*, coalesce(k.cycle, '(none)') AS cycle FROM check_ins c LEFT JOIN "
                 "(SELECT aggregate_id, any_value(cycle) AS cycle FROM key_result_versions "
                 "GROUP BY aggregate_id) k USING (aggregate_id)",
}


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def _sql(name: str) -> str:
    return resources.files("okr.projections").joinpath(name).read_text(encoding="utf-8")


