"""Hostile records on a real okr.ledger topic: garbage, damaged and forged envelopes are
produced between the relay's real ones (same partitions, same keys), then `okr consume
--once` runs. Every bad record must be on the dead-letter topic with a one-line reason, every
good event projected, the consumer must exit 0, and the DuckDB tables must equal those of a
run that never saw a bad record."""

import base64
import contextlib
import json
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from okr.adapters import kafka_client
from okr.consumers.projector import decode
from okr.ledger.app import OkrLedger
from okr.record.envelope import chain_hash
from okr.record.signing import private_key
from tests.integration.conftest import Env, okr_environ, store_envelopes
from tests.integration.test_projection import content_hash
from tests.integration.test_relay import topic_records
from tests.unit.test_fuzz_envelope import every_event_type

pytestmark = pytest.mark.integration

HOSTILE_VALUES = [None, "", "x" * 300, -1, 0, 2**31, 2**63, 10**400, 1e308, True, [], {},
                  "NaN", "\n", "2026-10-01", "9999-12-31T23:59:59-23:59", "garbage",
                  [{"at": "no", "value": 1}], ["tag", 5], "okr.ledger/v2", "KpiRetired"]


KINDS = ["garbage", "flip", "truncate", "field", "data", "forged", "nan", "deep",
         "tombstone", "extra", "wrong key", "duplicate"]


def hostile_record(rnd: random.Random, good: kafka_client.Message, how: str
                   ) -> tuple[bytes | None, bytes | None]:
    """(key, value) of one bad record made from a good one, or from nothing."""
    raw = good.value or b""
    doc = json.loads(raw)
    key = good.key
    if how == "garbage":
        raw = rnd.randbytes(rnd.randrange(0, 200))
    elif how == "flip":
        at = rnd.randrange(len(raw))
        raw = raw[:at] + bytes([raw[at] ^ rnd.randrange(1, 256)]) + raw[at + 1:]
    elif how == "truncate":
        raw = raw[:rnd.randrange(len(raw))]
    elif how in ("field", "data", "forged"):
        if how == "data" and doc["data"]:
            doc["data"][rnd.choice(sorted(doc["data"]))] = rnd.choice(HOSTILE_VALUES)
        else:
            doc[rnd.choice(sorted(doc))] = rnd.choice(HOSTILE_VALUES)
        if how == "forged":  # a correct hash over bad content
            with contextlib.suppress(TypeError, ValueError):  # NaN etc. cannot be hashed
                doc["hash"] = chain_hash(str(doc.get("prev_hash")),
                                         {k: v for k, v in doc.items() if k != "hash"})
        raw = json.dumps(doc, allow_nan=True).encode()
    elif how == "nan":
        raw = raw.replace(b'"actor":', b'"x":NaN,"actor":', 1)
    elif how == "deep":
        raw = b"[" * 100_000 + b"]" * 100_000
    elif how == "tombstone":
        raw = None
    elif how == "huge":
        raw = b'{"schema":"' + b"x" * 900_000 + b'"}'
    elif how == "extra":
        raw = raw[:-1] + b',"note\\nline":1}'
    elif how == "duplicate":  # a key twice, hash kept: JSON readers disagree which one counts
        first = rnd.choice([b'"version":99999999999,', b'"type":"KpiRetired",',
                            b'"position":-1,', b'"data":{},', b'"actor":null,'])
        raw = b"{" + first + raw[1:]
    else:
        key = rnd.choice([b"other", b"", None]) if rnd.random() < 0.5 else b"x" * 40
        if key is None:
            key = b"none"
    return key, raw


def unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("a key given twice")
    return dict(pairs)


def same_content(raw: bytes | None, original: bytes | None) -> bool:
    """Whether a damaged record still says exactly what the original said, and only that
    (then it is not bad, just spelled differently)."""
    try:
        return raw is not None and (json.loads(raw, object_pairs_hook=unique_keys)
                                    == json.loads(original or b""))
    except (ValueError, RecursionError):
        return False


