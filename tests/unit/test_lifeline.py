"""The web child's lifeline (cli/lifeline.py) without Linux's PR_SET_PDEATHSIG: the fallback
that watches the parent pid, the only way on macOS, must end the child by itself when its
parent is SIGKILLed. Real processes: a parent that starts a child and is killed."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from okr.cli import lifeline
    ended = open(sys.argv[1], "w")
    def on_term(*_):
        ended.write("SIGTERM"); ended.close(); os._exit(0)
    signal.signal(signal.SIGTERM, on_term)
    lifeline.CHECK_EVERY = 0.1
    {start}
    print("watching", flush=True)
    time.sleep(60)
    os._exit(3)  # never signalled
""")
PARENT = textwrap.dedent("""
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "watching\\n"
    print(child.pid, flush=True)
    child.wait()
""")


def _orphan(tmp_path: Path, start: str) -> tuple[int, Path]:
    """Start a parent that starts the child; once the child watches, SIGKILL the parent.
    Returns the child's pid and the file it writes when SIGTERM reaches it."""
    ended = tmp_path / "ended"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD.format(start=start), str(ended)],
        stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    return child, ended


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:  # ended: no such process, or a zombie nobody reaped yet (an orphan's reaper)
            if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("start", [
    "lifeline.end_with(os.getppid())",  # the prctl and the fallback, as `okr serve` calls it
    # The fallback alone (no prctl): what macOS has, and what remains should prctl fail.
    "import threading; threading.Thread(target=lifeline._watch, args=(os.getppid(),), "
    "daemon=True).start()",
], ids=["pdeathsig", "parent-pid-fallback"])
def test_the_child_ends_with_its_parent_killed(tmp_path: Path, start: str) -> None:
    child, ended = _orphan(tmp_path, start)
    try:
        assert _gone(child, 10), "the child outlived its SIGKILLed parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    assert ended.read_text() == "SIGTERM"  # stopped as `okr serve` stops cleanly
