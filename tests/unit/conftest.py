"""Fixtures the unit tests share: the README scenario, built once per module."""

from pathlib import Path

import pytest

from tests.fuzzing import add_live_cycle, build_readme_scenario


@pytest.fixture(scope="module")
def readme_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding README's 'Using it' scenario (fixed in 2026-Q4) and the live
    cycle around today, for what is recorded "now" (copy it before writing)."""
    return add_live_cycle(build_readme_scenario(tmp_path_factory.mktemp("readme") / "home"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory the examples of one module reuse (hypothesis runs many per test)."""
    return tmp_path_factory.mktemp("work")