def inject(env: Env, rnd: random.Random, count: int) -> list[tuple[int, int, str]]:
    """Produce `count` bad records next to the real ones; returns (partition, offset, why).

    Which records are bad is decided without decode where it can be (the code under test):
    garbage is bad, and so is any change to a record that keeps the relay's hash. Only a
    forged record (hash recomputed) needs decode's verdict."""
    s = env.settings
    servers = s.kafka_bootstrap_servers or ""
    goods = [m for m in topic_records(env) if not isinstance(decode(m), str)]
    prod = kafka_client.producer(s, servers, compression_type=None)
    sent = []
    try:
        while len(sent) < count:
            good = rnd.choice(goods)
            # one record near Apache Kafka's 1 MB limit per batch; they are slow to move
            how = "huge" if not sent else rnd.choice(KINDS)
            key, value = hostile_record(rnd, good, how)
            why = decode(kafka_client.Message(s.topic_ledger, good.partition, 0, key, value, ()))
            if how == "forged" and not isinstance(why, str):
                continue  # e.g. a forged reason: well-formed, so a forgery, not garbage
            if key == good.key and same_content(value, good.value):
                continue  # a flip inside a number's spelling, say: the same record
            partition = good.partition if rnd.random() < 0.8 else None
            sent.append((prod.send(s.topic_ledger, key=key, value=value, partition=partition),
                         why))
        prod.flush(timeout=30)
        return [(f.get(timeout=30).partition, f.get(timeout=30).offset, str(why))
                for f, why in sent]
    finally:
        prod.close()


def more_history(env: Env) -> None:
    app = OkrLedger(env.settings)
    try:
        # Added after the commit, in force (and checked in) inside 2026-Q4 on any date.
        since, at = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
        app.add_objective("o3", "Enter a new market", cycle="2026-Q4", owner="dee",
                          reason="new board goal", effective=since)
        app.add_key_result("k3", "Signed partners", objective="o3", target=3, reason="plan",
                           effective=since)
        app.check_in("k1", 9, confidence=0.7, note="steady", at=at)
        app.check_in("k3", 1, note="first one", at=at)
    finally:
        app.close()


def test_bad_records_go_to_dead_letters_and_change_nothing_in_duckdb(env: Env,
                                                                    tmp_path: Path) -> None:
    rnd = random.Random(20261123)
    app = OkrLedger(env.settings)
    every_event_type(app)
    app.close()
    env.ok("relay", "--once")
    bad = inject(env, rnd, 60)
    more_history(env)
    env.ok("relay", "--once")
    bad += inject(env, rnd, 40)

    proc = env.run("consume", "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    events = len(store_envelopes(env.settings))  # every_event_type's and more_history's
    assert (out["dead_letters"], out["stored"], out["read"]) == (len(bad), events,
                                                                  len(bad) + events)

    s = env.settings
    letters = list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "",
                                           s.topic_dead_letter, idle=3.0))
    got = {}
    for m in letters:
        h = {k: v.decode() for k, v in m.headers}
        assert h["source.topic"] == s.topic_ledger and h["consumer"] == "projector"
        assert h["reason"] and "\n" not in h["reason"] and "\r" not in h["reason"], h
        got[(int(h["source.partition"]), int(h["source.offset"]))] = h["reason"]
    assert sorted(got) == sorted((p, o) for p, o, _ in bad)
    for p, o, why in bad:
        assert got[(p, o)] == why

    # The same events, relayed to fresh topics with no bad record among them.
    clean = tmp_path / "clean"
    shutil.copytree(env.home, clean, ignore=shutil.ignore_patterns("*.duckdb*", "*.lock",
                                                                   "broker*", "watermark*"))
    clean_env = Env(clean, okr_environ(clean, s.kafka_bootstrap_servers or ""))
    clean_env.ok("relay", "--once")
    clean_out = json.loads(clean_env.ok("consume", "--once", "--json"))
    assert (clean_out["stored"], clean_out["dead_letters"]) == (events, 0)
    assert content_hash(env.settings.duckdb_file) == content_hash(clean_env.settings.duckdb_file)


def test_checkpoints_and_audit_bundles_carry_no_private_key(env: Env, tmp_path: Path) -> None:
    app = OkrLedger(env.settings)
    every_event_type(app)
    app.close()
    proc = env.run("relay", "--once", "--checkpoint", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["checkpoint"]["signature"]
    export = env.run("audit", "export", "--cycle", "2026-Q4", "--out", str(tmp_path / "b"),
                     "--json")
    assert export.returncode == 0, export.stderr
    raw = private_key(env.home / "signing-key.pem").private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pem = (env.home / "signing-key.pem").read_text()
    secrets = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    secrets += [raw.hex(), base64.b64encode(raw).decode(), "PRIVATE KEY"]
    s = env.settings
    texts = [proc.stdout, proc.stderr, export.stdout, export.stderr]
    texts += [(m.value or b"").decode("utf-8", "replace") for m in kafka_client.read_topic(
        s, s.kafka_bootstrap_servers or "", s.topic_checkpoints, idle=2.0)]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in (tmp_path / "b").rglob("*")
              if p.is_file()]
    for text in texts:
        for secret in secrets:
            assert secret not in text
