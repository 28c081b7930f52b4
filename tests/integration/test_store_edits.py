"""A new user's trial of the write path and the record against plain edits of the event store:
a write refused for its own set-up writes nothing; a write recorded but not published says so;
a stored event edited with sqlite3 is a one-line finding everywhere, never a traceback; and
`okr audit verify` after a broker wipe names an edited store as tampered."""

import json
import sqlite3
from pathlib import Path

import pytest

from tests.integration.conftest import Broker, Env

pytestmark = pytest.mark.integration


def stored(env: Env, sql: str = "SELECT count(*) FROM stored_events") -> object:
    with sqlite3.connect(env.home / "events.sqlite") as conn:
        return conn.execute(sql).fetchone()[0]


def edit(env: Env, sql: str) -> None:
    with sqlite3.connect(env.home / "events.sqlite") as conn:
        conn.execute(sql)


def one_line_error(proc: object) -> str:
    err = proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return str(err)


# ---- 1. a write refused for its publishing's set-up writes nothing -------------------------

@pytest.mark.parametrize("write", [("kpi", "add", "wau", "WAU", "--green", "10", "--red", "5"),
                                   ("cycle", "add", "2027-Q1")])
def test_a_write_whose_signing_key_is_open_to_others_is_refused_with_nothing_written(
        env: Env, write: tuple[str, ...]) -> None:
    env.ok("cycle", "add", "2026-Q4")
    key = env.home / "signing-key.pem"
    key.chmod(0o644)
    proc = env.run(*write)
    assert proc.returncode == 2, proc
    assert one_line_error(proc).startswith("okr: error: ") and "mode 644" in proc.stderr
    assert stored(env) == 1  # nothing written
    key.chmod(0o600)
    env.ok(*write)  # not "already exists": the refused write left nothing behind
    assert stored(env) == 2


def test_a_checkin_whose_key_is_open_to_others_is_refused_and_never_published(env: Env) -> None:
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow", "--cycle", "2026-Q4")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    before = stored(env)
    (env.home / "signing-key.pem").chmod(0o640)
    proc = env.run("checkin", "k1", "10", "--at", "2026-11-10T09:00:00Z")  # in 2026-Q4 any day
    assert proc.returncode == 2 and "okr: error: " in one_line_error(proc)
    assert "mode 640" in proc.stderr, proc.stderr  # refused for its key, not for its time
    assert stored(env) == before
    (env.home / "signing-key.pem").chmod(0o600)
    assert "published 0 events" in env.ok("relay", "--once")


