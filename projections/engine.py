"""DuckDB's engine as the projection uses it: the C extension `_duckdb`, which the `duckdb`
package re-exports, imported without the package's Python layer.

That layer (the relation API, Arrow sources, the version read through importlib.metadata)
costs a command ~95 ms of CPU at start and the projection uses none of it: it connects, runs
statements and fetches rows, and catches DuckDB's errors — all the extension's own objects,
the very ones `duckdb.connect`, `duckdb.Error` … are. readonly.py (`okr sql`, relations)
imports the package itself. `_duckdb` is not a public module: tests/unit/test_duckdb_engine.py
fails if an upgrade of duckdb stops re-exporting these names or wraps a connection method the
projection calls.
"""

from _duckdb import CatalogException, DuckDBPyConnection, Error, IOException, connect

__all__ = ["CatalogException", "DuckDBPyConnection", "Error", "IOException", "connect"]

# The methods of a connection (and of its cursors) the projections call: the test above checks
# that importing the duckdb package replaces none of them with its own Python code.
METHODS_USED = ("execute", "fetchall", "fetchmany", "fetchone", "cursor", "close",
                "description", "interrupt")
