"""Hostile records on okr.ledger, through `consumers.projector.decode` and into DuckDB.

- arbitrary bytes: a one-line reason, never an exception;
- valid envelopes mutated (bytes damaged, fields replaced, dropped or added, the hash kept):
  decode accepts one only when it is the original one (a different spelling of the
  same JSON), otherwise a one-line reason;
- forged envelopes whose hash was recomputed (anyone can compute a sha256; only the chain and
  signed checkpoints prove authorship): whatever decode accepts, the projection loads without
  an error, so one forged record cannot stop the consumer on its partition forever.
"""

import json
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from okr.adapters.kafka_client import Message
from okr.consumers.projector import decode
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import KNOWN_TYPES, Checked, Envelope, chain_hash, chained
from okr.settings import load_settings
from tests.fuzzing import fuzz

NOW = datetime.now(UTC)


def every_event_type(app: OkrLedger) -> None:
    """A short history that holds each of the 23 published event types at least once."""
    app.add_cycle("2026-Q4")
    app.add_kpi("wau", "Weekly active users", direction="up", green=14000, red=12000,
                tags=["guardrail"])
    app.add_objective("o1", "Grow revenue", cycle="2026-Q4", owner="ana", team="sales")
    app.add_objective("o2", "Keep customers", cycle="2026-Q4", owner="bo")
    app.add_key_result("k1", "Signups", objective="o1", start=0, target=40,
                       phases=[{"at": datetime(2026, 11, 15, tzinfo=UTC), "value": 20.0}])
    app.add_key_result("k2", "Churn", objective="o1", kind="decrease", start=10, target=4)
    app.add_initiative("i1", "Live chat", key_result="k1")
    app.set_initiative_status("i1", "in-progress")
    app.link_kpi("k2", "wau")
    app.unlink_kpi("k2")
    app.record_reading("wau", 13250, reading_id="r1")
    app.update_kpi("wau", {"target": 15000.0})
    app.commit_cycle("2026-Q4")
    app.check_in("k1", 5, confidence=0.6, note="chat launched",
               at=datetime(2026, 11, 20, tzinfo=UTC))
    app.revise_key_result("k1", target=30, reason="hiring freeze")
    app.update_objective("o1", title="Grow revenue more", owner="cy", parent="o2",
                         okr_type="aspirational", reason="re-planned")
    app.move_key_result("k2", "o2", reason="belongs there")
    app.remove_key_result("k2", reason="measured elsewhere")
    app.close_objective("o2", "achieved")
    app.close_cycle("2026-Q4")
    app.reopen_cycle("2026-Q4", "late numbers")
    app.retire_kpi("wau", "replaced by DAU")
    app.add_user("vee", "member", team="growth")
    app.issue_token("vee", "00112233aabbccdd", "b" * 64)
    app.set_password("vee", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$"
                     "Wz40HkgtJL5hVN7X9+X66Vrmos5ZyFSEB2nJBsr88dg")
    app.revoke_token("vee", "00112233aabbccdd", "leaked")
    app.disable_user("vee", "left")
    app.enable_user("vee", "back")


class Chain(list[Envelope]):
    """The scenario's envelopes (short in hypothesis' failure reports)."""

    def __repr__(self) -> str:
        return f"<{len(self)} envelopes of every type>"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    home: Path = tmp_path_factory.mktemp("chain")
    app = OkrLedger(load_settings({"home": home}))
    every_event_type(app)
    envelopes = Chain(chained(app))
    app.close()
    assert {e.type for e in envelopes} == KNOWN_TYPES
    return envelopes


def record(value: bytes | None, key: bytes | None = None) -> Message:
    return Message("okr.ledger", 0, 0, key, value, ())


def one_line(reason: str) -> None:
    assert reason and "\n" not in reason and "\r" not in reason, repr(reason)


HOSTILE: list[Any] = [
    None, "", " ", "x" * 5000, 0, -1, 1.5, True, [], {}, [1, [2, [3]]], {"a": {"b": None}},
    2**31, 2**31 - 1, 2**63, 2**63 - 1, 2**64, 10**400, -(2**63) - 1, 1e308, -0.0,
    float("nan"), float("inf"), "NaN", "\ud800", "\x00", "\u202e", "okr.ledger/v2",
    "CycleAdded", "KpiRetired", "kpi", "cycle", "0" * 64, "f" * 64, "F" * 64,
    "2026-10-01T00:00:00.000000Z", "2026-10-01T00:00:00Z", "2026-10-01T00:00:00+14:00",
    "2026-10-01", "20261001T000000Z", "2026-W40-1T00:00:00Z", "2026-274T00:00Z",
    "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-10-01T00:00:00.5Z",
    "2026-02-30T00:00:00Z", "yes", "maybe", "true", "1", [{"at": "no", "value": 1}],
    [{"at": "2026-11-15T00:00:00.000000Z", "value": "x"}], [{"value": 1}], "garbage",
    ["guardrail", 5], [[]], {"at": 1},
]
TOP = ["schema", "position", "event_id", "type", "aggregate_type", "aggregate_id", "version",
       "recorded_at", "effective_at", "actor", "reason", "data", "prev_hash", "hash"]