def test_a_write_recorded_but_not_published_says_so_and_exits_0(
        env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Publishing fails after the save (the key turned unreadable in between, simulated): the
    command must not claim the write failed."""
    from okr.record import signing
    from okr.settings import SettingsError
    from tests.fuzzing import okr

    env.ok("cycle", "add", "2026-Q4")

    def refuse(path: Path, checkpoint: dict[str, object]) -> dict[str, object]:
        raise SettingsError(f"{path} is readable or writable by others (mode 644): chmod 600")
    monkeypatch.setattr(signing, "sign", refuse)
    inline = {k: v for k, v in env.environ.items() if k.startswith(("OKR_", "KAFKA_"))}
    result = okr(env.home, "kpi", "add", "wau", "WAU", "--green", "10", "--red", "5",
                 env={**inline, "OKR_INLINE_PUBLISH": "on"})
    assert result.code == 0, str(result)
    assert "KPI" in result.stdout and "recorded" in result.stdout.lower(), str(result)
    assert "not published" in result.stdout.lower() and "mode 644" in result.stdout
    assert "Traceback" not in result.stderr
    assert stored(env) == 2


# ---- 2. an event edited with sqlite3: one line everywhere ----------------------------------

EDITS = {
    "state as text": "UPDATE stored_events SET state=replace(state,'WAU','WAX') WHERE rowid=2",
    "state null": "UPDATE stored_events SET state=NULL WHERE rowid=2",
    "state not json": "UPDATE stored_events SET state=X'00FF7B22' WHERE rowid=2",
    "state a list": "UPDATE stored_events SET state=CAST('[1,2]' AS BLOB) WHERE rowid=2",
    "state an empty object": "UPDATE stored_events SET state=CAST('{}' AS BLOB) WHERE rowid=2",
    "topic unknown": "UPDATE stored_events SET topic='okr.domain.kpi:Kpi.Nope' WHERE rowid=2",
}


@pytest.mark.parametrize("sql", EDITS.values(), ids=EDITS.keys())
def test_an_event_edited_with_sqlite_is_a_one_line_finding_everywhere(env: Env,
                                                                      sql: str) -> None:
    env.ok("cycle", "add", "2026-Q4")
    env.ok("kpi", "add", "wau", "WAU", "--green", "10", "--red", "5")
    env.ok("relay", "--once", "--checkpoint")
    edit(env, sql)
    proc = env.run("audit", "verify", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "tampered"
    assert any(f["problem"] == "altered" and f["position"] == 2 for f in out["findings"]), out
    human = env.run("audit", "verify")
    assert human.returncode == 1 and human.stdout.startswith("FAILED") and not human.stderr
    relay = env.run("relay", "--once")  # the edited event is the published head: checked
    assert relay.returncode == 1 and "position 2" in one_line_error(relay), relay
    for read in (("kpi", "list"), ("show", "wau")):
        proc = env.run(*read)
        assert "Traceback" not in proc.stderr, proc.stderr
        if read == ("kpi", "list") and "topic" in sql:
            continue  # a list by event class: the renamed event is not among them
        assert proc.returncode == 1, (read, proc)
        assert one_line_error(proc).startswith("okr: error: ") and "edited" in proc.stderr


# ---- 3. verify after a broker wipe with an edited store ------------------------------------

def test_verify_after_a_wipe_names_an_edited_store_tampered_and_counts_missing_events(
        private_env: Env, private_broker: Broker) -> None:
    env = private_env
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow", "--cycle", "2026-Q4")
    for n in range(6):
        env.ok("kr", "add", f"k{n}", "A" if n == 3 else f"K{n}", "--objective", "o1",
               "--target", "40")
        env.ok("checkin", f"k{n}", "10", "--at", "2026-11-10T09:00:00Z")  # in 2026-Q4 any day
    env.ok("relay", "--once", "--checkpoint")
    assert stored(env) == 14
    target = stored(env, "SELECT rowid FROM stored_events WHERE CAST(state AS TEXT) "
                         "LIKE '%\"A\"%'")
    edit(env, "UPDATE stored_events SET state=CAST(replace(CAST(state AS TEXT),"
              "'\"A\"','\"Z\"') AS BLOB) WHERE rowid=" + str(target))
    private_broker.restart()
    relay = env.run("relay", "--once")
    assert relay.returncode == 1 and "ALARM" in relay.stderr, relay
    proc = env.run("audit", "verify")
    assert proc.returncode == 1 and proc.stdout.startswith("FAILED"), proc
    assert "(store): altered" in proc.stdout and "run `okr relay`" not in proc.stdout, proc
    out = json.loads(env.run("audit", "verify", "--json").stdout)
    assert out["status"] == "tampered"
    assert out["first_problem"]["where"] == "store", out["first_problem"]
    assert out["first_problem"]["problem"] == "altered"


def test_incomplete_counts_the_events_the_topic_lacks_not_the_findings(
        private_env: Env, private_broker: Broker) -> None:
    """A wipe, and a relay that put its checkpoints back but was stopped before the events:
    the topic lacks 3 events (not 3 plus the checkpoints beyond its head)."""
    from okr.record import checkpoints
    from tests.integration.test_audit import produce

    env = private_env
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow", "--cycle", "2026-Q4")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("relay", "--once", "--checkpoint")
    s = env.settings
    own = checkpoints.load_own(s, s.topic_ledger)
    assert len(own) >= 2
    private_broker.restart()
    produce(env, s.topic_checkpoints, [(b"checkpoint", json.dumps(
        checkpoints.public(cp, s.topic_ledger)).encode()) for cp in own])
    proc = env.run("audit", "verify")
    assert proc.returncode == 3, proc
    assert "lacks 3 events" in proc.stdout, proc.stdout


# ---- 4. what the relay re-reads, and what only verify finds --------------------------------

def test_an_edit_behind_the_relays_watermark_is_not_reread_by_writes_but_verify_finds_it(
        env: Env) -> None:
    """docs/envelope.md, "What the relay re-reads": in normal running the relay re-hashes the
    event at its watermark (and those after its last checkpoint), not the whole history — a
    write costs the same however long the history is. An older published event edited in the
    store is found by `okr audit verify` (store against log, store against checkpoints)."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow", "--cycle", "2026-Q4")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("checkin", "k1", "10", "--at", "2026-11-10T09:00:00Z")  # in 2026-Q4 on any day
    edit(env, "UPDATE stored_events SET state=CAST(replace(CAST(state AS TEXT),'\"Grow\"',"
              "'\"Shrink\"') AS BLOB) WHERE rowid=2")
    out = env.ok("checkin", "k1", "12", "--at", "2026-11-11T09:00:00Z")  # write and publish
    assert "published 1 event" in out, out
    assert env.run("relay", "--once").returncode == 0
    proc = env.run("audit", "verify", "--json")
    assert proc.returncode == 1, proc
    verdict = json.loads(proc.stdout)
    assert verdict["status"] == "tampered"
    assert verdict["first_problem"]["position"] == 2, verdict["first_problem"]
    assert {(f["problem"], f["where"]) for f in verdict["findings"]
            if f["position"] == 2} >= {("altered", "store")}


