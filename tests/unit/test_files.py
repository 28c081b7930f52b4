"""okr/files.py: a file or folder the user named is written whole or not at all
(tests/integration/test_interrupted_writes.py has the commands, Ctrl-C'd and failing)."""

import os
import signal
from pathlib import Path

import pytest

from okr.files import _ctrl_c_held, new_file, new_folder


class Failed(Exception):
    pass


def test_a_file_whose_writing_fails_leaves_the_earlier_one_and_no_temporary(
        tmp_path: Path) -> None:
    target = tmp_path / "out.html"
    target.write_text("earlier", encoding="utf-8")
    with pytest.raises(Failed), new_file(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise Failed
    assert target.read_text(encoding="utf-8") == "earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["out.html"]
    with new_file(target) as tmp:
        tmp.write_text("whole", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["out.html"]


def test_a_link_keeps_pointing_at_the_file_it_names(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("earlier", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to("real.txt")
    with new_file(tmp_path / "link.txt") as tmp:
        tmp.write_text("new", encoding="utf-8")
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text(encoding="utf-8") == "new"


def test_a_folder_whose_writing_fails_is_not_made(tmp_path: Path) -> None:
    with pytest.raises(Failed), new_folder(tmp_path / "out") as folder:
        (folder / "a.parquet").write_bytes(b"half")
        raise Failed
    assert list(tmp_path.iterdir()) == []


def test_a_new_or_empty_folder_is_the_written_one(tmp_path: Path) -> None:
    for out in (tmp_path / "new", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        with new_folder(out) as folder:
            (folder / "a.parquet").write_bytes(b"a")
        assert [p.name for p in out.iterdir()] == ["a.parquet"]
        assert out.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "new"]


def test_a_folder_in_use_gets_the_new_entries_and_keeps_the_others(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "check_ins" / "cycle=old").mkdir(parents=True)
    (out / "check_ins" / "cycle=old" / "data_0.parquet").write_bytes(b"old")
    (out / "a.parquet").write_bytes(b"old")
    (out / "notes.txt").write_bytes(b"mine")
    with pytest.raises(Failed), new_folder(out) as folder:
        (folder / "a.parquet").write_bytes(b"half")
        raise Failed
    assert (out / "a.parquet").read_bytes() == b"old"
    with new_folder(out) as folder:
        (folder / "check_ins" / "cycle=new").mkdir(parents=True)
        (folder / "a.parquet").write_bytes(b"new")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "a.parquet", "check_ins", "check_ins/cycle=new", "notes.txt"]
    assert (out / "a.parquet").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_ctrl_c_while_a_result_is_put_in_place_acts_after_it(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(signum: int, frame: object) -> None:
        seen.append("handled")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        with _ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            seen.append("block ended")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == ["block ended", "handled"]
