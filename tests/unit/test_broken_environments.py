"""Broken environments (issue 18): a store that cannot be reached or read, a damaged event
store, an unwritable data directory, no ledger at all — one line naming the party that failed,
a distinct exit code (okr/errors.py), nothing written, never an empty answer."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from okr.errors import BAD_INPUT, EXIT_CODES, UNAVAILABLE, exit_code
from tests.fuzzing import event_count, fresh_copy, okr
from tests.support.privileges import drop_root_powers
from tests.unit.test_cli_writes import OKR

ROOT = Path(__file__).resolve().parents[2]

READS = [["scorecard"], ["show", "kr-conv"], ["history", "kr-conv"], ["audit", "trail", "kr-conv"],
         ["audit", "verify"], ["sql", "SELECT 1"], ["kpi", "list"], ["review", "2026-Q4"]]
WRITES = [["checkin", "kr-conv", "2.3"], ["objective", "add", "o9", "Nine", "--cycle", "2026-Q4",
                                            "--reason", "late"]]


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_every_exit_code_is_distinct_documented_and_in_one_table() -> None:
    codes = {code for _, code, _ in EXIT_CODES}
    assert codes == {1, 2, 3, 4}
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for code, meaning in [(0, "ok"), (1, "verification failed"), (2, "bad input"),
                          (3, "incomplete or stale"), (4, "service unavailable")]:
        assert re.search(rf"^\| {code} \| {meaning}", doc, re.M), (code, meaning)
    for cls, code, _ in EXIT_CODES:
        assert exit_code(cls("x")) == code
    assert exit_code(ValueError("not ours")) == BAD_INPUT


@pytest.mark.parametrize("args", READS + WRITES, ids=" ".join)
def test_a_damaged_event_store_is_one_line_and_exit_4(readme_home: Path, workdir: Path,
                                                      args: list[str]) -> None:
    home = fresh_copy(readme_home, workdir)
    store = home / "events.sqlite"
    data = store.read_bytes()
    store.write_bytes(b"\x00garbage" * (len(data) // 8))  # the same size, not a database
    damaged = store.read_bytes()
    result = okr(home, *args)
    assert result.code == UNAVAILABLE, str(result)
    assert "event store is damaged" in one_line(result.stderr)
    assert result.stdout == ""  # never an empty answer
    assert store.read_bytes() == damaged
    assert not (home / "broker.json").exists()  # nothing started for a store it cannot read


@pytest.mark.postgres
@pytest.mark.parametrize("args", [["scorecard"], ["show", "kr-conv"], ["checkin", "kr-conv", "1"]],
                         ids=" ".join)
@pytest.mark.parametrize("problem", [{"POSTGRES_DBNAME": "okr_no_such_database"},
                                     {"POSTGRES_PORT": "1"}], ids=["no database", "no server"])
def test_an_unreachable_postgres_store_is_one_line_and_exit_4(
        tmp_path: Path, args: list[str], problem: dict[str, str]) -> None:
    pytest.importorskip("psycopg")
    home = tmp_path / "home"
    result = okr(home, *args, env={"OKR_STORE": "postgres", **problem})
    assert result.code == UNAVAILABLE, str(result)
    line = one_line(result.stderr)
    assert "event store unavailable" in line and "POSTGRES_" in line
    assert result.stdout == ""  # not "no objectives"
    assert not (home / "broker.json").exists()


# Besides reads: what reads the ledger to publish or to check against it (relay and ingest
# --once made a store and started a broker in an empty directory: a reviewer's finding).
LEDGER_USERS = [["keys", "export"], ["audit", "prove", "kr-conv"],
                ["audit", "export", "--cycle", "2026-Q4", "--out", "bundle"],
                ["audit", "checkpoints", "--out", "checkpoints"],
                ["relay", "--once"], ["relay", "--checkpoint"], ["ingest", "--once"]]


@pytest.mark.parametrize("args", READS + LEDGER_USERS, ids=" ".join)
def test_a_read_key_or_audit_without_a_ledger_says_so_and_creates_nothing(
        tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "mistyped"
    result = okr(home, *args)
    assert result.code == BAD_INPUT, str(result)
    line = one_line(result.stderr)
    assert "no ledger in" in line, line
    assert "okr cycle add" in line or args == ["keys", "export"], line  # it names --create
    assert result.stdout == ""  # no public key of a key made now, unrelated to any ledger
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no directory, no key


def test_keys_export_makes_a_key_without_a_ledger_only_when_told_to(tmp_path: Path) -> None:
    """A mistyped OKR_SIGNING_KEY is refused as a mistyped --home is; --create (a volume that
    holds only the key, docker/compose.yaml) makes it."""
    key = tmp_path / "keys" / "relay.pem"
    key.parent.mkdir(mode=0o700)
    env = {"OKR_SIGNING_KEY": str(key)}
    refused = okr(tmp_path / "no-ledger", "keys", "export", env=env)
    assert refused.code == BAD_INPUT and "--create" in one_line(refused.stderr), str(refused)
    assert not key.exists() and not (tmp_path / "no-ledger").exists()
    made = okr(tmp_path / "no-ledger", "keys", "export", "--create", env=env)
    assert made.code == 0 and "BEGIN PUBLIC KEY" in made.stdout, str(made)
    assert key.is_file()


def test_keys_export_of_a_configured_key_needs_no_ledger(tmp_path: Path) -> None:
    from okr.record.signing import private_key, public_key_pem
    key = tmp_path / "keys" / "relay.pem"
    key.parent.mkdir(mode=0o700)
    private_key(key)
    result = okr(tmp_path / "no-ledger", "keys", "export", env={"OKR_SIGNING_KEY": str(key)})
    assert result.code == 0, str(result)
    assert result.stdout.strip() == public_key_pem(key).strip()
    assert not (tmp_path / "no-ledger").exists()


# Writes that need something recorded before them (a cycle, an objective, a key result, a KPI,
# a user): in a directory without a ledger they are refused as a read is, before anything is
# opened. Only `cycle add`, `kpi add`, `user add` and `import plan` can start a ledger.
NEEDS_A_LEDGER = [["checkin", "NOPE", "5"], ["objective", "add", "x", "t", "--cycle", "NOPE"],
                  ["kr", "add", "k", "t", "--objective", "NOPE", "--target", "1"],
                  ["initiative", "add", "i", "t", "--kr", "NOPE"], ["kpi", "record", "NOPE", "1"],
                  ["cycle", "commit", "2026-Q4"], ["cycle", "carry", "2026-Q3", "2026-Q4"],
                  ["user", "password", "NOPE"], ["token", "create", "NOPE"],
                  ["import", "checkins", "checkins.csv"]]


# What can start a ledger, refused: the refusal leaves no directory and no store behind.
REFUSED_STARTS = [["cycle", "add", "NOPE"], ["kpi", "add", "k", "K", "--green", "1", "--red", "2"],
                  ["user", "add", "u", "--role", "bogus"], ["import", "plan", "bad.yaml"]]


@pytest.mark.parametrize("args", REFUSED_STARTS, ids=" ".join)
def test_a_refused_first_write_leaves_no_ledger_behind(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "fresh2"
    (tmp_path / "bad.yaml").write_text("cycles: [{key: NOPE}]\n")
    result = okr(home, *args)
    assert result.code == BAD_INPUT, str(result)
    assert "no ledger" not in result.stderr  # these may start one: the input was what was wrong
    assert not home.exists()
    assert "no ledger in" in okr(home, "scorecard").stderr


def test_a_first_write_that_succeeds_starts_the_ledger(tmp_path: Path) -> None:
    home = tmp_path / "fresh2"
    assert okr(home, "cycle", "add", "2026-Q4").code == 0
    assert (home / "events.sqlite").is_file()
    assert event_count(home) == 1
    added = okr(home, "kpi", "add", "wau", "Weekly users", "--green", "2", "--red", "1")
    assert added.code == 0, str(added)
    assert okr(home, "cycle", "add", "2026-Q4").code == BAD_INPUT  # it is there now
    assert event_count(home) == 2


@pytest.mark.parametrize("args", NEEDS_A_LEDGER, ids=" ".join)
def test_a_write_that_cannot_start_a_ledger_says_so_and_creates_nothing(
        tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "fresh2"
    (tmp_path / "checkins.csv").write_text("kr,value,at\nNOPE,5,2026-11-02\n")
    result = okr(home, *args)
    assert result.code == BAD_INPUT, str(result)
    line = one_line(result.stderr)
    assert "no ledger in" in line and "okr cycle add" in line, line
    assert result.stdout == ""
    assert not home.exists()
    # and a read there still finds no ledger (the refused write left none behind)
    assert "no ledger in" in okr(home, "scorecard").stderr



@pytest.mark.parametrize("args", [*READS[:2], *WRITES, ["keys", "export"], ["consume", "--once"]],
                         ids=" ".join)
def test_an_unwritable_data_dir_is_one_line_and_exit_4(readme_home: Path, workdir: Path,
                                                       args: list[str]) -> None:
    home = fresh_copy(readme_home, workdir)
    (home / "signing-key.pem").unlink(missing_ok=True)
    before = event_count(home)
    for path in [home, *home.iterdir()]:
        path.chmod(0o500 if path.is_dir() else 0o400)
    try:
        env = {**os.environ, "OKR_HOME": str(home),
               "OKR_INLINE_PUBLISH": "off", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
        proc = subprocess.run([*drop_root_powers(), OKR, *args], capture_output=True,
                              text=True, env=env, timeout=120, cwd=workdir)
    finally:
        for path in [home, *home.iterdir()]:
            path.chmod(0o700 if path.is_dir() else 0o600)
    assert proc.returncode == UNAVAILABLE, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith("okr: error: ") and ("data directory" in line
                                                or "event store file" in line), line
    assert event_count(home) == before


@pytest.fixture
def stale_home(tmp_path: Path) -> tuple[Path, int, int]:
    """A data directory whose projection holds the first events of the store only."""
    from okr.ledger.app import OkrLedger
    from okr.settings import load_settings
    from tests.unit.test_read_access import project

    settings = load_settings({"home": tmp_path / "home"}, environ={})
    app = OkrLedger(settings)
    app.add_cycle("2026-Q4")
    app.add_objective("o1", "Grow revenue", cycle="2026-Q4", owner="ana")
    project(app, settings)
    shown = app.recorder.max_notification_id()
    for n in range(2, 7):
        app.add_objective(f"o{n}", f"Objective {n}", cycle="2026-Q4", owner="ana")
    stored = app.recorder.max_notification_id()
    app.close()
    return settings.home, shown, stored


# The refresh fails (nothing listens there): the read shows what it has.
NO_KAFKA = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}


def test_a_stale_read_says_how_far_it_lags_and_json_carries_it(
        stale_home: tuple[Path, int, int]) -> None:
    home, shown, stored = stale_home
    result = okr(home, "scorecard", "--json", env=NO_KAFKA)
    assert result.code == 0, str(result)
    assert f"okr: warning: showing {shown} of {stored} events; start 'okr up' or run " \
           "'okr consume'" in result.stderr
    # why it could not refresh, said at once: the broker refused, no bootstrap to wait out
    assert "no Kafka broker answers at 127.0.0.1:1: connection refused)" in result.stderr
    data = json.loads(result.stdout)
    assert data["stale"] == {"shown_events": shown, "stored_events": stored,
                             "missing_events": stored - shown}
    assert [o["key"] for o in data["objectives"]] == ["o1"]
    human = okr(home, "scorecard", env=NO_KAFKA)
    assert human.code == 0 and f"showing {shown} of {stored} events" in human.stderr


def test_a_stale_read_with_strict_fails_with_exit_3(stale_home: tuple[Path, int, int]) -> None:
    home, shown, stored = stale_home
    result = okr(home, "--strict", "scorecard", env=NO_KAFKA)
    assert result.code == 3, str(result)
    last = result.stderr.strip().splitlines()[-1]  # after the refresh's warning
    assert last.startswith("okr: error: the projection is stale: ")
    assert f"showing {shown} of {stored} events" in last
    assert result.stdout == ""


def test_a_write_whose_kafka_refuses_says_why_it_was_not_published(
        stale_home: tuple[Path, int, int]) -> None:
    home, _, stored = stale_home
    result = okr(home, "objective", "add", "o9", "Nine", "--cycle", "2026-Q4", "--owner", "ana",
                 "--reason", "r", env={**NO_KAFKA, "OKR_INLINE_PUBLISH": "on"})
    assert result.code == 0, str(result)
    line = result.stdout.splitlines()[-1]
    assert line.startswith(f"{stored + 1} events wait to be published (Kafka unreachable: "), line
    assert "no Kafka broker answers at 127.0.0.1:1: connection refused)" in line, line


def test_a_complete_projection_gives_no_warning(stale_home: tuple[Path, int, int],
                                                tmp_path: Path) -> None:
    from okr.ledger.app import OkrLedger
    from okr.settings import load_settings
    from tests.unit.test_read_access import project

    home = stale_home[0]
    settings = load_settings({"home": home}, environ={})
    app = OkrLedger(settings)
    project(app, settings)
    app.close()
    result = okr(home, "--strict", "scorecard", "--json", env=NO_KAFKA)
    assert result.code == 0 and result.stderr == "", str(result)
    assert "stale" not in json.loads(result.stdout)


# The one-shot commands that read or publish Kafka and nothing else: a refusing Kafka is said
# at once in the words reads and writes use, not after the client's bootstrap (about 11 s of
# retries, then "Unable to bootstrap"; `okr relay --once` is what a write tells you to run).
@pytest.mark.parametrize("args", [["relay", "--once"], ["relay", "--once", "--checkpoint"],
                                  ["ingest", "--once"], ["audit", "verify"],
                                  ["audit", "replay", "--until", "2026-12-31"],
                                  ["audit", "checkpoints", "--out", "-"]], ids=" ".join)
def test_a_one_shot_kafka_command_says_at_once_that_no_broker_answers(
        stale_home: tuple[Path, int, int], args: list[str]) -> None:
    import time
    home, _, stored = stale_home
    assert okr(home, "keys", "export", "--create").code == 0  # verify asks for the key first
    started = time.monotonic()
    result = okr(home, *args, env=NO_KAFKA)
    took = time.monotonic() - started
    assert result.code == UNAVAILABLE, str(result)
    line = one_line(result.stderr)
    assert line.startswith("okr: error: ") and \
        "no Kafka broker answers at 127.0.0.1:1: connection refused" in line, line
    assert took < 5, f"{took:.1f} s"
    assert result.stdout == "" and event_count(home) == stored


def test_a_read_with_no_projection_yet_and_no_kafka_is_unavailable_in_one_line(
        tmp_path: Path) -> None:
    """Nothing projected yet and Kafka refusing: exit 4 (a service), one line saying why —
    not "showing the last snapshot" over an exit-2 "no projection" (bad input)."""
    from okr.ledger.app import OkrLedger
    from okr.settings import load_settings

    settings = load_settings({"home": tmp_path / "home"}, environ={})
    app = OkrLedger(settings)
    app.add_cycle("2026-Q4")
    app.close()
    for args in (["scorecard"], ["list", "krs", "--json"]):
        result = okr(settings.home, *args, env=NO_KAFKA)
        assert result.code == UNAVAILABLE, str(result)
        line = one_line(result.stderr)
        assert line.startswith("okr: error: no projection at ") and \
            "no Kafka broker answers at 127.0.0.1:1: connection refused" in line, line
        assert "snapshot" not in line and result.stdout == "", str(result)
