"""Whether another process holds an advisory lock file (the projection's, a relay's).

Imports nothing of okr's, so every layer may ask."""

import fcntl
import os
from pathlib import Path


def held(path: Path) -> bool:
    """True when some process holds an exclusive flock on `path` now; False when the file is
    missing, unreadable or free (taken and let go at once, never kept)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # never created (nobody ever ran here) or not readable
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
