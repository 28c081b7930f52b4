"""Audit against a real broker: trail, replay, verify (clean and tampered, in Kafka and in the
SQLite store), offline bundles."""

import json
import os
import pwd
import sqlite3
from pathlib import Path

import pytest

from okr.adapters import kafka_client
from okr.domain.history import scorecard_at
from okr.domain.rollup import summaries
from okr.projections.store import Projection
from okr.record.envelope import Envelope, canonical_json, chain_hash
from tests.integration.conftest import Env
from tests.integration.test_relay import fill, topic_records
from tests.support.generator import Shape
from tests.unit.test_projection_differential import same

pytestmark = pytest.mark.integration


@pytest.fixture
def audited(env: Env) -> Env:
    """A small history, published with checkpoints every 50 events."""
    env.environ["OKR_CHECKPOINT_EVERY"] = "50"
    fill(env, Shape(seed=31, teams=2, quarters=1, kpis=2))
    env.ok("relay", "--once", "--checkpoint")
    return env


def verify(env: Env, *extra: str) -> tuple[int, dict]:
    proc = env.run("audit", "verify", "--json", *extra)
    return proc.returncode, json.loads(proc.stdout)


def produce(env: Env, topic: str, values: list[tuple[bytes | None, bytes]]) -> None:
    s = env.settings
    prod = kafka_client.producer(s, s.kafka_bootstrap_servers or "")
    for key, value in values:
        prod.send(topic, key=key, value=value)
    prod.flush()
    prod.close()


def copy_topic(env: Env, messages: list[kafka_client.Message], name: str) -> Env:
    """A forged copy of the log: the given records produced, in order, to a new topic."""
    s = env.settings
    kafka_client.ensure_topics(s, s.kafka_bootstrap_servers or "", [name])
    # One partition per key as the relay does it: same partitioner, same keys.
    produce(env, name, [(m.key, m.value or b"") for m in messages])
    return Env(env.home, {**env.environ, "OKR_TOPIC_LEDGER": name})


def test_untouched_log_verifies_clean(audited: Env) -> None:
    code, out = verify(audited)
    assert code == 0 and out["ok"] and out["checkpoints"] >= 2
    assert out["events"] == out["head_position"]


def test_forged_records_in_kafka_are_detected_and_located(audited: Env) -> None:
    records = topic_records(audited)
    envs = [Envelope.from_bytes(m.value or b"") for m in records]
    target = next(e for e in envs if e.type == "CheckInRecorded" and e.position > 60)
    # Altered: a different record at an existing position, appended by a forger.
    forged = target.to_dict()
    forged["data"]["value"] = 999.0
    forged["hash"] = chain_hash(forged["prev_hash"], {k: v for k, v in forged.items()
                                                      if k != "hash"})
    produce(audited, audited.settings.topic_ledger,
            [(target.aggregate_id.encode(), canonical_json(forged))])
    code, out = verify(audited)
    assert code == 1 and out["first_problem"]["position"] == target.position
    assert out["first_problem"]["problem"] == "altered"
    proc = audited.run("audit", "verify")
    assert proc.returncode == 1 and f"position {target.position}" in proc.stdout


def test_deleted_inserted_and_reordered_records_are_detected(audited: Env) -> None:
    records = topic_records(audited)
    by_pos = sorted(records, key=lambda m: Envelope.from_bytes(m.value or b"").position)
    # Deleted: a copy of the log without one record.
    gone = by_pos[40]
    pos = Envelope.from_bytes(gone.value or b"").position
    code, out = verify(copy_topic(audited, [m for m in by_pos if m is not gone], "forged.del"))
    assert code == 1 and out["first_problem"]["position"] == pos
    assert out["first_problem"]["problem"] == "missing"
    # Reordered: two events of one aggregate swapped.
    envs = [Envelope.from_bytes(m.value or b"") for m in by_pos]
    agg = next(e.aggregate_id for e in envs if e.version == 3)
    mine = [i for i, e in enumerate(envs) if e.aggregate_id == agg]
    swapped = list(by_pos)
    swapped[mine[1]], swapped[mine[2]] = swapped[mine[2]], swapped[mine[1]]
    code, out = verify(copy_topic(audited, swapped, "forged.swap"), "--no-store")
    assert code == 1 and out["first_problem"]["problem"] == "reordered"
    # Inserted: a made-up event appended with the next position, chained correctly.
    last = envs[-1].to_dict()
    fake = {**last, "position": last["position"] + 1, "version": last["version"] + 1,
            "prev_hash": last["hash"]}
    fake["hash"] = chain_hash(fake["prev_hash"], {k: v for k, v in fake.items() if k != "hash"})
    code, out = verify(copy_topic(audited, [*by_pos, _msg(last["aggregate_id"], fake)],
                                  "forged.ins"))
    assert code == 1 and out["first_problem"]["position"] == fake["position"]
    assert out["first_problem"]["problem"] == "inserted"


def _msg(aggregate_id: str, doc: dict) -> kafka_client.Message:
    return kafka_client.Message("", 0, 0, aggregate_id.encode(), canonical_json(doc), ())


def test_tampering_with_the_sqlite_store_is_detected(audited: Env) -> None:
    db = audited.home / "events.sqlite"
    with sqlite3.connect(db) as conn:
        rowid, state = conn.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE "
                                    "'%CheckInRecorded' LIMIT 1 OFFSET 5").fetchone()
        doc = json.loads(state)
        doc["value"] = doc["value"] + 1
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                     (json.dumps(doc).encode(), rowid))
    code, out = verify(audited)
    assert code == 1 and out["first_problem"]["position"] == rowid
    assert out["first_problem"]["where"] == "store"


