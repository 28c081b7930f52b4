"""A review is built with Python's cyclic garbage collector paused (its ~10^6 short-lived
objects hold no cycles) — only while it computes, never while a read waits — and the collector
is left as the first pause found it, also when two reviews overlap (okr/collector.py)."""

import gc
import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from okr import collector
from okr.cli.reviews import review_of
from okr.domain import review as review_module
from okr.domain.errors import NotFound

NOW = datetime(2025, 11, 1, tzinfo=UTC)


def test_the_read_runs_with_the_collector_on_and_the_review_with_it_paused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The read may wait (a lock, the consumer's batch, a refresh from Kafka): pausing there
    would stop collection for every thread of the web app meanwhile."""
    seen: dict[str, bool] = {}

    def facts_of(cycle: str, as_of: datetime, known_at: datetime) -> list:
        seen["read"] = gc.isenabled()
        return [SimpleNamespace(type="CycleAdded", data={"key": cycle, "timezone": "UTC"})]

    def review(*_: Any) -> dict[str, Any]:
        seen["review"] = gc.isenabled()
        return {}

    monkeypatch.setattr(review_module, "review", review)
    assert gc.isenabled()
    assert review_of(facts_of, "2025-Q4", NOW, NOW) == {}
    assert seen == {"read": True, "review": False}
    assert gc.isenabled()


def test_a_failed_review_gives_the_collector_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def review(*_: Any) -> dict[str, Any]:
        raise review_module.UnknownCycle("cycle '2025-Q4' not known then")

    monkeypatch.setattr(review_module, "review", review)
    with pytest.raises(NotFound):
        review_of(lambda *_: ["a fact"], "2025-Q4", NOW, NOW)
    assert gc.isenabled()


def test_overlapping_pauses_restart_the_collector_only_when_the_last_ends() -> None:
    """Two reviews at once in the web app's threads: the first to end must not restart the
    collector under the second."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def a() -> None:
        with collector.paused():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b() -> None:
        a_in.wait(5)
        with collector.paused():
            b_in.set()
            a_out.wait(5)
            seen["b after a ended"] = gc.isenabled()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"b after a ended": False}
    assert gc.isenabled()


def test_a_pause_leaves_a_paused_collector_paused() -> None:
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
