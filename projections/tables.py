"""The projection's tables as SQL text: the bitemporal version tables (DDL, and the
window-function SQL that rebuilds them from `events`), the Parquet exports, and the digest
that names a file's setup. No connection here: `store.py` runs it.
"""

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from okr.domain.events import MEASUREMENTS

# Raised when a table's columns change: a file of an older layout is dropped and rebuilt from
# Kafka (CREATE TABLE IF NOT EXISTS adds no column). 4: the on_behalf_of columns. 5: a user's
# disabled, tokens, revoked_tokens and password_set.
SCHEMA_VERSION = 5


@dataclass(frozen=True)
class Versioned:
    """A bitemporal version table: one row per structural event, the state after it."""

    table: str
    aggregate_type: str
    fields: tuple[tuple[str, str], ...]  # (column, DuckDB type), taken from `data` when present
    overrides: tuple[tuple[str, str], ...] = ()  # column → JSON expression per event
    flags: tuple[tuple[str, str], ...] = ()  # column → event type that sets it for good
    # (column, VARCHAR[] expression per event, sorted): every value the item's events up to
    # the version gave, in version order or sorted (and each once)
    gathered: tuple[tuple[str, str, bool], ...] = ()


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
    Versioned("user_versions", "user",
              (("key", "VARCHAR"), ("role", "VARCHAR"), ("team", "VARCHAR"),
               ("disabled", "BOOLEAN")),
              (("disabled", "CASE type WHEN 'UserAdded' THEN 'false'::JSON WHEN 'UserDisabled' "
                            "THEN 'true'::JSON WHEN 'UserEnabled' THEN 'false'::JSON END"),),
              (("password_set", "UserPasswordSet"),),
              (("tokens", "CASE WHEN type = 'UserTokenIssued' THEN [data->>'$.token_id'] END",
                False),
               ("revoked_tokens", "CASE WHEN type = 'UserTokensRevoked' THEN from_json("
                                  "data->'$.token_ids', '[\"VARCHAR\"]') END", True))),
)
# Cycles: the status follows from the lifecycle events, so it is derived, not copied.
CYCLE_EXTRA = (("status", "VARCHAR"), ("committed_at", "TIMESTAMPTZ"))


def _cast(expr: str, typ: str) -> str:
    if typ == "VARCHAR":
        return f"json_extract_string({expr}, '$')"
    if typ == "TIMESTAMPTZ":
        return f"json_extract_string({expr}, '$')::TIMESTAMPTZ"
    if typ in ("DOUBLE", "BOOLEAN"):
        return f"({expr})::{typ}"
    if typ == "VARCHAR[]":
        return f"from_json({expr}, '[\"VARCHAR\"]')"
    if typ == PHASES:
        return f"from_json({expr}, '[{{\"at\": \"TIMESTAMPTZ\", \"value\": \"DOUBLE\"}}]')"
    raise ValueError(typ)


def _columns(v: Versioned) -> list[tuple[str, str]]:
    cols = [("aggregate_id", "VARCHAR"), ("version", "INTEGER"), ("position", "BIGINT"),
            ("valid_from", "TIMESTAMPTZ"), ("valid_to", "TIMESTAMPTZ"),
            ("recorded_at", "TIMESTAMPTZ"), ("recorded_to", "TIMESTAMPTZ"), *v.fields,
            *((name, "VARCHAR[]") for name, _, _ in v.gathered),
            *((name, "BOOLEAN") for name, _ in v.flags)]
    if v.table == "cycle_versions":
        cols += CYCLE_EXTRA
    return [*cols, ("change", "VARCHAR"), ("plan_revision", "BOOLEAN"), ("actor", "VARCHAR"),
            ("on_behalf_of", "VARCHAR"), ("reason", "VARCHAR")]


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
    picks += [f"flatten(list(coalesce({expr}, []::VARCHAR[])) {window}) AS \"{n}\""
              for n, expr, _ in v.gathered]
    picks += [f"bool_or(type = '{etype}') {window} AS \"{n}\"" for n, etype in v.flags]
    outs = [f'{_cast(f"j_{n}", t)} AS "{n}"' for n, t in v.fields]
    outs += [f'list_sort(list_distinct("{n}")) AS "{n}"' if ordered else f'"{n}"'
             for n, _, ordered in v.gathered]
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
        f"(data->>'plan_revision')::BOOLEAN AS plan_revision, actor, on_behalf_of, reason "
        f"FROM ("
        f"SELECT *, {', '.join(picks)} FROM events WHERE aggregate_type = '{v.aggregate_type}' "
        f"AND type NOT IN ({skip}) AND aggregate_id IN (SELECT aggregate_id FROM touched))")


