"""The walls of docs/architecture.md are kept by import-linter, and the check really bites."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = ROOT / "scripts" / "lint_imports.py"


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-P", str(LINT), str(root)],
                          capture_output=True, text=True, timeout=120)


def copy_of_tree(into: Path) -> Path:
    """The package folders and pyproject.toml of this repository, copied to edit freely."""
    for folder in ("okr", "domain", "ledger", "record", "adapters", "projections",
                   "consumers", "cli", "web"):
        shutil.copytree(ROOT / folder, into / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")
    return into


def test_the_tree_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "planted", "contract"), [
    ("domain/scoring.py", "import sqlite3", "The domain is pure"),
    ("domain/history.py", "from pathlib import Path", "The domain is pure"),
    ("domain/kpi.py", "from okr.projections import store", "Layers"),
    ("consumers/runtime.py", "import kafka", "kafka-python is imported by its adapter only"),
    ("cli/reads.py", "import duckdb", "DuckDB is imported by the projections only"),
    ("ledger/app.py", "import psycopg", "PostgreSQL drivers are imported by their adapter only"),
    ("projections/access.py", "import sqlite3", "The event store's file is opened by its adapter"),
    ("cli/reads.py", "from okr.projections.queries import KR_REVISIONS",
     "The projection's SQL stays inside projections/"),
    ("consumers/projector.py", "SEEN = lambda p: p.query('SELECT 1 FROM events')",
     "The projection's SQL stays inside projections/"),
    ("cli/show_cmds.py", "COUNT = lambda p: p.con.execute('SELECT count(*) FROM events')",
     "The projection's SQL stays inside projections/"),
    ("consumers/ingest.py", "from okr.record import watermark",
     "Consumers keep their own offsets, not the relay's watermark"),
    ("cli/audit_cmds.py", "from okr.cli.projection_cmds import history_cmd",
     "CLI command modules do not import one another"),
    ("web/site.py", "import duckdb", "DuckDB is imported by the projections only"),
    ("web/app.py", "from okr.consumers import projector",
     "The web app writes through the ledger service and reads the projection"),
    ("projections/store.py", "from okr.web import auth", "Layers"),
])
def test_a_planted_import_breaks_its_contract_and_is_named(
        tmp_path: Path, module: str, planted: str, contract: str) -> None:
    tree = copy_of_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    result = lint(tree)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout
    dotted = "okr." + module.removesuffix(".py").replace("/", ".")
    assert dotted in result.stdout, result.stdout
