"""A reader that closes the pipe early (`okr list krs | head -1`) ends `okr` quietly with exit
code 141, as a shell reports a process killed by SIGPIPE — not 1, which says a verification
failed (docs/cli.md). With a real `okr` process writing into a real pipe."""

import os
import subprocess
from pathlib import Path

import pytest

from okr.errors import PIPE_CLOSED
from tests.fuzzing import okr
from tests.unit.test_cli_writes import OKR
from tests.unit.test_hostile_text import project


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("pipe") / "home"
    for args in (["cycle", "add", "2026-Q4"], ["objective", "add", "o", "O", "--cycle",
                                                  "2026-Q4"],
                 ["kr", "add", "k1", "K1", "--objective", "o"]):
        assert okr(home, *args).code == 0
    project(home)
    return home


def started(home: Path, *args: str) -> "subprocess.Popen[bytes]":
    env = {**os.environ, "OKR_HOME": str(home), "OKR_INLINE_PUBLISH": "off"}
    return subprocess.Popen([OKR, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=home.parent)


def test_a_reader_that_takes_one_line_and_closes_ends_okr_with_141_and_no_message(
        home: Path) -> None:
    proc = started(home, "sql", "SELECT range AS n FROM range(300000)", "--limit", "300000")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"n\n"
    proc.stdout.close()  # as head -1 does
    assert proc.wait(timeout=120) == PIPE_CLOSED == 141
    assert proc.stderr.read() == b""


def test_a_pipe_closed_before_the_first_write_ends_okr_with_141_and_no_message(
        home: Path) -> None:
    proc = started(home, "list", "krs")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""
