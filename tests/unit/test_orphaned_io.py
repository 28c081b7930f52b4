"""stop_orphaned_io walks every object of the process: none may make it fail."""

import weakref

from okr.adapters.kafka_client import stop_orphaned_io


class Thing:
    pass


def test_a_dead_weak_proxy_among_the_objects_does_not_stop_the_sweep() -> None:
    thing = Thing()
    dead = weakref.proxy(thing)
    del thing  # `dead` now raises ReferenceError when asked anything, even its __class__
    stop_orphaned_io()
    assert type(dead) is weakref.ProxyType