values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20), st.integers(),
                   st.floats(), st.recursive(st.none() | st.integers() | st.text(max_size=5),
                                             lambda x: st.lists(x, max_size=3)
                                             | st.dictionaries(st.text(max_size=5), x,
                                                               max_size=3), max_leaves=8))


def to_json(doc: dict[str, Any]) -> bytes:
    """JSON as a hostile producer may write it: NaN, Infinity and lone surrogates allowed."""
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def field_changes(draw: st.DrawFn, env: Envelope) -> dict[str, Any]:
    """The envelope as a dict with one to three fields (top level or in data) changed."""
    doc = env.to_dict()
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()) and doc.get("data") and isinstance(doc["data"], dict):
            data = dict(doc["data"])
            name = draw(st.sampled_from([*data, "extra"]))
            if draw(st.integers(0, 3)) == 0:
                data.pop(name, None)
            else:
                data[name] = draw(values)
            doc["data"] = data
        else:
            name = draw(st.sampled_from([*TOP, "extra"]))
            if draw(st.integers(0, 3)) == 0:
                doc.pop(name, None)
            else:
                doc[name] = draw(values)
    return doc


def damaged(draw: st.DrawFn, raw: bytes) -> bytes:
    """Bytes flipped, inserted, deleted or cut off."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        how = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if how == "flip" and raw:
            raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1:]
        elif how == "insert":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]
        elif how == "delete":
            raw = raw[:at] + raw[at + 1:]
        else:
            raw = raw[:at]
    return raw


@st.composite
def mutated(draw: st.DrawFn, chain: list[Envelope]) -> tuple[Envelope, bytes, bytes | None]:
    """(original, mutated bytes, record key): the hash is left as the relay computed it."""
    env = draw(st.sampled_from(chain))
    raw = env.to_bytes()
    how = draw(st.sampled_from(["fields", "bytes", "respelled", "key", "duplicate"]))
    if how == "fields":
        raw = to_json(draw(field_changes(env)))
    elif how == "bytes":
        raw = damaged(draw, raw)
    elif how == "respelled":  # same JSON, other bytes: indentation, key order, escapes
        doc = env.to_dict()
        keys = draw(st.permutations(list(doc)))
        raw = json.dumps({k: doc[k] for k in keys}, indent=draw(st.sampled_from([None, 1])),
                         ensure_ascii=draw(st.booleans())).encode()
    elif how == "duplicate":  # a second "data" or "version" key; the last one wins in JSON
        name = draw(st.sampled_from(["version", "data", "actor", "position"]))
        extra = json.dumps({name: draw(values)}, allow_nan=True)[1:-1]
        raw = raw[:-1] + b"," + extra.encode("utf-8", "surrogatepass") + b"}"
    key = env.aggregate_id.encode()
    if how == "key":
        key = draw(st.sampled_from([b"", b"other", str(uuid.uuid4()).encode(), None]))
    return env, raw, key


@fuzz(300)
@given(raw=st.one_of(st.binary(max_size=400), st.sampled_from([
    b"", b"null", b"[]", b"{}", b"NaN", b"[" * 50_000 + b"]" * 50_000,
    b'{"schema": "okr.ledger/v1"}', b"\xff\xfe{", "{\"é\": 1}".encode("utf-16")])),
       key=st.one_of(st.none(), st.binary(max_size=40)))
@example(raw=None, key=None)
def test_arbitrary_bytes_are_rejected_with_a_one_line_reason(raw: bytes | None,
                                                             key: bytes | None) -> None:
    result = decode(record(raw, key))
    assert isinstance(result, str), result
    one_line(result)


def test_decode_accepts_every_record_the_relay_writes(chain: list[Envelope]) -> None:
    for env in chain:
        result = decode(record(env.to_bytes(), env.aggregate_id.encode()))
        assert result == Checked(env.position, env.hash, env.prev_hash, env.aggregate_id,
                                 env.version), result


@fuzz(400)
@given(data=st.data())
def test_a_mutated_envelope_is_the_original_or_rejected(chain: list[Envelope],
                                                        data: st.DataObject) -> None:
    original, raw, key = data.draw(mutated(chain))
    result = decode(record(raw, key))
    if isinstance(result, str):
        one_line(result)
    else:
        assert Envelope.from_bytes(raw).to_bytes() == original.to_bytes(), (raw, result)
        assert result.hash == original.hash, (raw, result)
        assert key in (None, original.aggregate_id.encode())


@pytest.fixture(scope="module")
def projection(chain: list[Envelope]) -> Projection:
    proj = Projection(":memory:")
    proj.apply("okr.ledger", [ConsumedRecord(e.to_bytes(), 0, i) for i, e in enumerate(chain)],
               {0: len(chain)})
    return proj


@st.composite
def forged(draw: st.DrawFn, chain: list[Envelope]) -> bytes:
    """A changed envelope with a correct hash, as a producer with write access could make it.
    Each one lands on a new (aggregate, version), so the projection really loads it."""
    env = draw(st.sampled_from(chain))
    doc = draw(field_changes(env))
    if "aggregate_id" not in doc or doc["aggregate_id"] == env.aggregate_id:
        if draw(st.booleans()):
            doc["aggregate_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
        elif doc.get("version") == env.version:
            doc["version"] = env.version + draw(st.integers(1_000, 2**31 - 1_001))
    body = {k: v for k, v in doc.items() if k != "hash"}
    try:
        doc["hash"] = chain_hash(str(doc.get("prev_hash", "")), body)
    except (TypeError, ValueError, UnicodeEncodeError):  # no hash can be made of NaN etc.
        assume(False)
    raw = to_json(doc)
    if draw(st.integers(0, 4)) == 0:  # a key twice: the hash covers the last one's value
        name = draw(st.sampled_from(["version", "position", "data", "type", "recorded_at"]))
        first = json.dumps({name: draw(values)}, allow_nan=True)[1:-1]
        raw = b"{" + first.encode("utf-8", "surrogatepass") + b"," + raw[1:]
    return raw


@fuzz(100)
@given(data=st.data())
@example(data=None)
def test_whatever_decode_accepts_the_projection_can_load(chain: list[Envelope],
                                                         projection: Projection,
                                                         data: st.DataObject | None) -> None:
    raws = [data.draw(forged(chain)) for _ in range(3)] if data else []
    accepted = [(raw, Envelope.from_bytes(raw)) for raw in raws
                if not isinstance(decode(record(raw)), str)]
    offset = random.randrange(10**6, 10**9)
    before = projection.event_count()
    held = {(e.aggregate_id, e.version) for _, e in accepted
            if stored_at(projection, e.aggregate_id, e.version) is not None}
    # The projection loads the record's own bytes, as the consumer hands them over.
    added = projection.apply("okr.ledger", [ConsumedRecord(raw, 1, offset + i)
                                             for i, (raw, _) in enumerate(accepted)],
                             {1: offset + 3})
    assert projection.event_count() == before + added
    # Every accepted record is there, as it was sent: the first of its (aggregate, version)
    # from this batch, unless the projection held that pair already.
    first: dict[tuple[str, int], int] = {}
    for i, (_, env) in enumerate(accepted):
        first.setdefault((env.aggregate_id, env.version), i)
    assert added == len(set(first) - held)
    for (aggregate_id, version), i in first.items():
        if (aggregate_id, version) in held:
            continue
        env = accepted[i][1]
        row = stored_at(projection, aggregate_id, version)
        assert row is not None, env
        assert row[:4] == (env.event_id, env.type, env.hash, offset + i), (row, env)
        assert json.loads(row[4]) == env.to_dict()["data"], (row, env)
    projection.scorecard_at(NOW, NOW)


def stored_at(projection: Projection, aggregate_id: str, version: int
              ) -> tuple[Any, ...] | None:
    """(event_id, type, hash, kafka_offset, data) of the projection's event, or None."""
    return projection.con.execute(
        "SELECT event_id, type, hash, kafka_offset, data::VARCHAR FROM events "
        "WHERE aggregate_id = ? AND version = ?", [aggregate_id, version]).fetchone()


