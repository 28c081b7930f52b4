"""The projector's quick decoder (`record.envelope.checked`, one parse in C) against the decoder
it falls back to (`envelope_of`: pydantic, the hash, the key), record by record.

The quick path may only ever accept what the old decoder accepts, with the same chain link;
everything else falls back to the old decoder, so a rejection's one-line reason (what the
dead-letter topic shows) is the old one. Most hostile records here are *sealed*: their hash is
computed over their final bytes, so that what decides is the validation, not a hash mismatch.
"""

import hashlib
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from okr.adapters.kafka_client import Message
from okr.consumers.projector import decode
from okr.consumers.projector import envelope_of as old_decode
from okr.record.envelope import GENESIS_HASH, MAX_NAME, Checked, Envelope, checked
from tests.fuzzing import fuzz
from tests.unit.test_fuzz_envelope import HOSTILE, chain, damaged, field_changes, values

__all__ = ["chain"]  # the module's fixture: the envelopes of every event type

# Spellings of the same JSON: separators (item, key), and white space around them.
SEPARATORS = [(",", ":"), (", ", ": "), (",", " : "), (",\n", ":\t"), (" ,", ":"), (",", ":\r\n")]
# Values a hostile producer puts where the envelope wants something else.
ODD = [*HOSTILE, 5.0, "5", True, False, 10**30, -(10**30), 2**63, 2**31, -0.0, 1e-400,
       float("inf"), float("-inf"), ":)", " x", ":", '"', "\\", "\n", "a\u2028b", "é",
       "0" * 63, "A" * 64, "0" * 64 + "\n", "x" * MAX_NAME, "x" * (MAX_NAME + 1)]
# Near misses per member: what each check of the envelope exists to refuse.
NUMBERS = [0, -1, 1, 2, True, False, 5.0, "5", None, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 1.5]
TIMES = ["2026-10-01T00:00:00.000000Z", "2026-10-01T00:00:00Z", "2026-10-01T00:00:00+00:00",
         "2026-10-01T00:00:00.000000+14:00", "2026-02-30T00:00:00.000000Z", "2026-10-01",
         "2026-10-01T00:00:00.000000z", "2026-10-01 00:00:00.000000Z", 20261001, None]
HEXES = ["0" * 64, "f" * 64, "F" * 64, "0" * 63, "0" * 65, "g" * 64, "0" * 63 + "\n", None, 0]
NEAR = {"schema": ["okr.ledger/v1", "okr.ledger/v2", "", None, 1],
        "position": NUMBERS, "version": NUMBERS,
        "type": ["CycleAdded", "KpiRetired", "CheckInRecorded", "Unknown", "", None, 1],
        "aggregate_type": ["cycle", "kpi", "key_result", "user", "", None, 1],
        "recorded_at": TIMES, "effective_at": TIMES,
        "actor": ["", "a", " ", ":)", None, 5, []], "reason": [None, "", "why", 5, False],
        "event_id": ["", "x", None, 5], "aggregate_id": ["", "x", None, 5],
        "prev_hash": HEXES, "data": [{}, [], None, "x", {"key": "k"}], "extra": [None, 1]}


