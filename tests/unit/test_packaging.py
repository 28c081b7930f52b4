"""Packaging (issue 21): every dependency is bounded to the major versions the suite runs on,
PostgreSQL support is an optional extra (`okr-ledger[postgres]`), and without it
OKR_STORE=postgres fails in one line saying how to add it."""

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from okr.errors import UNAVAILABLE
from tests.fuzzing import okr

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# Calendar-versioned time zone data (DuckDB hands TIMESTAMPTZ values over through it): newer
# data is always wanted, and its API has not changed in twenty years.
UNBOUNDED = {"pytz"}


def requirements(group: str | None = None) -> list[Requirement]:
    """A group's requirements, with a reference to one of our own extras (the dev extra
    names `okr-ledger[web]`) replaced by what that extra lists."""
    listed = PROJECT["dependencies"] if group is None else \
        PROJECT["optional-dependencies"][group]
    out: list[Requirement] = []
    for req in map(Requirement, listed):
        if req.name == PROJECT["name"]:
            out += [r for extra in sorted(req.extras) for r in requirements(extra)]
        else:
            out.append(req)
    return out


@pytest.mark.parametrize("group", [None, "postgres", "web", "dev"])
def test_every_dependency_has_an_upper_bound(group: str | None) -> None:
    for req in requirements(group):
        if req.name in UNBOUNDED:
            continue
        assert any(s.operator in ("<", "==", "~=") for s in req.specifier), str(req)


@pytest.mark.parametrize("group", [None, "postgres", "web", "dev"])
def test_what_the_suite_runs_on_is_inside_the_bounds(group: str | None) -> None:
    for req in requirements(group):
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            pytest.fail(f"{req.name} is not installed: make install installs '.[dev]'")
        assert req.specifier.contains(installed, prereleases=True), (str(req), installed)


def test_postgresql_support_is_an_extra_the_dev_install_includes() -> None:
    assert not [r for r in requirements() if r.name.startswith("psycopg")]
    (pg,) = [r for r in requirements("postgres") if r.name == "psycopg"]
    assert {"binary", "pool"} <= pg.extras
    assert [str(r) for r in requirements("dev") if r.name == "psycopg"] == [str(pg)]


def test_postgres_without_its_driver_is_one_line_saying_how_to_add_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "psycopg" or n.startswith("psycopg.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails, as uninstalled
    for args in (["cycle", "add", "2026-Q4"], ["scorecard"]):
        result = okr(tmp_path / "home", *args, env={"OKR_STORE": "postgres"})
        assert result.crash is None and result.code == UNAVAILABLE, str(result)
        assert result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert "pip install 'okr-ledger[postgres]'" in line and "OKR_STORE" in line, line
    assert not (tmp_path / "home" / "events.sqlite").exists()
