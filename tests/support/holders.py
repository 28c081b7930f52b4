"""Another process holding a DuckDB file open, for tests of who waits for whom."""

import subprocess
import sys
from pathlib import Path

_HOLD = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'r'); "
         "print('held', flush=True); sys.stdin.read()")


def hold(path: Path, mode: str = "r") -> subprocess.Popen[str]:
    """Another process with the file open ('r': read-only, 'w': read-write) until its stdin is
    closed (`let_go`)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def let_go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)
