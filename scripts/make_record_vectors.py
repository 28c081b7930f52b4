"""Write tests/fixtures/record-vectors.json: records as the relay publishes them, their hashes,
the Merkle tree heads after each one, and inclusion and consistency proofs — what a verifier in
another language checks itself against (docs/envelope.md says how).

The records are the envelopes of tests/fixtures/stored-events-v2.jsonl (one event of every
type), chained from genesis; a test recomputes everything from the fixture and compares.
Two hand-written records show that the hash covers the bytes as sent, whatever their layout,
a third one carries `on_behalf_of`, and two records without a hash show what is refused.

    .venv/bin/python -P scripts/make_record_vectors.py
"""

import json
import tempfile
from pathlib import Path
from typing import Any
from uuid import UUID

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
OUT = FIXTURES / "record-vectors.json"
SOURCE = "stored-events-v2.jsonl"
# Not canonical: keys in another order, spaces, a number written 2 (Python writes 2.0), and a
# non-ASCII escape. Their hash is over these very bytes.
LAYOUTS = [
    '{"schema": "okr.ledger/v1", "position": 1, "event_id": '
    '"3f0cf2a8-2f08-5b36-9a4f-c7a1a09c4d93", "type": "CheckInRecorded", '
    '"aggregate_type": "key_result", "aggregate_id": "6c1f6f5e-0c0d-5f43-a6a9-1d8d4f3f0f11", '
    '"version": 2, "recorded_at": "2026-11-02T10:00:00.000000Z", '
    '"effective_at": "2026-11-02T10:00:00.000000Z", "actor": "ana", "reason": null, '
    '"data": {"value": 2, "confidence": null, "note": "caf\\u00e9", "source": "manual"}, '
    '"prev_hash": "0000000000000000000000000000000000000000000000000000000000000000",'
    '"hash":"{HASH}"}',
    '{"hash":"{HASH}","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
    '"actor":"ana","aggregate_id":"6c1f6f5e-0c0d-5f43-a6a9-1d8d4f3f0f11",'
    '"aggregate_type":"key_result","data":{"confidence":null,"note":"café","source":"manual",'
    '"value":2.0},"effective_at":"2026-11-02T10:00:00.000000Z",'
    '"event_id":"3f0cf2a8-2f08-5b36-9a4f-c7a1a09c4d93","position":1,'
    '"reason":null,"recorded_at":"2026-11-02T10:00:00.000000Z","schema":"okr.ledger/v1",'
    '"type":"CheckInRecorded","version":2}',
    # As the relay writes a record made --on-behalf-of someone: the member sorts between
    # "hash" and "position", and is absent (never null) from every record that named nobody.
    '{"actor":"ana","aggregate_id":"6c1f6f5e-0c0d-5f43-a6a9-1d8d4f3f0f11",'
    '"aggregate_type":"key_result","data":{"confidence":null,"note":"","source":"manual",'
    '"value":2.0},"effective_at":"2026-11-02T10:00:00.000000Z",'
    '"event_id":"3f0cf2a8-2f08-5b36-9a4f-c7a1a09c4d93","hash":"{HASH}",'
    '"on_behalf_of":"Dana (sales)","position":1,"prev_hash":'
    '"0000000000000000000000000000000000000000000000000000000000000000","reason":null,'
    '"recorded_at":"2026-11-02T10:00:00.000000Z","schema":"okr.ledger/v1",'
    '"type":"CheckInRecorded","version":2}',
]
NO_HASH = [
    ('the hash member spaced out', '{"position":1,"hash" : "' + "0" * 64 + '"}'),
    ('a second key "hash" in a nested object',
     '{"data":{"hash":"' + "1" * 64 + '"},"hash":"' + "0" * 64 + '","position":1}'),
]


def records() -> list[bytes]:
    """The relay's records of the fixture's stored events, in position order."""
    from eventsourcing.persistence import StoredEvent

    from okr.ledger.app import OkrLedger
    from okr.record.envelope import chained_records
    from okr.settings import load_settings

    rows = [json.loads(line) for line in (FIXTURES / SOURCE).read_text().splitlines()]
    with tempfile.TemporaryDirectory() as home:
        app = OkrLedger(load_settings({"home": home}))
        app.recorder.insert_events([
            StoredEvent(originator_id=UUID(r["originator_id"]),
                        originator_version=r["originator_version"], topic=r["topic"],
                        state=json.dumps(r["state"], separators=(",", ":")).encode())
            for r in rows])
        return [rec.value for rec in chained_records(app)]


def vectors(values: list[bytes]) -> dict[str, Any]:
    from okr.record import merkle
    from okr.record.envelope import GENESIS_HASH, record_hash

    recs, prev = [], GENESIS_HASH
    for value in values:
        h = record_hash(value, prev)
        assert h is not None
        leaf = merkle.envelope_leaf(h)
        recs.append({"value": value.decode("utf-8"), "prev_hash": prev, "hash": h,
                     "leaf_hash": leaf.hex()})
        prev = h
    leaves = [bytes.fromhex(r["leaf_hash"]) for r in recs]
    n = len(leaves)
    layouts = []
    for template in LAYOUTS:
        blank = template.replace("{HASH}", "0" * 64).encode()
        h = record_hash(blank, GENESIS_HASH)  # the hash member is cut out: any value will do
        assert h is not None
        layouts.append({"value": template.replace("{HASH}", h), "prev_hash": GENESIS_HASH,
                        "hash": h})
    return {
        "about": "docs/envelope.md: hash = sha256(prev_hash ‖ record bytes without the hash "
                 "member); leaf = sha256(0x00 ‖ hash bytes); node = sha256(0x01 ‖ left ‖ "
                 "right) (RFC 9162). Generated by scripts/make_record_vectors.py from "
                 f"tests/fixtures/{SOURCE}.",
        "records": recs,
        "tree_heads": [{"size": k, "root": merkle.root(leaves[:k]).hex()}
                       for k in range(n + 1)],
        "inclusion": [{"index": i, "size": n,
                       "proof": [p.hex() for p in merkle.inclusion_proof(i, leaves)]}
                      for i in range(n)],
        "consistency": [{"size1": m, "size2": n,
                         "proof": [p.hex() for p in merkle.consistency_proof(m, leaves)]}
                        for m in range(n + 1)],
        "layouts": layouts,
        "no_hash": [{"why": why, "value": value} for why, value in NO_HASH],
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(vectors(records()), indent=1, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    print(f"wrote {OUT}")
