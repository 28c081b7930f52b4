"""A second Python process for pure-Python work that would otherwise share one core.

The relay's envelopes are CPU work that kafka-python's own CPU work cannot overlap with
inside one process (the GIL). A worker is a plain child,
`python -P -m MODULE`: nothing of the parent is forked or re-imported, so it is safe from a
process that runs Kafka threads, and it is spoken to in pickles over its stdin and stdout.
The pipe's buffer is all it can run ahead; when the parent dies, the worker's next write
fails (or its next read ends) and it stops. A Ctrl-C at the terminal is the parent's to
handle: the worker ignores SIGINT and ends when the parent closes its pipes.
"""

import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from typing import Any, BinaryIO


class WorkerError(RuntimeError):
    """The worker process stopped or failed; what it was doing counts as not done."""


class Worker:
    """The parent's end: send requests, receive answers."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.proc = subprocess.Popen([sys.executable, "-P", "-m", module],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def send(self, request: Any) -> None:
        assert self.proc.stdin is not None
        try:
            pickle.dump(request, self.proc.stdin, pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._stopped() from None

    def receive(self) -> Any:
        """The next answer (a Failure the worker sent is raised as WorkerError)."""
        assert self.proc.stdout is not None
        try:
            answer = pickle.load(self.proc.stdout)
        except (EOFError, pickle.UnpicklingError):
            raise self._stopped() from None
        if isinstance(answer, Failure):
            raise WorkerError(answer.message)
        return answer

    def _stopped(self) -> WorkerError:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        return WorkerError(f"the {self.module} worker stopped (exit code {code})")

    def close(self) -> None:
        """Stop the worker (closing its input ends a serving loop; kill if it lingers)."""
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with suppress(OSError):
                    pipe.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


class Failure:
    """An error the worker reports instead of an answer."""

    def __init__(self, message: str) -> None:
        self.message = message


def requests_from_parent() -> Iterator[Any]:
    """The worker's end: each request, until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the work ends
    source: BinaryIO = sys.stdin.buffer
    while True:
        try:
            yield pickle.load(source)
        except EOFError:
            return


def send_to_parent(item: Any) -> None:
    """Send one answer (or a Failure); exit quietly if the parent is gone."""
    try:
        pickle.dump(item, sys.stdout.buffer, pickle.HIGHEST_PROTOCOL)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # Nobody reads any more: leave without the interpreter's own flush of stdout failing
        # again at exit ("Exception ignored … BrokenPipeError").
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
