"""Issue 16, the store and relay half: attacks on the event store and the topic by someone who
can write the store's file or produce to the broker, each detected or refused."""

import json
import sqlite3
from datetime import datetime
from typing import Any

import pytest

from okr.record.envelope import Envelope
from tests.integration.conftest import Env
from tests.integration.test_audit import produce, verify
from tests.support.cycles import NOW_CYCLE, cycle_around_now

pytestmark = pytest.mark.integration


def _small(env: Env) -> Env:
    env.ok(*cycle_around_now())  # the check-ins below are "now"
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", NOW_CYCLE)
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("checkin", "k1", "10")
    env.ok("checkin", "k1", "12")
    env.ok("relay", "--once", "--checkpoint")
    return env


@pytest.fixture
def small(env: Env) -> Env:
    """One key result with two check-ins, published."""
    return _small(env)


def last_row(env: Env) -> tuple[int, str, int, str, dict[str, Any]]:
    with sqlite3.connect(env.home / "events.sqlite") as conn:
        row = conn.execute("SELECT rowid, originator_id, originator_version, topic, state FROM "
                           "stored_events ORDER BY rowid DESC LIMIT 1").fetchone()
    return row[0], row[1], row[2], row[3], json.loads(row[4])


def recorded_at(state: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(state["timestamp"]["_data_"])


def last_two_recorded(env: Env) -> tuple[datetime, datetime]:
    """The recording times of the store's last two events (k1's check-ins 10 and 12)."""
    with sqlite3.connect(env.home / "events.sqlite") as conn:
        rows = conn.execute("SELECT state FROM stored_events ORDER BY rowid DESC LIMIT 2"
                            ).fetchall()
    last, previous = (recorded_at(json.loads(r[0])) for r in rows)
    return previous, last


def back_dated_check_in(env: Env, value: float) -> tuple[int, datetime]:
    """A check-in of k1 appended to the store with a recording time between the last two
    events' (earlier than the last one's); the trigger refuses it, so the forger drops the
    trigger first. Halfway between them, not a fixed time before the last: two check-ins
    recorded less than that apart would put it before the first one."""
    _, origin, version, topic, state = last_row(env)
    previous, last = last_two_recorded(env)
    assert previous < last
    forged_at = previous + (last - previous) / 2
    stamp = {"_type_": "datetime_iso", "_data_": forged_at.isoformat()}
    state = {**state, "value": value, "timestamp": stamp, "effective_at": stamp,
             "originator_version": version + 1}
    row = (origin, version + 1, topic, json.dumps(state).encode())
    db = env.home / "events.sqlite"
    with sqlite3.connect(db) as conn, pytest.raises(sqlite3.IntegrityError, match="recording"):
        conn.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)", row)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER okr_recording_time_rises")
        conn.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)", row)
        position = conn.execute("SELECT max(rowid) FROM stored_events").fetchone()[0]
    return position, forged_at


def values(cards: Any) -> list[float]:
    """Every current value in a scorecard's JSON."""
    return [kr["value"] for o in cards["objectives"] for kr in o["key_results"]]


def test_a_back_dated_insert_is_never_published_and_verify_names_it(small: Env) -> None:
    _, last = last_two_recorded(small)
    position, forged_at = back_dated_check_in(small, 777)
    proc = small.run("relay", "--once")
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1
    assert f"position {position}" in proc.stderr and "earlier" in proc.stderr
    code, out = verify(small)
    assert code == 1
    assert {(f["problem"], f["position"], f["where"]) for f in out["findings"]} >= {
        ("backdated", position, "store")}
    known = (forged_at + (last - forged_at) / 2).isoformat()  # after 10's recording, before 12's
    cards = json.loads(small.ok("scorecard", "--as-of", known, "--known-at", known, "--json"))
    assert 777 not in values(cards) and values(cards) == [10.0]
    now = json.loads(small.ok("scorecard", "--json"))
    assert values(now) == [12.0]
    replay = json.loads(small.ok("audit", "replay", "--until", known, "--json"))
    assert 777 not in values(replay)


