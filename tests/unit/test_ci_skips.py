"""CI runs what it claims: with CI set, a PostgreSQL or Chromium test that skips fails the run
(tests/conftest.py); without CI it skips and the closing lines say which and why."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TESTS = '''
import pytest

@pytest.mark.postgres
def test_needs_postgres():
    pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")

@pytest.mark.chromium
def test_needs_chromium():
    pytest.skip("chromium not installed")

@pytest.mark.postgres
@pytest.mark.skipif(True, reason="soak only: runs with OKR_SOAK=1")
def test_chosen_skip():
    pass

def test_other_skip():
    pytest.skip("nothing CI promises")

def test_passes():
    pass
'''


def pytest_in(tmp_path: Path, ci: bool, module_skip: bool = False
              ) -> subprocess.CompletedProcess[str]:
    """pytest on a small suite that uses the project's hooks, with or without CI set (and
    with a module that skips itself at import when `module_skip`)."""
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = -ra -p no:cacheprovider\n"
        "markers =\n    postgres: p\n    chromium: c\n")
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_make_collect_report, pytest_runtest_makereport\n"
        "__all__ = ['pytest_make_collect_report', 'pytest_runtest_makereport']\n")
    (tmp_path / "test_services.py").write_text(TESTS)
    if module_skip:
        (tmp_path / "test_module_skip.py").write_text(
            "import pytest\npytest.importorskip('okr_no_such_module')\n"
            "def test_never():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci:
        env["CI"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", str(tmp_path)], cwd=tmp_path,
                          env=env, text=True, capture_output=True, timeout=120)


def test_in_ci_a_skipped_postgres_or_chromium_test_fails_the_run(tmp_path: Path) -> None:
    proc = pytest_in(tmp_path, ci=True)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "FAILED test_services.py::test_needs_postgres" in out
    assert "FAILED test_services.py::test_needs_chromium" in out
    assert "CI must run this postgres test, but it skipped: PostgreSQL not reachable" in out
    # A chosen skip and a test CI promises nothing about still skip.
    assert "2 failed, 1 passed, 2 skipped" in out, out


def test_in_ci_a_module_that_skips_at_import_stops_the_run(tmp_path: Path) -> None:
    proc = pytest_in(tmp_path, ci=True, module_skip=True)
    assert proc.returncode == 2, proc.stdout
    assert "CI must run test_module_skip.py, but it skipped: " in proc.stdout
    assert "okr_no_such_module" in proc.stdout


def test_outside_ci_the_skips_are_listed_with_their_reasons(tmp_path: Path) -> None:
    proc = pytest_in(tmp_path, ci=False, module_skip=True)
    out = proc.stdout
    assert proc.returncode == 0, out
    assert "5 skipped" in out and "1 passed" in out, out
    for reason in ("PostgreSQL not reachable", "chromium not installed", "soak only",
                   "nothing CI promises", "okr_no_such_module"):
        assert reason in out.split("short test summary info", 1)[1], (reason, out)
