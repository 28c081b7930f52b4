"""Tamper evidence: every kind of tampering is detected and located; a clean log verifies."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.ledger.app import OkrLedger
from okr.record.envelope import Envelope, canonical_json, chain_hash, chained
from okr.record.verify import Record, verify
from okr.settings import load_settings


@pytest.fixture(scope="module")
def envelopes(tmp_path_factory: pytest.TempPathFactory) -> list[Envelope]:
    """A small real history, chained from the event store."""
    home: Path = tmp_path_factory.mktemp("verify")
    app = OkrLedger(load_settings({"home": home}))
    app.add_cycle("2026-Q4")
    app.add_objective("o1", "Grow", cycle="2026-Q4", owner="ana")
    app.add_key_result("k1", "Signups", objective="o1", start=0, target=40)
    app.add_key_result("k2", "Churn", objective="o1", kind="decrease", start=5, target=3)
    for v in (3, 6, 9):
        app.check_in("k1", v, at=datetime(2026, 10, v, tzinfo=UTC))
    app.commit_cycle("2026-Q4")
    app.revise_key_result("k1", target=30, reason="hiring freeze")
    return list(chained(app))


def as_records(envs: list[Envelope]) -> list[Record]:
    """Place envelopes in partitions by aggregate, as the relay does (key = aggregate id)."""
    parts: dict[str, int] = {}
    offsets: dict[int, int] = {}
    out = []
    for e in envs:
        p = parts.setdefault(e.aggregate_id, len(parts) % 3)
        out.append(Record(p, offsets.get(p, 0), e.to_bytes()))
        offsets[p] = offsets.get(p, 0) + 1
    return out


def never_signed(_: dict[str, object]) -> bool:
    return False


def test_untouched_log_verifies_clean(envelopes: list[Envelope]) -> None:
    verdict = verify(as_records(envelopes), envelopes, [], never_signed)
    assert verdict.ok, [f.line() for f in verdict.findings]
    assert verdict.events == len(envelopes) == 9
    assert verdict.head_hash == envelopes[-1].hash


def test_identical_duplicate_is_not_tampering(envelopes: list[Envelope]) -> None:
    records = as_records(envelopes)
    records.append(Record(records[4].partition, 99, records[4].value))
    verdict = verify(records, envelopes, [], never_signed)
    assert verdict.ok and verdict.duplicates == 1


def forge(env: Envelope, **data: object) -> Envelope:
    """A record with changed data whose own hash is recomputed (a careful forger)."""
    body = env.body()
    body["data"] = {**body["data"], **data}
    return Envelope.model_validate({**body, "hash": chain_hash(body["prev_hash"], body)})


def test_altered_event_is_located(envelopes: list[Envelope]) -> None:
    forged = [forge(e, value=99.0) if e.position == 6 else e for e in envelopes]
    verdict = verify(as_records(forged), envelopes, [], never_signed)
    first = verdict.first()
    assert first is not None and first.position == 6 and first.problem == "altered"


def test_altered_without_rehash_is_located(envelopes: list[Envelope]) -> None:
    raw = [json.loads(e.to_bytes()) for e in envelopes]
    raw[5]["data"]["value"] = 99.0
    records = [Record(0, i, canonical_json(r)) for i, r in enumerate(raw)]
    verdict = verify(records, None, [], never_signed)
    assert verdict.first() is not None and verdict.first().position == 6  # type: ignore[union-attr]


def test_deleted_event_is_located(envelopes: list[Envelope]) -> None:
    kept = [e for e in envelopes if e.position != 5]
    verdict = verify(as_records(kept), envelopes, [], never_signed)
    problems = {(f.problem, f.position) for f in verdict.findings}
    assert ("missing", 5) in problems
    assert verdict.first().position == 5  # type: ignore[union-attr]


def test_inserted_event_is_located(envelopes: list[Envelope]) -> None:
    extra = forge(envelopes[5])
    body = extra.body()
    body["position"] = 100
    extra = Envelope.model_validate({**body, "hash": chain_hash(body["prev_hash"], body)})
    verdict = verify(as_records([*envelopes, extra]), envelopes, [], never_signed)
    assert ("inserted", 100) in {(f.problem, f.position) for f in verdict.findings}


def test_reordered_events_are_located(envelopes: list[Envelope]) -> None:
    swapped = list(envelopes)
    a, b = swapped[4], swapped[5]  # check-ins v2 and v3 of k1
    swapped[4] = Envelope.model_validate({**a.to_dict(), "position": b.position})
    swapped[5] = Envelope.model_validate({**b.to_dict(), "position": a.position})
    verdict = verify(as_records(swapped), envelopes, [], never_signed)
    assert not verdict.ok
    assert verdict.first().position == 5  # type: ignore[union-attr]
    assert {"reordered", "altered"} & {f.problem for f in verdict.findings}


def test_bad_checkpoint_signature_is_reported(envelopes: list[Envelope]) -> None:
    cp = {"position": 9, "head_hash": envelopes[-1].hash, "count": 9, "signature": "00"}
    verdict = verify(as_records(envelopes), envelopes, [cp], never_signed)
    assert [f.problem for f in verdict.findings] == ["bad-signature"]


def test_checkpoint_pins_the_chain_even_without_the_store(envelopes: list[Envelope]) -> None:
    cp = {"position": 9, "head_hash": envelopes[-1].hash, "count": 9}
    # A forger rewrites event 6 and re-chains everything after it: the chain holds again,
    # but the signed head no longer matches.
    forged, prev = [], envelopes[0].prev_hash
    for e in envelopes:
        body = (forge(e, value=99.0) if e.position == 6 else e).body()
        body["prev_hash"] = prev
        f = Envelope.model_validate({**body, "hash": chain_hash(prev, body)})
        forged.append(f)
        prev = f.hash
    verdict = verify(as_records(forged), None, [cp], lambda _: True)
    assert [(f.problem, f.position) for f in verdict.findings] == [("altered", 9)]


def test_the_relay_counts_no_junk_as_a_link_of_its_chain() -> None:
    """Junk on the topic (deeply nested, not JSON, an envelope with a wrong hash) is never a
    link of the relay's chain, and never an error."""
    from okr.record.relay import chain_link
    assert chain_link(b"[" * 100_000 + b"]" * 100_000) is None
    assert chain_link(b"\xff not json") is None
    assert chain_link(b'{"position": 1, "hash": "' + b"0" * 64 + b'", "prev_hash": "'
                      + b"0" * 64 + b'"}') is None