def test_the_relay_refuses_a_back_dated_event_even_with_the_trigger_gone(small: Env) -> None:
    """The same insert, reaching a relay that already runs inline (a later CLI write)."""
    position, _ = back_dated_check_in(small, 777)
    proc = small.run("checkin", "k1", "13")  # recorded; its inline publish stops before 777
    assert proc.returncode == 0, proc.stderr
    records = [Envelope.from_bytes(m.value or b"") for m in _ledger(small)]
    assert max(e.position for e in records) < position
    assert 777 not in [e.data.get("value") for e in records]


def _ledger(env: Env) -> list[Any]:
    from okr.adapters import kafka_client
    s = env.settings
    return list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "", s.topic_ledger,
                                        idle=2.0))


def test_junk_on_the_topic_never_stops_a_republish(private_env: Env,
                                                   private_broker: Any) -> None:
    """Attack 5: the broker restarts (memory only: the topic is gone) and a local user produces
    junk records first — as many as the ledger had, well-formed or not; the relay still
    republishes, and the projection shows the ledger."""
    from okr.adapters import kafka_client
    env = _small(private_env)
    s = env.settings
    records = _ledger(env)
    private_broker.restart()
    kafka_client.ensure_topics(s, s.kafka_bootstrap_servers or "", [s.topic_ledger])
    first = Envelope.from_bytes(records[0].value or b"").to_dict()
    junk = [(b"x", b"not json")] * len(records) + [
        (b"x", json.dumps({**first, "hash": "0" * 64}).encode())] + [
        (m.key, m.value or b"") for m in records[:2]]  # genuine records, replayed
    produce(env, s.topic_ledger, junk)
    out = json.loads(env.ok("relay", "--once", "--json"))
    assert out["republished"] and out["published"] == len(records)
    assert not out["recreated"]  # the configured partitions: the junk stays, for verify
    code, verdict = verify(env)
    assert code == 1 and verdict["events"] == len(records)
    assert {f["problem"] for f in verdict["findings"]} == {"malformed", "altered"}
    assert values(json.loads(env.ok("scorecard", "--json"))) == [12.0]


def test_a_deleted_last_row_whose_position_is_reused_is_an_alarm(small: Env) -> None:
    """Attack 5: the store's last (published) row deleted; the next write takes its position,
    which the relay's watermark says was published already."""
    db = small.home / "events.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = (SELECT max(rowid) FROM "
                     "stored_events)")
    small.ok("checkin", "k1", "20", OKR_INLINE_PUBLISH="off")
    proc = small.run("relay", "--once")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    assert "diverged" in proc.stderr
    with sqlite3.connect(db) as conn:  # cut, nothing written after it
        conn.execute("DELETE FROM stored_events WHERE rowid = (SELECT max(rowid) FROM "
                     "stored_events)")
    proc = small.run("relay", "--once")
    assert proc.returncode != 0 and "no longer holds position" in proc.stderr


def test_an_edited_projection_is_named_by_verify_projection(small: Env) -> None:
    """Attack 6: someone who can write the DuckDB files sets a check-in to 1000 by "mallory";
    `okr audit verify --projection` recomputes the tables from the log and names the row."""
    import duckdb
    small.ok("consume", "--once")
    code, out = verify(small, "--projection")
    assert code == 0 and out["ok"], out["first_problem"]
    s = small.settings
    files = [p for p in (s.projection_work_file, s.duckdb_file) if p.exists()]
    assert files
    for path in files:
        con = duckdb.connect(str(path))
        position = con.execute("SELECT max(position) FROM check_ins").fetchone()[0]
        con.execute("UPDATE check_ins SET value = 1000, actor = 'mallory' WHERE position = ?",
                    [position])
        con.close()
    code, out = verify(small, "--projection")
    assert code == 1
    named = [f for f in out["findings"] if f["problem"] == "projection-altered"]
    assert {f["where"] for f in named} == {p.name for p in files}
    assert all("check_ins" in f["detail"] and "mallory" in f["detail"]
               and f["position"] == position for f in named)
