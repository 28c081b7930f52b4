"""Files and folders written whole or not at all: the writing goes to a temporary sibling (in
the same folder, so on the same filesystem) that is renamed into place at the end, and removed
on any failure or Ctrl-C — an export cut short leaves nothing a reader could take for one.

Imports nothing of okr's but okr.locks (which imports nothing of okr's), so every layer may
use it."""

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def create_once(path: Path, data: bytes) -> None:
    """Write `data` to `path` if nothing is there yet: complete or absent, 0600 whatever the
    umask, never over another's file. A private temporary file beside it is linked into
    place; when another process got there first (two servers, a write and a relay at once),
    theirs stands and this one's is dropped."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never a leftover
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process's file won: it stands
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def new_file(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` to write instead; it replaces `path` when the block ends
    without an error, and is removed when it does not. A `path` that exists but is no regular
    file (/dev/stdout, a pipe, a directory) is written as it is: there is nothing to replace."""
    if path.is_symlink():
        path = path.resolve()  # the file the link names is replaced, the link kept
    if path.exists() and not path.is_file():
        yield path
        return
    tmp: Path | None = None
    try:
        with _ctrl_c_held():  # made and named as one step: a Ctrl-C between would leave it
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.absolute().parent)
            os.close(fd)
            tmp = Path(name)
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


@contextmanager
def new_folder(path: Path) -> Iterator[Path]:
    """A temporary folder beside `path` to write into instead (private, 0700). When the block
    ends without an error it becomes `path` — or, where `path` is a folder that holds files
    already, each of its entries replaces the one of that name there and the others stay;
    otherwise it is removed with whatever was written."""
    tmp: Path | None = None
    try:
        with _ctrl_c_held():  # made and named as one step: a Ctrl-C between would leave it
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.absolute().parent))
        yield tmp
        with _ctrl_c_held():
            _move_into(tmp, path)
    finally:
        if tmp is not None:
            _remove(tmp)


def _remove(folder: Path) -> None:
    """Remove a temporary folder, also while a writer that was interrupted (DuckDB's threads
    finishing a COPY) may still add a file to it for a moment."""
    for _ in range(20):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            return
        time.sleep(0.05)


def _move_into(tmp: Path, path: Path) -> None:
    try:
        os.rename(tmp, path)  # `path` missing or empty: all of it at once
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    # A folder in use: the old entries of the same names go aside into `tmp` (removed after).
    entries = sorted(tmp.iterdir())
    aside = Path(tempfile.mkdtemp(prefix=".replaced.", dir=tmp))
    for new in entries:
        old = path / new.name
        if old.is_dir() and not old.is_symlink():
            os.rename(old, aside / new.name)
        os.replace(new, old)


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """A Ctrl-C during the block acts when it ends: the renames that put a result in place
    are not cut in half. Only the main thread receives signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and callable(previous):
        previous(signal.SIGINT, None)


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object a small file of the data directory holds; {} when it is missing,
    unreadable or holds no object."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def update_private_json(path: Path, change: Callable[[dict[str, Any]], dict[str, Any] | None]
                        ) -> dict[str, Any]:
    """Read, change and write back a small JSON object kept in a file of the data directory,
    under an exclusive lock (`path` + '.lock') that every process updating it takes in turn —
    so two at once (two web servers, two relays) both land, neither over the other's read.
    `change` gets what the file holds ({} when it is missing, damaged or no object) and gives
    what to write, or None to leave the file as it is; written whole (a temporary sibling,
    0600, synced, renamed into place). Returns what the file holds afterwards."""
    from okr.locks import waited

    with waited(path.with_name(path.name + ".lock")):
        doc = read_json_object(path)  # none yet, or unreadable: written anew, whole
        new = change(doc)
        if new is None:
            return doc
        with new_file(path) as tmp, tmp.open("w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump(new, f, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        return new
