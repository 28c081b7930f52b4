"""The projection's own failure classes that the CLI tells apart without loading DuckDB
(this module imports nothing). `store.py` raises them; failures a person must act on are
okr's own classes (okr/errors.py: ProjectionUnavailable), raised where DuckDB fails."""


class ProjectionLocked(RuntimeError):
    """Another process holds the DuckDB file in a conflicting mode."""
