"""What every test run shares: in CI (the CI variable set, as `.ci/run` does), a test of
PostgreSQL or Chromium that skips is a failure, because CI promises to run it.

On a laptop such a test skips with its reason (no server, no browser) and the closing lines of
`make test` list it. A skip asked for by the test's own `skipif` mark (the soak-only tests) is
a choice, not a missing service, and stays a skip in CI too.
"""

import contextlib
import os
from collections.abc import Iterator

import pytest

REQUIRED_IN_CI = ("postgres", "chromium")  # markers of tests CI must run, not skip


def _chosen_skip(item: pytest.Item) -> bool:
    """True when a `skipif` mark with a true condition skipped the test on purpose."""
    return any(bool(mark.args[0]) for mark in item.iter_markers("skipif")
               if mark.args and isinstance(mark.args[0], bool))


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason a skip report gives (pytest keeps it as (file, line, "Skipped: why"))."""
    text = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return text.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> "pytest.TestReport":
    report: pytest.TestReport = yield
    if not os.environ.get("CI") or not report.skipped or _chosen_skip(item):
        return report
    needs = [m for m in REQUIRED_IN_CI if item.get_closest_marker(m)]
    if needs:
        report.outcome = "failed"
        report.longrepr = (f"CI must run this {' and '.join(needs)} test, but it skipped: "
                           f"{_reason(report)}")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> "pytest.CollectReport":
    """In CI a whole module skipped at import (`importorskip` of psycopg or PIL) fails too."""
    report: pytest.CollectReport = yield
    if os.environ.get("CI") and report.skipped and isinstance(collector, pytest.Module):
        report.outcome = "failed"
        report.longrepr = f"CI must run {collector.nodeid}, but it skipped: {_reason(report)}"
    return report


@pytest.fixture(scope="session", autouse=True)
def _no_broker_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A command a test runs starts its data directory's local broker in the background, as
    `okr` does for a person, and the broker outlives the test: a run of the suite left about
    40 of them. At the end of the session (of each worker) every broker whose data directory
    lies under this run's temporary directory is stopped."""
    yield
    from okr.adapters.local_broker import STATE_FILE, stop

    for state in tmp_path_factory.getbasetemp().rglob(STATE_FILE):
        with contextlib.suppress(OSError):
            stop(state.parent)
