"""Verify against tree heads (issue 16): a checkpoint beyond the log's head is truncation (or,
when the store holds those events, an incomplete topic: exit 3, not tampering); a signed root
the log's tree does not have is tampering; checkpoints an auditor kept must be extended by
today's log, even when the relay re-signed a rewritten one."""

import json
from pathlib import Path
from typing import Any

import pytest

from okr.record import merkle, signing
from okr.record.envelope import Envelope, canonical_json, record_hash
from okr.record.verify import Record, verify

VECTORS = json.loads((Path(__file__).parents[1] / "fixtures" / "record-vectors.json")
                     .read_text(encoding="utf-8"))
LOG = [Envelope.from_bytes(r["value"].encode()) for r in VECTORS["records"]]


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "keys" / "k.pem"
    signing.public_key_pem(path)
    return path


def head(key: Path, envs: list[Envelope], count: int) -> dict[str, Any]:
    leaves = [merkle.envelope_leaf(e.hash) for e in envs[:count]]
    last = envs[count - 1]
    return signing.sign(key, {"position": last.position, "head_hash": last.hash,
                              "count": count, "root": merkle.root(leaves).hex(),
                              "time": "2026-12-03T00:00:00.000000Z"})


def records(envs: list[Envelope]) -> list[Record]:
    return [Record(0, i, e.to_bytes()) for i, e in enumerate(envs)]


def rewritten(at: int) -> list[Envelope]:
    """The log with the event at position `at` changed and everything after re-chained: what
    a relay re-signing an edited store would publish."""
    out, prev = [], LOG[at - 2].hash if at > 1 else "0" * 64
    out += LOG[:at - 1]
    for e in LOG[at - 1:]:
        doc = {**e.to_dict(), "prev_hash": prev}
        if e.position == at:
            doc["actor"] = "mallory"
        doc["hash"] = record_hash(canonical_json(doc), prev) or ""
        env = Envelope.from_bytes(canonical_json(doc))
        out.append(env)
        prev = env.hash
    return out


def check(envs: list[Envelope], cps: list[dict[str, Any]], key: Path,
          store: list[Envelope] | None = None, trusted: list[dict[str, Any]] = ()) -> Any:
    ok = signing.verifier(signing.public_key_pem(key))
    return verify(records(envs), store, cps, ok, trusted)


def test_the_whole_log_verifies_against_its_tree_heads(key: Path) -> None:
    v = check(LOG, [head(key, LOG, 5), head(key, LOG, len(LOG))], key, store=LOG)
    assert v.status == "verified", [f.line() for f in v.findings]


def test_a_log_cut_short_is_truncation(key: Path) -> None:
    """Attack 3: 28 events cut to 5, the checkpoint still says 28."""
    v = check(LOG[:5], [head(key, LOG, len(LOG))], key)
    assert v.status == "tampered" and v.first().problem == "truncated"
    v = check([], [head(key, LOG, len(LOG))], key)  # the topic deleted
    assert v.status == "tampered"


def test_a_topic_behind_the_store_is_incomplete_not_tampered(key: Path) -> None:
    v = check(LOG[:20], [head(key, LOG, len(LOG))], key, store=LOG)
    assert v.status == "incomplete", [f.line() for f in v.findings]
    v = check([], [], key, store=LOG)  # a wiped broker, checkpoints and all
    assert v.status == "incomplete"


def test_a_signed_root_the_log_does_not_have_is_tampering(key: Path) -> None:
    bad = {**head(key, LOG, 10), "root": "ab" * 32}
    bad = signing.sign(key, {k: bad[k] for k in ("position", "head_hash", "count", "root",
                                                  "time")})
    v = check(LOG, [bad], key)
    assert v.status == "tampered" and v.first().position == LOG[9].position


def test_a_rewritten_log_resigned_fails_against_the_checkpoints_an_auditor_kept(
        key: Path) -> None:
    kept = [head(key, LOG, 10), head(key, LOG, len(LOG))]
    forged = rewritten(7)
    resigned = [head(key, forged, len(forged))]
    assert check(forged, resigned, key).status == "verified"  # alone, it looks fine
    v = check(forged, resigned, key, trusted=kept)
    assert v.status == "tampered"
    assert {f.where for f in v.findings} == {"trusted"}
    v = check(LOG[:8], [], key, trusted=kept)  # shorter than what the auditor kept
    assert v.status == "tampered" and v.first().problem == "truncated"
