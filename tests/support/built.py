"""A data directory built by the real `okr` command (in process: tests/fuzzing.okr) as a person
in Europe/Berlin types it, its projection brought up to date: what the review and display
tests read."""

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.fuzzing import Result, okr

BERLIN = {"OKR_ORG_TZ": "Europe/Berlin", "OKR_TZ": "Europe/Berlin"}


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """`okr ARGS` in `home`, which must succeed (in Berlin unless `env` says otherwise)."""
    result = okr(home, *args, env=env or BERLIN)
    assert result.crash is None and result.code == 0, str(result)
    return result


def built_home(factory: pytest.TempPathFactory, name: str,
               build: Sequence[Sequence[str]]) -> Path:
    """A new data directory with each command of `build` run in it, then projected."""
    from tests.unit.test_hostile_text import project

    home = factory.mktemp(name) / "home"
    for args in build:
        ok(home, *args)
    project(home)  # the views read the projection
    return home
