"""The projection's own failure classes that the CLI tells apart without loading DuckDB
(this module imports nothing). `store.py` raises them; failures a person must act on are
okr's own classes (okr/errors.py: ProjectionUnavailable), raised where DuckDB fails."""


class ProjectionLocked(RuntimeError):
    """Another process holds the DuckDB file in a conflicting mode."""


class QueryFailed(RuntimeError):
    """DuckDB refused or failed the query (its message, first line), or it ran out of time.
    Here, not in readonly.py (`okr sql`), which imports the whole duckdb package: store.py
    raises it too, and a plain read loads only DuckDB's engine (engine.py)."""