def test_an_edit_of_the_last_published_event_stops_the_next_write_publishing(env: Env) -> None:
    """The event at the watermark is re-read before every publish: its edit is an alarm, the
    next write is recorded and says it was not published."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow", "--cycle", "2026-Q4")
    edit(env, "UPDATE stored_events SET state=CAST(replace(CAST(state AS TEXT),'\"Grow\"',"
              "'\"Shrink\"') AS BLOB) WHERE rowid=2")
    proc = env.run("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    assert proc.returncode == 0 and "NOT PUBLISHED" in proc.stdout, proc
    assert stored(env) == 3
    relay = env.run("relay", "--once")
    assert relay.returncode == 1 and "position 2" in one_line_error(relay)


@pytest.mark.parametrize("change", ["added", "removed"])
def test_a_member_added_to_or_removed_from_a_stored_event_is_altered_and_named(
        env: Env, change: str) -> None:
    """An auditor's trial: a check-in recorded for nobody was given an `on_behalf_of` in the
    store (a member its envelope lacks); verify crashed comparing the two (KeyError). Either
    way round, the verdict is `altered` at that position, naming the member, in one line."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow", "--cycle", "2026-Q4")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("checkin", "k1", "3", "--on-behalf-of", "Dana", "--at", "2026-11-10T09:00:00Z")
    env.ok("checkin", "k1", "4", "--at", "2026-11-11T09:00:00Z")  # in 2026-Q4 on any day
    env.ok("relay", "--once", "--checkpoint")
    assert env.run("audit", "verify").returncode == 0
    if change == "added":
        edit(env, "UPDATE stored_events SET state=CAST(replace(CAST(state AS TEXT),"
                  "'\"class_version\"','\"on_behalf_of\":\"Mallory\",\"class_version\"') AS "
                  "BLOB) WHERE rowid=5")
    else:
        edit(env, "UPDATE stored_events SET state=CAST(replace(CAST(state AS TEXT),"
                  "',\"on_behalf_of\":\"Dana\"','') AS BLOB) WHERE rowid=4")
    proc = env.run("audit", "verify", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["status"] == "tampered"
    position = 5 if change == "added" else 4
    altered = [f for f in verdict["findings"]
               if f["position"] == position and f["problem"] == "altered"]
    assert altered and "on_behalf_of" in altered[0]["detail"], verdict["findings"]
    text = env.run("audit", "verify")
    assert text.returncode == 1 and "Traceback" not in text.stderr, text.stderr


def test_an_edit_of_the_first_event_is_found_by_the_audit_not_taken_for_another_ledger(
        env: Env) -> None:
    """The ledger's identity is read from its first event (a backup restored is the same
    ledger): an edit of that event's recorded content must not make the data directory refuse
    its own store as "another ledger" — which also kept `okr audit verify` from running — but
    be found, as an edit of any other event is: `altered` at position 1."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow", "--cycle", "2026-Q4")
    edit(env, "UPDATE stored_events SET state=CAST(replace(CAST(state AS TEXT),'\"2026-Q4\"',"
              "'\"2026-Q9\"') AS BLOB) WHERE rowid=1")
    proc = env.run("audit", "verify", "--json")
    assert proc.returncode == 1, proc
    verdict = json.loads(proc.stdout)
    assert verdict["status"] == "tampered", verdict
    assert verdict["first_problem"]["position"] == 1, verdict["first_problem"]
