"""Whether a relay runs for this data directory and topic: `okr relay` and `okr up` hold a
shared lock on `relay.<topic>.lock` in the data directory while they follow the event store,
and a CLI write that finds it held leaves publishing to them instead of starting Kafka clients
of its own (docs/benchmarks.md, "CLI latency"). A relay on another machine (a shared
PostgreSQL store) holds no lock here: set OKR_INLINE_PUBLISH=off there.

Only the standard library: asking must cost a CLI command nothing.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from okr.locks import held
from okr.settings import Settings


def _path(settings: Settings, topic: str) -> Path:
    return settings.home / f"relay.{topic}.lock"


@contextmanager
def relaying(settings: Settings, topic: str) -> Iterator[None]:
    """Say, for as long as the block runs, that a relay follows the store onto `topic`."""
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(_path(settings, topic), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # several relays may run; the lock ends with the fd
        yield
    finally:
        os.close(fd)


def relay_running(settings: Settings, topic: str) -> bool:
    """Whether a relay holds the lock for this data directory and topic now."""
    return held(_path(settings, topic))
