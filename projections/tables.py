"""The projection's tables as SQL text: the bitemporal version tables (DDL, and the
window-function SQL that rebuilds them from `events`), the Parquet exports, and the digest
that names a file's setup. No connection here: `store.py` runs it.
"""

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from okr.domain.events import MEASUREMENTS

SCHEMA_VERSION = 3


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
              (("key", "VARCHAR"), ("start", "TIMESTAMPTZ"), ("end", "TIMESTAMPTZ"),
               ("timezone", "VARCHAR")),
              (("timezone", "CASE WHEN type = 'CycleAdded' THEN coalesce(data->'$.timezone', "
                            "'\"UTC\"'::JSON) END"),)),
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
               ("weight", "DOUBLE"), ("phases", PHASES), ("kpi", "VARCHAR"),
               ("tolerance", "DOUBLE")),
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
            ("valid_from", "TIMESTAMPTZ"), ("valid_to", "TIMESTAMPTZ"),
            ("recorded_at", "TIMESTAMPTZ"), ("recorded_to", "TIMESTAMPTZ"), *v.fields,
            *((name, "BOOLEAN") for name, _ in v.flags)]
    if v.table == "cycle_versions":
        cols += CYCLE_EXTRA
    return [*cols, ("change", "VARCHAR"), ("plan_revision", "BOOLEAN"), ("actor", "VARCHAR"),
            ("reason", "VARCHAR")]


def ddl(v: Versioned) -> str:
    cols = ", ".join(f'"{n}" {t}' for n, t in _columns(v))
    return f"CREATE TABLE IF NOT EXISTS {v.table} ({cols})"


def rebuild(v: Versioned) -> str:
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
    skip = ", ".join(f"'{t}'" for t in MEASUREMENTS)
    return (
        f"DELETE FROM {v.table} WHERE aggregate_id IN (SELECT aggregate_id FROM touched);\n"
        f"INSERT INTO {v.table} SELECT aggregate_id, version, position, effective_at AS "
        f"valid_from, lead(effective_at) OVER (PARTITION BY aggregate_id ORDER BY version) AS "
        f"valid_to, recorded_at, lead(recorded_at) OVER (PARTITION BY aggregate_id ORDER BY "
        f"version) AS recorded_to, {', '.join(outs)}, type AS change, "
        f"(data->>'plan_revision')::BOOLEAN AS plan_revision, actor, reason FROM ("
        f"SELECT *, {', '.join(picks)} FROM events WHERE aggregate_type = '{v.aggregate_type}' "
        f"AND type NOT IN ({skip}) AND aggregate_id IN (SELECT aggregate_id FROM touched))")


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


@lru_cache(maxsize=1)
def setup_digest() -> str:
    """Names this code's tables and macros: a file set up by other code is set up again."""
    text = sql_file("schema.sql") + sql_file("macros.sql") + "".join(ddl(v) for v in VERSIONED)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sql_file(name: str) -> str:
    return resources.files("okr.projections").joinpath(name).read_text(encoding="utf-8")
