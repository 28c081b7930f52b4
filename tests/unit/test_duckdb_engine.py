"""projections/engine.py reaches DuckDB through its C extension `_duckdb`, a private module of
the duckdb package: these tests fail loudly when an upgrade of duckdb stops making that the
same DuckDB the package offers (issue 20)."""

import subprocess
import sys

import duckdb

from okr.projections import engine


def test_the_engine_offers_the_very_objects_the_duckdb_package_does() -> None:
    for name in engine.__all__:
        assert getattr(engine, name) is getattr(duckdb, name), name


def test_importing_the_duckdb_package_wraps_no_connection_method_the_projection_calls() -> None:
    # In a fresh interpreter: this one has imported the package already.
    code = ("import _duckdb\n"
            "cls = _duckdb.DuckDBPyConnection\n"
            f"names = {engine.METHODS_USED!r}\n"
            "before = {n: cls.__dict__.get(n) for n in names}\n"
            "import duckdb\n"
            "assert duckdb.DuckDBPyConnection is cls\n"
            "print(','.join(n for n in names if before[n] is None or "
            "cls.__dict__.get(n) is not before[n]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout.strip() == ""  # each one is the extension's own, not the package's


def test_a_connection_of_the_engine_alone_runs_and_fetches_as_the_projection_does() -> None:
    code = ("import sys\n"
            "from okr.projections.store import Projection\n"
            "p = Projection(':memory:')\n"
            "c = p.con.cursor()\n"
            "c.execute('SELECT ?::INTEGER AS n, ?::VARCHAR AS s', [4, 'x'])\n"
            "print([d[0] for d in c.description], c.fetchone(), p.con.execute('SELECT 2')"
            ".fetchall(), p.con.execute('SELECT 3').fetchmany(5))\n"
            "assert 'duckdb' not in sys.modules, 'the duckdb package was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['n', 's'] (4, 'x') [(2,)] [(3,)]"