def spell(doc: dict[str, Any], separators: tuple[str, str] = (",", ":"),
          ensure_ascii: bool = False) -> bytes:
    """JSON as a hostile producer may write it: NaN, Infinity and lone surrogates allowed."""
    return json.dumps(doc, allow_nan=True, separators=separators,
                      ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def seal(body: bytes, prev_hash: Any, where: str = "end") -> bytes:
    """A record whose hash member covers `body` (an object without a hash), placed first or
    last: sha256(prev_hash ‖ body), as `record_hash` computes it."""
    prev = prev_hash if isinstance(prev_hash, str) and prev_hash.isascii() else GENESIS_HASH
    digest = hashlib.sha256(prev.encode("ascii") + body).hexdigest().encode()
    if where == "first" and body.startswith(b"{") and body != b"{}":
        return b'{"hash":"' + digest + b'",' + body[1:]
    if not body.endswith(b"}"):
        return body + b',"hash":"' + digest + b'"'
    return body[:-1] + b',"hash":"' + digest + b'"}'


def with_duplicate(body: bytes, name: str, value: Any, in_data: bool, first: bool,
                   spacing: str) -> bytes:
    """The body with `name` given once more, at the top level or inside data."""
    member = (json.dumps(name) + spacing + ":" + spacing
              + json.dumps(value, allow_nan=True)).encode("utf-8", "surrogatepass")
    if in_data and b'"data":{' in body:
        at = body.index(b'"data":{') + len(b'"data":{')
        rest = body[at:]
        return body[:at] + member + (b"," if not rest.startswith(b"}") else b"") + rest
    if first:
        return b"{" + member + b"," + body[1:]
    return body[:-1] + b"," + member + b"}"


@st.composite
def hostile(draw: st.DrawFn, chain: list[Envelope]) -> tuple[bytes, bytes | None]:
    """(record bytes, Kafka key): a relay record changed one hostile way or several, mostly
    sealed with a correct hash."""
    env = draw(st.sampled_from(chain))
    doc = env.to_dict()
    del doc["hash"]
    how = draw(st.sampled_from(["fields", "odd", "near", "near", "named", "duplicate",
                                "respelled", "bytes", "escaped", "utf8", "hash in data",
                                "as sent"]))
    separators = draw(st.sampled_from(SEPARATORS)) if draw(st.booleans()) else (",", ":")
    if how == "fields":
        doc = draw(field_changes(env))
        doc.pop("hash", None)
    elif how == "odd":  # a top-level or data field given a value of another type or range
        if draw(st.booleans()) and env.data:
            doc["data"] = {**doc["data"], draw(st.sampled_from(list(env.data))):
                           draw(st.sampled_from(ODD))}
        else:
            doc[draw(st.sampled_from(list(doc)))] = draw(st.sampled_from(ODD))
    elif how == "near":
        name = draw(st.sampled_from(list(NEAR)))
        doc[name] = draw(st.sampled_from(NEAR[name]))
    elif how == "named":  # on_behalf_of: present only when someone was named
        doc["on_behalf_of"] = draw(st.sampled_from([None, "", "ana", "x" * MAX_NAME,
                                                    "x" * (MAX_NAME + 1), 5, ":)", " ana"]))
    elif how == "utf8":  # bytes that are not UTF-8 (or a surrogate) inside a string
        doc["actor"] = "\ud800" if draw(st.booleans()) else env.actor
    if draw(st.booleans()):  # the members in another order
        doc = {k: doc[k] for k in draw(st.permutations(list(doc)))}
    body = spell(doc, separators, ensure_ascii=how == "escaped" and draw(st.booleans()))
    if how == "duplicate":
        name = draw(st.sampled_from(["version", "data", "position", "type", "actor", "value",
                                     "note", "key", "hash", "reason", "extra"]))
        value = draw(st.one_of(values, st.sampled_from(
            [env.version, env.position, env.type, env.actor, doc.get("data")])))
        body = with_duplicate(body, name, value, in_data=draw(st.booleans()),
                              first=draw(st.booleans()),
                              spacing=draw(st.sampled_from(["", " ", "\n"])))
    elif how == "bytes":
        body = damaged(draw, body)
    elif how == "escaped":  # a key spelled with an escape, which reads as the plain key
        body = body.replace(b'"data":', b'"d\\u0061ta":', 1) if draw(st.booleans()) else \
            body.replace(b'"actor":"', b'"actor":"\\u0067', 1)
    elif how == "utf8":
        body = body.replace(b'"actor":"', b'"actor":"' + draw(st.sampled_from(
            [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00", b"\x1f", b"\t", b"\x7f"])), 1)
    elif how == "hash in data":
        body = with_duplicate(body, "hash", env.hash, in_data=True, first=True, spacing="")
    if how == "as sent":
        raw = env.to_bytes()
    elif draw(st.integers(0, 5)) == 0:  # the relay's hash kept: mostly a mismatch
        raw = body[:-1] + b',"hash":"' + env.hash.encode() + b'"}'
    else:
        raw = seal(body, doc.get("prev_hash"), draw(st.sampled_from(["end", "first"])))
    key = draw(st.sampled_from([env.aggregate_id.encode(), None, b"other"]))
    return raw, key


def link(env: Envelope) -> Checked:
    return Checked(env.position, env.hash, env.prev_hash, env.aggregate_id, env.version)


def same_verdict(raw: bytes | None, key: bytes | None) -> Checked | str:
    """The quick decoder's verdict, asserted equal to the old one's."""
    message = Message("okr.ledger", 0, 0, key, raw, ())
    new, old = decode(message), old_decode(message)
    if isinstance(old, str):
        assert new == old, (raw, new, old)
    else:  # repr: a bool is equal to an int, but not the same value
        assert repr(new) == repr(link(old)), (raw, new, old)
    if raw is not None and (quick := checked(raw)) is not None:
        assert not isinstance(old, str) or old.startswith("record key"), (raw, quick, old)
    return new


@fuzz(600)
@given(data=st.data())
@example(data=None)
def test_the_quick_decoder_agrees_with_the_old_one_on_hostile_records(
        chain: list[Envelope], data: st.DataObject | None) -> None:
    if data is None:  # a note starting with a colon: both read it the same way
        env = next(e for e in chain if e.type == "CheckInRecorded")
        doc = {**env.to_dict(), "data": {**env.data, "note": ":)"}}
        del doc["hash"]
        same_verdict(seal(spell(doc), env.prev_hash), env.aggregate_id.encode())
        return
    same_verdict(*data.draw(hostile(chain)))


@fuzz(200)
@given(raw=st.one_of(st.binary(max_size=300), st.sampled_from([
    b"", b"null", b"[]", b"{}", b"NaN", b"[" * 5000 + b"]" * 5000, b'{"schema":"okr.ledger/v1"}',
    b"\xef\xbb\xbf{}", "{\"é\": 1}".encode("utf-16")])), key=st.none())
@example(raw=None, key=None)
def test_the_quick_decoder_agrees_with_the_old_one_on_arbitrary_bytes(
        raw: bytes | None, key: bytes | None) -> None:
    same_verdict(raw, key)


def test_the_quick_path_reads_every_record_the_relay_writes(chain: list[Envelope]) -> None:
    """Not a path that never runs: each relay record, and the same content spelled with other
    separators and member order, is read by `checked` itself (no fallback), with its link."""
    for env in chain:
        assert checked(env.to_bytes()) == link(env), env.type
        doc = env.to_dict()
        del doc["hash"]
        respelled = seal(spell(dict(reversed(doc.items())), (", ", ": ")), env.prev_hash)
        assert checked(respelled) is not None, respelled
        assert same_verdict(respelled, None) == checked(respelled)


@pytest.mark.parametrize("change", [
    lambda raw: raw.replace(b'"version":', b'"version" :', 1),  # spelled with a space
    lambda raw: raw.replace(b'"actor":"', b'"actor":"\\u0067', 1),  # an escape
])
def test_spellings_the_quick_path_cannot_count_keys_in_go_the_old_way(
        chain: list[Envelope], change: Any) -> None:
    env = chain[0]
    doc = env.to_dict()
    del doc["hash"]
    raw = seal(change(spell(doc)), env.prev_hash)
    assert checked(raw) is None
    assert isinstance(same_verdict(raw, None), Checked)


def test_every_near_miss_of_every_member_gets_the_old_verdict(chain: list[Envelope]) -> None:
    """Each member given each of its near misses (sealed, so the hash is right), and each
    data field each odd value: every pair once, which sampling would mostly miss."""
    seen = set()
    for env in chain:
        doc = env.to_dict()
        del doc["hash"]
        cases = [(name, value) for name, misses in NEAR.items() for value in misses]
        cases += [(f"data.{name}", value) for name in env.data for value in ODD]
        for name, value in cases:
            if name.startswith("data."):
                changed = {**doc, "data": {**doc["data"], name[5:]: value}}
            else:
                changed = {**doc, name: value}
            verdict = same_verdict(seal(spell(changed), changed.get("prev_hash")), None)
            seen.add(isinstance(verdict, str))
    assert seen == {True, False}


@pytest.mark.parametrize("note", [":) shipped", ":", " : spaced", "a\":b"])
def test_a_string_starting_with_a_colon_is_not_taken_for_a_key(chain: list[Envelope],
                                                               note: str) -> None:
    """A check-in noted ":) shipped", as the relay writes it: a valid record. Counting `":`
    (or `"` and white space before a colon) took the note's opening quote for the end of a
    key, so the record was dead-lettered as holding a key twice — and every record chained
    after it waited at the gate for ever."""
    env = next(e for e in chain if e.type == "CheckInRecorded")
    doc = {**env.to_dict(), "data": {**env.data, "note": note}}
    del doc["hash"]
    raw = seal(spell(doc), env.prev_hash)
    assert isinstance(decode(Message("okr.ledger", 0, 0, None, raw, ())), Checked)
    assert Envelope.from_bytes(raw).data["note"] == note


@pytest.mark.parametrize("depth", [64, 65, 199, 200, 201, 990])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_nesting_inside_a_valid_record_gets_the_old_verdict(
        chain: list[Envelope], depth: int, opener: str) -> None:
    """A sealed record whose data holds a member nested `depth` levels deep. pydantic's parser
    stops at 200 levels and msgspec's at about a thousand: the quick path must not accept
    what the old decoder refuses for depth (nor recurse into it), so it leaves every deep
    record to the old decoder."""
    env = next(e for e in chain if e.type == "CheckInRecorded")
    doc = env.to_dict()
    del doc["hash"]
    closer = "]" if opener == "[" else "}"
    body = spell({**doc, "data": {**env.data, "x": 0}}).replace(
        b'"x":0', b'"x":' + (opener * depth + "0" + closer * depth).encode())
    raw = seal(body, env.prev_hash)
    verdict = same_verdict(raw, None)
    if depth > 64:
        assert checked(raw) is None, depth
    if depth >= 200:
        assert isinstance(verdict, str) and "recursion" in verdict, verdict
