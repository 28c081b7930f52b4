"""stop_orphaned_io walks every object of the process: none may make it fail, and it still
stops every client IO thread it finds."""

import gc
import weakref

from kafka.net.selector import NetworkSelector

from okr.adapters.kafka_client import stop_orphaned_io


class Thing:
    pass


class OrphanedSelector(NetworkSelector):  # type: ignore[misc]
    """Fault injection: an IO selector left running, which only records being stopped."""

    def __init__(self) -> None:  # no sockets, no thread: only what the sweep may touch
        self.stopped_with: int | None = None

    def stop(self, timeout_ms: int | None = None) -> None:
        self.stopped_with = timeout_ms


def test_a_dead_weak_proxy_among_the_objects_does_not_stop_the_sweep() -> None:
    before = OrphanedSelector()
    thing = Thing()
    dead = weakref.proxy(thing)
    del thing  # `dead` now raises ReferenceError when asked anything, even its __class__
    after = OrphanedSelector()
    assert any(obj is dead for obj in gc.get_objects())  # the sweep will meet it
    stop_orphaned_io()  # an isinstance() check would raise on `dead` here
    assert (before.stopped_with, after.stopped_with) == (1000, 1000)