def test_a_forged_checkpoint_is_detected(audited: Env) -> None:
    cp = {"position": 10, "head_hash": "f" * 64, "count": 10, "time": "2026-01-01T00:00:00Z",
          "signature": "00" * 64, "topic": audited.settings.topic_ledger}
    produce(audited, audited.settings.topic_checkpoints, [(b"checkpoint", canonical_json(cp))])
    code, out = verify(audited)
    assert code == 1 and out["first_problem"]["problem"] == "bad-signature"
    assert out["first_problem"]["position"] == 10


def test_trail_shows_field_diffs_with_actor_and_reason(env: Env) -> None:
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("cycle", "commit", "2026-Q4")
    env.ok("kr", "revise", "k1", "--target", "25", "--reason", "hiring freeze")
    rows = json.loads(env.ok("audit", "trail", "k1", "--json"))
    assert [r["event"] for r in rows] == ["KeyResultAdded", "KeyResultRevised"]
    assert rows[1]["changes"]["target"] == {"before": 40.0, "after": 25.0}
    assert rows[1]["actor"] == pwd.getpwuid(os.geteuid()).pw_name  # who ran okr
    assert rows[1]["reason"] == "hiring freeze"
    out = env.ok("audit", "trail", "k1", "--format", "csv")
    assert "target,40.0,25.0,hiring freeze" in out


def test_replay_agrees_with_the_projection_at_every_checkpoint(audited: Env) -> None:
    audited.ok("consume", "--once")
    proj = Projection(audited.settings.duckdb_file, read_only=True)
    facts = {f.position: f for f in proj.facts()}
    cps = [json.loads(m.value or b"") for m in kafka_client.read_topic(
        audited.settings, audited.settings.kafka_bootstrap_servers or "",
        audited.settings.topic_checkpoints, idle=2.0)]
    assert len(cps) >= 2
    for cp in cps:
        t = facts[cp["position"]].recorded_at
        out = json.loads(audited.ok("audit", "replay", "--until", t.isoformat(), "--json"))
        assert out["objectives"] and same(out["objectives"],
                                          _as_json(proj.scorecard_at(t, t))) == []
        # and the team and department summaries `okr scorecard` ends with, from the log alone
        assert out["summaries"] == _as_json(summaries(proj.scorecard_at(t, t)))
        assert same(scorecard_at(list(facts.values()), t, t), proj.scorecard_at(t, t)) == []
    proj.close()


def _as_json(cards: list[dict]) -> list[dict]:
    from okr.cli.output import to_json
    return json.loads(to_json(cards))


def test_bundle_verifies_offline_and_detects_an_edit(audited: Env, tmp_path: Path) -> None:
    out = json.loads(audited.ok("audit", "export", "--cycle", "2025-Q3", "--out",
                                str(tmp_path / "bundle"), "--json"))
    assert out["events"] > 0
    offline = {**audited.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
               "OKR_HOME": str(tmp_path / "nowhere")}
    auditor = Env(tmp_path / "nowhere", offline)
    proc = auditor.run("audit", "verify", "--bundle", str(tmp_path / "bundle"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = (tmp_path / "bundle" / "events.jsonl").read_bytes().splitlines()
    doc = json.loads(lines[3])
    doc["actor"] = "mallory"
    lines[3] = canonical_json(doc)
    (tmp_path / "bundle" / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    proc = auditor.run("audit", "verify", "--bundle", str(tmp_path / "bundle"), "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["first_problem"]["position"] == doc["position"]


def test_replay_shows_stored_text_as_data_as_a_tree_and_piped(env: Env) -> None:
    """`Revenue [/]` in a title crashed `okr audit replay` with MarkupError (issue 18)."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Revenue [/] \x1bc[link=https://evil.example/]x",
           "--cycle", "2026-Q4")
    env.ok("relay", "--once")
    tree = env.ok("audit", "replay", "--until", "2026-12-31", "--known-at", "now", "--format",
                  "table")  # known now: the objective may be recorded after 2026 (a rerun)
    assert "o1 Revenue [/] ␛c[link=https://evil.example/]x" in tree and "\x1b" not in tree
    piped = env.ok("audit", "replay", "--until", "2026-12-31", "--known-at", "now").splitlines()
    assert piped[0].startswith("kind\tkey\tparent\ttitle\t")
    assert piped[1].split("\t")[:4] == ["objective", "o1", "",
                                        "Revenue [/] ␛c[link=https://evil.example/]x"]


def test_verify_with_the_auditors_key_and_with_a_different_key(audited: Env,
                                                               tmp_path: Path) -> None:
    """`--public-key`: the auditor's own copy of the key, not the one in the data directory.
    The right copy verifies; any other Ed25519 key finds the first checkpoint unsigned by it,
    in the live log and in an exported bundle alike."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    right = tmp_path / "right.pem"
    right.write_text(json.loads(audited.ok("keys", "export", "--json"))["public_key_pem"])
    other = tmp_path / "other.pem"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    bundle = tmp_path / "bundle"
    audited.ok("audit", "export", "--cycle", "2025-Q3", "--out", str(bundle))
    for where in ([], ["--bundle", str(bundle)]):
        code, out = verify(audited, *where, "--public-key", str(right))
        assert code == 0 and out["ok"] and out["checkpoints"] >= 1, (where, out)
        code, out = verify(audited, *where, "--public-key", str(other))
        assert code == 1 and not out["ok"], (where, out)
        assert out["first_problem"]["problem"] == "bad-signature", (where, out)
    proc = audited.run("audit", "verify", "--public-key", str(bundle / "events.jsonl"))
    assert proc.returncode == 2 and "is not an Ed25519 public key" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
