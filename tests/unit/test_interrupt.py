"""Ctrl-C ends every command in one line, `okr: interrupted`, exit 130 (issue 18): it printed a
40-line traceback. The interrupt is injected (SIGINT sent to this very process) in the middle
of a read, a write and a command that is still parsing its input; `okr sql`'s own Ctrl-C test,
on a real process in the middle of a query, is in test_sql_read_only.py."""

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fuzzing import event_count, fresh_copy, okr


def interrupting(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        return fn(*args, **kwargs)
    return wrapper


@pytest.mark.parametrize(("target", "args"), [
    ("okr.ledger.views.kpi_list", ["kpi", "list"]),
    ("okr.ledger.views.view", ["show", "kr-conv", "--json"]),
    ("okr.ledger.app.OkrLedger.check_in", ["checkin", "kr-conv", "2.25"]),
    ("okr.cli.times.parse_when", ["scorecard", "--as-of", "2026-11-01T12:00"]),
])
def test_ctrl_c_ends_in_one_line_with_exit_130_and_nothing_written(
        readme_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch, target: str,
        args: list[str]) -> None:
    home = fresh_copy(readme_home, workdir)
    before = event_count(home)
    monkeypatch.setattr(target, interrupting(_resolve(target)))
    result = okr(home, *args)
    assert result.crash is None, result.crash
    assert (result.code, result.stdout, result.stderr) == (130, "", "okr: interrupted\n")
    assert event_count(home) == before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def _resolve(target: str) -> Callable[..., Any]:
    import importlib
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(target)


def interrupted_after(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # the save has committed
        return result
    return wrapper


@pytest.mark.parametrize("args", [["checkin", "kr-conv", "2.25", "--at", "2026-11-20"],
                                  ["kpi", "record", "wau", "14100"]])
def test_ctrl_c_after_the_save_committed_says_recorded_and_exits_0(
        readme_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch,
        args: list[str]) -> None:
    """A trial: an import interrupted 0.3 s after its 8,000 check-ins were committed said
    `okr: interrupted`, exit 130 — and its natural re-run stored every check-in twice. Once a
    write's save has begun, Ctrl-C lets it finish and say what it recorded (README: once
    saved, a write is never reported as failed)."""
    home = fresh_copy(readme_home, workdir)
    before = event_count(home)
    monkeypatch.setattr("okr.ledger.app.OkrLedger.save_once",
                        interrupted_after(_resolve("okr.ledger.app.OkrLedger.save_once")))
    result = okr(home, *args)
    assert result.crash is None, result.crash
    assert result.code == 0, result
    assert result.stdout.strip(), result  # what it recorded
    assert result.stderr.splitlines() == [
        "okr: interrupted after the write was saved: it stands as recorded above"], result
    assert event_count(home) == before + 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_ctrl_c_twice_inside_the_saves_transaction_waits_for_it_and_says_the_truth(
        readme_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: a second Ctrl-C inside the store's transaction ended the command saying the
    write was saved when it had been rolled back. Ctrl-C while the transaction runs is only
    remembered: the save commits, and the command says so."""
    from eventsourcing.application import Application

    home = fresh_copy(readme_home, workdir)
    before = event_count(home)
    original = Application.save

    def twice_then_save(self: Any, *args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Application, "save", twice_then_save)
    result = okr(home, "checkin", "kr-conv", "2.25", "--at", "2026-11-20")
    assert result.crash is None, result.crash
    assert result.code == 0 and result.stdout.strip(), result
    assert result.stderr.splitlines() == [
        "okr: interrupted after the write was saved: it stands as recorded above"], result
    assert event_count(home) == before + 1


def test_ctrl_c_during_a_save_that_fails_ends_as_interrupted_with_nothing_written(
        readme_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventsourcing.application import Application
    from eventsourcing.persistence import OperationalError

    home = fresh_copy(readme_home, workdir)
    before = event_count(home)

    def interrupted_then_failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        raise OperationalError("injected: the store went away")

    monkeypatch.setattr(Application, "save", interrupted_then_failing)
    result = okr(home, "checkin", "kr-conv", "2.25", "--at", "2026-11-20")
    assert result.crash is None, result.crash
    assert (result.code, result.stdout, result.stderr) == (130, "", "okr: interrupted\n")
    assert event_count(home) == before


def test_a_read_is_interrupted_at_once_even_after_a_write_in_the_same_process(
        readme_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard is for writes only, and each command starts afresh (tests and the web
    run several in one process)."""
    home = fresh_copy(readme_home, workdir)
    assert okr(home, "checkin", "kr-conv", "2.25", "--at", "2026-11-20").code == 0
    monkeypatch.setattr("okr.ledger.views.kpi_list",
                        interrupting(_resolve("okr.ledger.views.kpi_list")))
    result = okr(home, "kpi", "list")
    assert (result.code, result.stdout, result.stderr) == (130, "", "okr: interrupted\n")