def rehashed(env: Envelope, **changes: Any) -> bytes:
    """The envelope with top-level or `data.` fields changed and a correct hash."""
    doc = env.to_dict()
    for name, value in changes.items():
        if name.startswith("data_"):
            doc["data"] = {**doc["data"], name[5:]: value}
        else:
            doc[name] = value
    body = {k: v for k, v in doc.items() if k != "hash"}
    doc["hash"] = chain_hash(doc["prev_hash"], body)
    return to_json(doc)


def relabelled(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw
    return raw.replace(old, new, 1)


@pytest.mark.parametrize("make, reason", [
    (lambda e: relabelled(e["CheckInRecorded"].to_bytes(), b'"note":"chat launched"',
                          b'"note":NaN'), "NaN or an infinity"),
    (lambda e: relabelled(e["CheckInRecorded"].to_bytes(), b'"note":"chat launched"',
                          b'"note":1e400'), "NaN or an infinity"),
    (lambda e: rehashed(e["CheckInRecorded"], data_value=10**400), "finite number"),
    # deep inside the data: the key count and the finiteness check walk nested values
    (lambda e: relabelled(e["CheckInRecorded"].to_bytes(), b'"note":"chat launched"',
                          b'"note":{"a":[1,{"b":-Infinity}]}'), "NaN or an infinity"),
    (lambda e: relabelled(e["CheckInRecorded"].to_bytes(), b'"note":"chat launched"',
                          b'"note":[{"b":1,"b":2}]'), "more than once"),
    (lambda e: relabelled(e["CycleAdded"].to_bytes(), e["CycleAdded"].recorded_at.encode(),
                          b"9999-12-31T23:59:59-23:59"), "UTC time"),
    (lambda e: rehashed(e["KeyResultAdded"], version=2**40), "less than or equal"),
    (lambda e: rehashed(e["KeyResultAdded"], position=2**70), "less than or equal"),
    (lambda e: rehashed(e["CycleAdded"], data_start="garbage"), "data.start"),
    (lambda e: rehashed(e["ObjectiveAdded"], data_key=None), "data.key"),
    (lambda e: rehashed(e["ObjectiveAdded"], data_plan_revision=""), "plan_revision"),
    (lambda e: rehashed(e["KpiAdded"], data_tags=[1]), "data.tags"),
    (lambda e: rehashed(e["KeyResultAdded"], data_phases=[{"at": "no", "value": 1}]),
     "data.phases"),
    (lambda e: rehashed(e["CycleAdded"], recorded_at="20261001T000000Z"), "UTC time"),
    (lambda e: relabelled(e["CycleAdded"].to_bytes(), b'"aggregate_type":"cycle"',
                          b'"aggregate_type":"\\n"'), "not a '\\n'"),
    (lambda e: e["CycleAdded"].to_bytes()[:-1] + b',"x\\ny":1}', "unknown field 'x\\ny'"),
    # A key twice, the relay's hash kept: pydantic validates the last value, DuckDB loads the
    # first (a NULL version, a text value, another type).
    (lambda e: b'{"version":99999999999,' + e["KeyResultAdded"].to_bytes()[1:], "more than once"),
    (lambda e: relabelled(e["CheckInRecorded"].to_bytes(), b'"data":{',
                          b'"data":{"value":"abc",'), "more than once"),
    (lambda e: b'{"type":"KpiRetired",' + e["ObjectiveAdded"].to_bytes()[1:], "more than once"),
])
def test_records_that_once_crashed_decode_or_the_projection_are_rejected(
        chain: Chain, projection: Projection, make: Any, reason: str) -> None:
    by_type = {e.type: e for e in chain}
    raw = make(by_type)
    result = decode(record(raw))
    assert isinstance(result, str) and reason in result, result
    one_line(result)


def test_an_event_dated_before_the_year_1000_is_published_decoded_and_projected(
        tmp_path: Path) -> None:
    app = OkrLedger(load_settings({"home": tmp_path}))
    app.add_kpi("wau", "Weekly active users", direction="up", green=14000, red=12000)
    app.record_reading("wau", 7, datetime(33, 4, 3, tzinfo=UTC), reading_id="old")
    envelopes = list(chained(app))
    app.close()
    assert envelopes[-1].effective_at == "0033-04-03T00:00:00.000000Z"
    decoded = [decode(record(e.to_bytes(), e.aggregate_id.encode())) for e in envelopes]
    assert not any(isinstance(d, str) for d in decoded), decoded
    with Projection(":memory:") as proj:
        proj.apply("okr.ledger",
                   [ConsumedRecord(e.to_bytes(), 0, i) for i, e in enumerate(envelopes)],
                   {0: 2})
        _, rows = proj.query("SELECT year(observed_at), value FROM kpi_readings")
    assert rows == [(33, 7.0)]
