"""Forged records never win (issue 16, attack 4): anyone who reaches the broker can produce a
well-formed envelope with a recomputed hash. The projection applies a record only once a
signed checkpoint, verified with the relay's public key, covers it; a forgery is dead-lettered
as an alarm, and the projection rebuilt from the topic still shows the true history."""

import json
from datetime import UTC, datetime

import pytest

from okr.adapters import kafka_client
from okr.record.envelope import Envelope, canonical_json, iso, record_hash
from tests.integration.conftest import Env
from tests.integration.test_audit import produce, verify
from tests.integration.test_relay import topic_records
from tests.support.cycles import NOW_CYCLE, cycle_around_now

pytestmark = pytest.mark.integration


def forge_next_check_in(env: Env, kr: str, value: float) -> Envelope:
    """The envelope the next real check-in on `kr` would get, with the forger's content."""
    envs = sorted({e.position: e for e in (Envelope.from_bytes(m.value or b"")
                                           for m in topic_records(env))}.values(),
                  key=lambda e: e.position)
    added = next(e for e in envs if e.type == "KeyResultAdded" and e.data["key"] == kr)
    version = max(e.version for e in envs if e.aggregate_id == added.aggregate_id)
    last, now = envs[-1], iso(datetime.now(UTC))
    doc = {"schema": "okr.ledger/v1", "position": last.position + 1,
           "event_id": "00000000-0000-5000-8000-000000000777", "type": "CheckInRecorded",
           "aggregate_type": "key_result", "aggregate_id": added.aggregate_id,
           "version": version + 1, "recorded_at": now, "effective_at": now, "actor": "ceo",
           "reason": None, "data": {"value": value, "confidence": None, "note": "",
                                    "source": "manual"},
           "prev_hash": last.hash, "hash": "0" * 64}
    doc["hash"] = record_hash(canonical_json(doc), last.hash) or ""
    raw = canonical_json(doc)
    forged = Envelope.from_bytes(raw)
    assert forged.hash_ok(raw)
    produce(env, env.settings.topic_ledger, [(added.aggregate_id.encode(), raw)])
    return forged


def values(env: Env) -> list[float]:
    """The check-in values `okr history` shows (none of them by the forger)."""
    hist = json.loads(env.ok("history", "k1", "--json"))
    assert all(c["actor"] != "ceo" for c in hist["check_ins"])
    return [c["value"] for c in hist["check_ins"]]


def test_a_forged_check_in_produced_before_the_real_one_never_wins(env: Env) -> None:
    env.ok(*cycle_around_now())  # check-ins "now", real and forged
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", NOW_CYCLE)
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("checkin", "k1", "5")
    assert values(env) == [5.0]
    forged = forge_next_check_in(env, "k1", 777.0)
    assert values(env) == [5.0]  # not covered by a signed checkpoint: waits
    env.ok("checkin", "k1", "6")  # the real event at the forged position, then a checkpoint
    assert values(env) == [5.0, 6.0]
    for f in (env.settings.duckdb_file, env.settings.projection_work_file):
        f.unlink()
    assert values(env) == [5.0, 6.0]  # rebuilt from the topic
    s = env.settings
    letters = list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "",
                                           s.topic_dead_letter, idle=2.0))
    reasons = [dict(m.headers)["reason"].decode() for m in letters]
    assert reasons and all(f"position {forged.position}" in r for r in reasons), reasons
    assert all("forged or conflicting" in r for r in reasons)
    code, out = verify(env)  # and the auditor is told where
    assert code == 1 and out["first_problem"]["position"] == forged.position


def test_records_no_checkpoint_covers_are_not_applied(env: Env) -> None:
    """A forged record at the next position with nothing real behind it stays unapplied."""
    env.ok(*cycle_around_now())  # check-ins "now", real and forged
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", NOW_CYCLE)
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    forge_next_check_in(env, "k1", 777.0)
    assert values(env) == []


def test_a_forged_record_behind_a_waiting_one_is_dead_lettered_once(env: Env) -> None:
    """A forgery at the next position waits at the gate (no checkpoint covers it), so its
    partition's stored offset stays before it; a conflicting copy of an applied record
    produced after it in the same partition is dead-lettered — once, not again by every
    consumer run that reads the partition from the waiting record."""
    env.ok(*cycle_around_now())  # check-ins "now", real and forged
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", NOW_CYCLE)
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("checkin", "k1", "5")
    assert values(env) == [5.0]
    forge_next_check_in(env, "k1", 777.0)
    real = next(e for e in (Envelope.from_bytes(m.value or b"") for m in topic_records(env))
                if e.type == "CheckInRecorded")
    doc = {**json.loads(real.to_bytes()), "hash": "0" * 64}
    doc["data"] = {**doc["data"], "value": 2.4}
    doc["hash"] = record_hash(canonical_json(doc), doc["prev_hash"]) or ""
    raw = canonical_json(doc)
    assert Envelope.from_bytes(raw).hash_ok(raw)
    produce(env, env.settings.topic_ledger, [(real.aggregate_id.encode(), raw)])
    s = env.settings
    for _ in range(3):
        proc = env.run("consume", "--once")
        assert proc.returncode == 0, proc.stderr
    letters = list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "",
                                           s.topic_dead_letter, idle=2.0))
    sources = [(dict(m.headers)["source.partition"], dict(m.headers)["source.offset"])
               for m in letters]
    assert len(letters) == 1, sources
    assert f"position {real.position}" in dict(letters[0].headers)["reason"].decode()
    assert values(env) == [5.0]
