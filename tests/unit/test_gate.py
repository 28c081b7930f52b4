"""The projector's gate releases only the chain a verified signed checkpoint names: a forged
record at the next position (recomputed hash, any content) waits, then is named a conflict;
the real record wins whatever order they arrive in; an unsigned or forged checkpoint releases
nothing."""

import json
from pathlib import Path
from typing import Any

import pytest

from okr.consumers.gate import START, Gate
from okr.record import signing
from okr.record.envelope import Envelope, canonical_json, record_hash

VECTORS = json.loads((Path(__file__).parents[1] / "fixtures" / "record-vectors.json")
                     .read_text(encoding="utf-8"))
REAL = [Envelope.from_bytes(r["value"].encode()) for r in VECTORS["records"]]


def forged_at(position: int) -> Envelope:
    """A well-formed record at `position`, chained on the real one before it, other content."""
    doc = REAL[position - 1].to_dict()
    doc["actor"] = "ceo"
    doc["hash"] = record_hash(canonical_json(doc), doc["prev_hash"]) or ""
    raw = canonical_json(doc)
    env = Envelope.from_bytes(raw)
    assert env.hash_ok(raw) and env.hash != REAL[position - 1].hash
    return env


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "k.pem"
    signing.public_key_pem(path)
    return path


def checkpoint(key: Path, count: int) -> dict[str, Any]:
    env = REAL[count - 1]
    return signing.sign(key, {"position": env.position, "head_hash": env.hash, "count": count,
                              "time": "2026-12-03T00:00:00.000000Z"})


def gate(key: Path) -> Gate[str]:
    return Gate(START, signing.verifier(signing.public_key_pem(key)))


@pytest.mark.parametrize("forged_first", [True, False])
def test_the_signed_chain_is_released_and_the_forgery_named(key: Path,
                                                            forged_first: bool) -> None:
    g = gate(key)
    for env in REAL[:5]:
        g.hold(env, "real")
    forged = forged_at(6)
    if forged_first:
        g.hold(forged, "forged")
        g.hold(REAL[5], "real")
    else:
        g.hold(REAL[5], "real")
        g.hold(forged, "forged")
    assert g.release() == ([], [])  # no checkpoint yet: everything waits
    assert g.offer(checkpoint(key, 6))
    released, conflicts = g.release()
    assert [w.hash for w in released] == [e.hash for e in REAL[:6]]
    assert [(w.item, w.position) for w, _ in conflicts] == [("forged", 6)]
    assert "forged or conflicting" in conflicts[0][1] and g.held() == []


def test_records_beyond_the_newest_checkpoint_wait(key: Path) -> None:
    g = gate(key)
    for env in REAL[:8]:
        g.hold(env, "real")
    g.offer(checkpoint(key, 5))
    released, _ = g.release()
    assert [w.position for w in released] == [1, 2, 3, 4, 5]
    assert sorted(w.position for w in g.held()) == [6, 7, 8]
    assert g.head.position == 5


def test_a_missing_link_holds_everything_after_it(key: Path) -> None:
    g = gate(key)
    for env in REAL[:6]:
        if env.position != 3:
            g.hold(env, "real")
    g.offer(checkpoint(key, 6))
    assert g.release() == ([], [])
    g.hold(REAL[2], "real")  # the partition that lagged catches up
    assert [w.position for w in g.release()[0]] == [1, 2, 3, 4, 5, 6]


def test_forged_or_foreign_checkpoints_release_nothing(key: Path, tmp_path: Path) -> None:
    g = gate(key)
    forged = forged_at(1)
    g.hold(forged, "forged")
    other = tmp_path / "other" / "k.pem"
    signing.public_key_pem(other)
    fake = signing.sign(other, {"position": 1, "head_hash": forged.hash, "count": 1,
                                "time": "2026-12-03T00:00:00.000000Z"})
    unsigned = {**fake, "signature": ""}
    assert not g.offer(fake) and not g.offer(unsigned)
    assert g.release() == ([], [])
    assert Gate(START, None).offer(checkpoint(key, 1)) is False  # no key: nothing verifies