# Comments on the version tables (comments.sql has the others): duckdb_tables() and
# duckdb_columns() explain the file to an analyst who opens it.
_VERSION_COLUMNS = {
    "aggregate_id": "The item's id (the aggregates table gives its key).",
    "version": "The item's version: this row is its state after that event.",
    "position": "Position of the event that made this version.",
    "valid_from": "Valid time this version is in force from.",
    "valid_to": "Valid time the next version is in force from; NULL for the latest.",
    "recorded_at": "When this version was recorded (transaction time).",
    "recorded_to": "When the next version was recorded; NULL for the latest.",
    "change": "The event type that made this version.",
    "plan_revision": "Whether the change revised a committed plan.",
    "actor": "Who made the change.",
    "on_behalf_of": "Whom the actor made the change for (--on-behalf-of); NULL if nobody "
                    "was named.",
    "reason": "The reason given for the change; NULL if none.",
}
_ITEM_COLUMNS = {
    "key": "The item's key.", "title": "Title.", "description": "Description.",
    "cycle": "The cycle's key.", "owner": "Owner.", "team": "Team.", "name": "Name.",
    "unit": "Unit of its values.", "status": "Status after this change.",
}
VERSION_COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "cycle_versions": ("One row per change of a cycle: its state after the change.", {
        "key": "The cycle's key (2026-Q4, 2026-H2, 2026, or a custom name).",
        "start": "Start of the cycle's window (local midnight in its zone, as UTC).",
        "end": "End of the cycle's window (exclusive).",
        "timezone": "The organisation's zone the named period was computed in.",
        "status": "planning, committed or closed.",
        "committed_at": "When the plan was last committed; NULL while in planning."}),
    "objective_versions": ("One row per change of an objective: its state after the change.", {
        "level": "company, department, team, individual or cross-functional.",
        "okr_type": "committed (must reach 1.0), aspirational (0.7 counts) or learning.",
        "parent": "The key of the objective it aligns to; NULL if none.",
        "status": "active, closed or abandoned."}),
    "key_result_versions": ("One row per change of a key result (check-ins excluded): its state "
                            "after the change.", {
        "objective": "The key of its objective.",
        "kind": "increase, decrease, stay-above, stay-below, range or milestone.",
        "start": "Value at the start (progress 0).", "target": "Target value (progress 1).",
        "target_high": "Upper end of a range kind; NULL otherwise.",
        "weight": "Weight in its objective's score.",
        "phases": "Phased targets: (at, value) points the plan passes through.",
        "kpi": "Key of the linked KPI whose readings are its values; NULL if none.",
        "tolerance": "Band of partial credit of a threshold kind; NULL: none.",
        "removed": "Whether the key result was removed from the plan."}),
    "initiative_versions": ("One row per change of an initiative: its state after the change.", {
        "key_result": "The key of the key result it is meant to move.",
        "status": "planned, in-progress, done or dropped."}),
    "kpi_versions": ("One row per change of a KPI definition (readings excluded): its state "
                     "after the change.", {
        "direction": "up (higher is better) or down.", "target": "Target value.",
        "green": "Threshold of green health.", "red": "Threshold of red health.",
        "cadence": "daily, weekly, monthly or quarterly: a reading older than that is stale.",
        "tags": "Tags (leading, lagging, guardrail, …).",
        "retired": "Whether the KPI was retired."}),
    "user_versions": ("One row per change of a user of the web app and API (okr user add, "
                      "okr token create/revoke, okr user password/disable/enable): their role, "
                      "team, tokens and whether they are locked out after the change.", {
        "key": "The user's name.",
        "role": "viewer, member, planner, auditor or admin.",
        "team": "The team whose key results a member checks in on.",
        "disabled": "Whether the user is disabled (okr user disable): no sign-in, session or "
                    "token of theirs is accepted.",
        "tokens": "Ids of every sign-in token issued to the user, in the order issued "
                  "(revoked ones too).",
        "revoked_tokens": "Ids of the user's revoked tokens, sorted (a revoked token never "
                          "works again).",
        "password_set": "Whether a password for web sign-in was ever set."}),
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def version_comments(v: Versioned) -> str:
    """COMMENT statements on a version table and each of its columns."""
    about, own = VERSION_COMMENTS[v.table]
    notes = {**_VERSION_COLUMNS, **_ITEM_COLUMNS, **own}
    return ";\n".join([f"COMMENT ON TABLE {v.table} IS {_literal(about)}",
                       *(f'COMMENT ON COLUMN {v.table}."{name}" IS {_literal(notes[name])}'
                         for name, _ in _columns(v))]) + ";"


# Tables exported to Parquet; True = partitioned by cycle (rows without a cycle land in
# cycle=__HIVE_DEFAULT_PARTITION__).
# Every table an analyst queries, each with whether it is partitioned by cycle. Left out: the
# consumer's bookkeeping (where it is in one incarnation of okr.ledger, which code set the file
# up), nothing a notebook or BI tool reads (docs/schema.md says so).
EXPORTS = {"events": False, "cycle_versions": False, "objective_versions": True,
           "key_result_versions": True, "initiative_versions": False, "kpi_versions": False,
           "user_versions": False, "check_ins": True, "kpi_readings": False,
           "kpi_readings_at_ends": False, "aggregates": False}
EXPORT_SQL = {name: f"SELECT * FROM {name}" for name in EXPORTS} | {
    "check_ins": "SELECT c.*, coalesce(k.cycle, '(none)') AS cycle FROM check_ins c LEFT JOIN "
                 "(SELECT aggregate_id, any_value(cycle) AS cycle FROM key_result_versions "
                 "GROUP BY aggregate_id) k USING (aggregate_id)",
}


@lru_cache(maxsize=1)
def setup_digest() -> str:
    """Names this code's tables and macros: a file set up by other code is set up again."""
    text = (sql_file("schema.sql") + sql_file("macros.sql") + sql_file("comments.sql")
            + "".join(ddl(v) + version_comments(v) for v in VERSIONED))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sql_file(name: str) -> str:
    # The file beside this module, read as a file: importlib.resources would add ~6 ms of
    # imports to every read of the projection (tests/unit/test_cli_latency.py).
    return Path(__file__).with_name(name).read_text(encoding="utf-8")
