"""The envelope: the versioned public contract of every record on okr.ledger, and its hash chain.

Domain event classes are not the contract. `EVENT_TYPES` maps each one explicitly to the
published type name and aggregate type, so internal refactors never change the topic.
"""

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from okr.domain.base import MAX_NAME
from okr.domain.cycle import Cycle
from okr.domain.events import DATED, EVENTS, VALID_TIME_FIELD
from okr.domain.history import Fact
from okr.domain.initiative import Initiative
from okr.domain.key_result import KeyResult
from okr.domain.kpi import Kpi
from okr.domain.objective import Objective
from okr.domain.user import ARGON2ID, User
from okr.ledger.unreadable import unreadable
from okr.record.revive import parse_time, revive_data

SCHEMA = "okr.ledger/v1"
GENESIS_HASH = "0" * 64

# Domain event class → (published type, aggregate type), and each type's `data` fields: from
# the one vocabulary table (domain/events.py). The class of an event is the attribute of its
# aggregate named like it (eventsourcing's @event declares them, which mypy cannot see).
AGGREGATE_CLASSES: dict[str, type] = {"cycle": Cycle, "objective": Objective,
                                      "key_result": KeyResult, "initiative": Initiative,
                                      "kpi": Kpi, "user": User}
EVENT_TYPES: dict[type, tuple[str, str]] = {
    getattr(AGGREGATE_CLASSES[w.aggregate_type], w.type): (w.type, w.aggregate_type)
    for w in EVENTS}
DATA_FIELDS: dict[str, tuple[str, ...]] = {w.type: w.data for w in EVENTS}
# Data fields a later event version added: records published before it lack them, so they
# are checked only when present.
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {w.type: w.optional for w in EVENTS if w.optional}
# Data fields that must be finite numbers (None allowed where the domain allows it).
NUMBERS = {"value": False, "start": False, "target": True, "target_high": True,
           "weight": False, "green": False, "red": False, "confidence": True}
AGGREGATE_TYPE = {t: a for t, a in EVENT_TYPES.values()}

# The event attribute that holds the valid time, where it is not the recording time.
EFFECTIVE_FIELD = VALID_TIME_FIELD
# Plan events may say when they took effect (`effective_at`: a plan typed while its cycle was
# in planning, or a change with --effective); absent or null, they took effect when recorded.
IN_FORCE_TYPES = DATED


def iso(t: datetime) -> str:
    """UTC ISO 8601 with microseconds and 'Z': one spelling, so hashes are reproducible."""
    # isoformat, not strftime("%Y"): glibc writes the year 33 as "33", which no ISO reader
    # takes back; for the years 1000-9999 both spell the same.
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes the hash is taken over."""
    return _CANONICAL.encode(obj).encode("utf-8")


def chain_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    """sha256(prev_hash ‖ canonical JSON of the envelope without its hash)."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(body)).hexdigest()


_HASH_MEMBER = b'"hash":"'
_HEX64 = re.compile(rb"[0-9a-f]{64}")


def hashed_bytes(raw: bytes) -> bytes | None:
    """What a record's hash covers: its bytes exactly as sent, with the hash member cut out.

    The member is spelled `"hash":"<64 lowercase hex>"` and occurs once in the record; it goes
    with the comma before it (or, as the object's first member, the comma after it). No key
    order is assumed. In JSON text the bytes `"hash":"` can only be a key named hash (inside a
    string its quotes would be escaped), so a record that spells them twice — a second object
    holding a key "hash" — has no hash (None), nor has one with another spelling."""
    at = raw.find(_HASH_MEMBER)
    if at < 1 or raw.find(_HASH_MEMBER, at + 1) >= 0:
        return None
    start, end = at + len(_HASH_MEMBER), at + len(_HASH_MEMBER) + 64
    if raw[end:end + 1] != b'"' or not _HEX64.fullmatch(raw, start, end):
        return None
    end += 1
    before = raw[at - 1:at]
    if before == b",":
        return raw[:at - 1] + raw[end:]
    if before == b"{" and raw[end:end + 1] == b",":
        return raw[:at] + raw[end + 1:]
    return None


def record_hash(raw: bytes, prev_hash: str) -> str | None:
    """sha256(prev_hash ‖ the record's bytes without its hash member), or None when the record
    does not spell its hash member as `hashed_bytes` requires."""
    covered = hashed_bytes(raw)
    if covered is None:
        return None
    return hashlib.sha256(prev_hash.encode("ascii") + covered).hexdigest()


def event_id(aggregate_id: UUID | str, version: int) -> str:
    """A stable id per (aggregate, version), so a re-published event keeps its id:
    uuid5(namespace = the aggregate id, name = the version), spelled out for speed."""
    namespace = aggregate_id if isinstance(aggregate_id, UUID) else UUID(aggregate_id)
    h = bytearray(hashlib.sha1(namespace.bytes + str(version).encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def is_time(value: Any) -> bool:
    """Whether a value is a timestamp spelled exactly as `iso` spells it (what the relay
    writes, and what the projection casts to TIMESTAMPTZ)."""
    if not isinstance(value, str) or not _ISO.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)  # a real date and time (no 2026-02-30)
    except ValueError:
        return False
    return True


def is_finite_number(value: Any) -> bool:
    """A JSON number that a float can hold (not a bool, NaN, an infinity or 10**400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _keys_if_finite(value: Any, room: int = 255) -> int | None:
    """How many object keys a parsed JSON value holds, or None if it holds NaN or an
    infinity (JSON has none; no hash can be computed over them) or containers nested more than
    `room` levels below it (the default is above the 200 levels pydantic's parser reads)."""
    # Exact types: a parsed JSON value holds dicts, lists, str, int, float, bool and None only.
    # Called on every record's data, which is mostly flat: only containers are recursed into.
    kind = type(value)
    if kind is float:
        return 0 if math.isfinite(value) else None
    if kind is dict:
        total, items = len(value), value.values()
    elif kind is list:
        total, items = 0, value
    else:
        return 0
    for v in items:
        kind = type(v)
        if kind is float:
            if not math.isfinite(v):
                return None
        elif kind is dict or kind is list:
            n = _keys_if_finite(v, room - 1) if room else None
            if n is None:
                return None
            total += n
    return total


# Every string token of a JSON text, with the colon after it when it is a key. Strings are read
# whole, from the text's first quote on: a quote followed by a colon may also open a string
# (a note ":) shipped"), so counting quote-colon pairs would take such a value for a key.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"[ \t\r\n]*+(:?)')


def _key_count(raw: bytes) -> int:
    """How many object keys a valid JSON text spells out (a key given twice counts twice)."""
    return _STRING.findall(raw).count(b":")


# The JSON shape of data fields the projection relies on, beyond the numbers in NUMBERS.
SHAPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "key": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "plan_revision": (lambda v: isinstance(v, bool), "true or false"),
    "tags": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v),
             "a list of strings"),
    "phases": (lambda v: isinstance(v, list) and all(
        isinstance(p, dict) and is_time(p.get("at")) and is_finite_number(p.get("value"))
        for p in v), "a list of {at: UTC time, value: finite number}"),
    "tolerance": (lambda v: v is None or (is_finite_number(v) and v > 0),
                  "a finite number above 0, or null"),
    "carried_from": (lambda v: v is None or (isinstance(v, str) and v != ""),
                     "the key it was carried from, or null"),
    "role": (lambda v: v in ("viewer", "member", "planner", "auditor", "admin"),
             "one of viewer, member, planner, auditor, admin"),
    "token_hash": (lambda v: isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) is not None,
                   "a SHA-256 in lowercase hex"),
    "token_ids": (lambda v: isinstance(v, list) and len(v) > 0 and all(
        isinstance(t, str) and re.fullmatch("[0-9a-f]{8,32}", t) is not None for t in v),
        "a non-empty list of token ids (hex)"),
    "password_hash": (lambda v: isinstance(v, str) and ARGON2ID.fullmatch(v) is not None,
                      "an argon2id hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash)"),
}
CYCLE_TIMES = ("start", "end")
# Limits of the projection's BIGINT position and INTEGER version columns.
MAX_POSITION = 2**63 - 1
MAX_VERSION = 2**31 - 1


def _checks(type_: str) -> tuple[str, tuple[str, ...], list[tuple[str, bool]],
                                 list[tuple[str, Callable[[Any], bool], str]],
                                 list[tuple[str, Callable[[Any], bool], str]]]:
    """What `Envelope` checks of one event type's data (worked out once per type: the
    projection validates every record): required fields, their numbers and shapes, and the
    shapes of the optional fields present."""
    aggregate_type, fields = AGGREGATE_TYPE[type_], DATA_FIELDS[type_]
    numbers = [(name, nullable) for name, nullable in NUMBERS.items()
               if name in fields and aggregate_type != "cycle"]
    shapes = []
    for name in fields:
        ok, want = SHAPES.get(name, (None, ""))
        if type_ == "CycleAdded" and name in CYCLE_TIMES:
            ok, want = is_time, "a UTC time written like 2026-11-02T10:00:00.000000Z"
        if ok is not None:
            shapes.append((name, ok, want))
    optional = [(name, *SHAPES[name]) for name in OPTIONAL_FIELDS.get(type_, ())]
    return aggregate_type, fields, numbers, shapes, optional


_CHECKS = {t: _checks(t) for t in DATA_FIELDS}


def _data_problem(type_: str, aggregate_type: str, data: dict[str, Any]) -> str | None:
    """Why a known event type's aggregate type or data does not fit it, or None."""
    belongs_to, fields, numbers, shapes, optional = _CHECKS[type_]
    if belongs_to != aggregate_type:
        return f"{type_} belongs to a {belongs_to}, not a {aggregate_type[:60]!r}"
    missing = [f for f in fields if f not in data]
    if missing:
        return f"{type_} data lacks {', '.join(missing)}"
    for name, nullable in numbers:
        v = data[name]
        if not (v is None and nullable) and not is_finite_number(v):
            return f"{type_} data.{name} must be a finite number"
    for name, ok, want in shapes:
        if not ok(data[name]):
            return f"{type_} data.{name} must be {want}"
    for name, ok, want in optional:
        if name in data and not ok(data[name]):
            return f"{type_} data.{name} must be {want}"
    return None


class Envelope(BaseModel):
    """One record on okr.ledger, validated. Consumers parse with `Envelope.from_bytes`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: str = Field(alias="schema")
    position: int = Field(ge=1, le=MAX_POSITION)
    event_id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    version: int = Field(ge=1, le=MAX_VERSION)
    recorded_at: str
    effective_at: str
    actor: str = Field(min_length=1)
    # Whom the actor recorded the event for (--on-behalf-of). Present only when someone was
    # named — never null — so every envelope without it keeps its bytes and hash.
    on_behalf_of: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    reason: str | None
    data: dict[str, Any]
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("schema_")
    @classmethod
    def _known_schema(cls, v: str) -> str:
        if v != SCHEMA:
            raise ValueError(f"unknown envelope schema {v[:60]!r}, expected {SCHEMA!r}")
        return v

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in KNOWN_TYPES:
            raise ValueError(f"unknown event type {v[:60]!r}")
        return v

    @field_validator("on_behalf_of", mode="before")
    @classmethod
    def _named(cls, v: Any) -> Any:
        if v is None:  # only an explicit null reaches a validator (absent takes the default)
            raise ValueError("on_behalf_of is left out when nobody was named, never null")
        return v

    @field_validator("recorded_at", "effective_at")
    @classmethod
    def _utc_time(cls, v: str) -> str:
        if not is_time(v):
            raise ValueError(f"{v[:40]!r} is not a UTC time written like "
                             "2026-11-02T10:00:00.000000Z")
        return v

    @model_validator(mode="after")
    def _data_fits_type(self) -> "Envelope":
        problem = _data_problem(self.type, self.aggregate_type, self.data)
        if problem is not None:
            raise ValueError(problem)
        return self

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Envelope":
        """Parse and validate a record value (raises ValueError/ValidationError)."""
        try:
            env = cls.model_validate_json(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            if err["type"] == "extra_forbidden":  # pydantic would name the key as it is, and a
                # key with a line break would break the one-line reason of a dead letter
                raise ValueError(f"unknown field {str(err['loc'][0])[:60]!r}") from None
            raise
        keys = _keys_if_finite(env.data)
        if keys is None:
            raise ValueError("data holds NaN or an infinity, which canonical JSON cannot carry")
        # A key given twice: this parser keeps the last value, DuckDB (which loads the record's
        # bytes) the first, so the projection would hold what was never validated.
        fields = len(cls.model_fields) - (env.on_behalf_of is None)
        if _key_count(raw) != fields + keys:
            raise ValueError("a key appears more than once in one object")
        return env

    def body(self) -> dict[str, Any]:
        """The envelope as a dict, without `hash` (what the hash covers)."""
        d = self.to_dict()
        del d["hash"]
        return d

    def to_dict(self) -> dict[str, Any]:
        d = self.model_dump(by_alias=True)
        if d["on_behalf_of"] is None:  # absent when nobody was named (see the field)
            del d["on_behalf_of"]
        return d

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    def hash_ok(self, raw: bytes | None = None) -> bool:
        """Whether `hash` is the chain hash of this record.

        Given the record's bytes, the hash covers them as they are (`record_hash`): a verifier
        in any language hashes what it received, never a re-encoding. Without bytes (an
        envelope recomputed from the event store) the content is encoded canonically, which is
        how the relay writes it.
        """
        if raw is not None:
            return record_hash(raw, self.prev_hash) == self.hash
        return chain_hash(self.prev_hash, self.body()) == self.hash

    def fact(self) -> Fact:
        """The envelope as a domain fact (times parsed), for pure replays."""
        return Fact(position=self.position, aggregate_id=self.aggregate_id,
                    version=self.version, type=self.type,
                    recorded_at=parse_time(self.recorded_at),
                    effective_at=parse_time(self.effective_at), actor=self.actor,
                    reason=self.reason, data=revive_data(self.type, self.data),
                    on_behalf_of=self.on_behalf_of)


KNOWN_TYPES = frozenset(t for t, _ in EVENT_TYPES.values())
# Stored event topic (module:qualname, as eventsourcing stores it) → (type, aggregate type).
TOPIC_TYPES = {get_topic(cls): types for cls, types in EVENT_TYPES.items()}


class Checked(NamedTuple):
    """What a consumer reads of a record found valid, its hash over its bytes included."""

    position: int
    hash: str
    prev_hash: str
    aggregate_id: str
    version: int


# The envelope's members, without and with on_behalf_of (present only when someone was named).
_MEMBERS = frozenset(f.alias or name for name, f in Envelope.model_fields.items()
                     if name != "on_behalf_of")
_MEMBERS_NAMED = _MEMBERS | {"on_behalf_of"}
_TEXTS = ("event_id", "aggregate_type", "aggregate_id", "actor")
_HEX64_TEXT = re.compile("[0-9a-f]{64}")
# A quote followed by white space: a key spelled `"key" :` (or a string starting with a space)
_QUOTE_SPACE = re.compile(rb'"[ \t\r\n]')
_JSON = msgspec.json.Decoder()
# Containers nested deeper than this in a record's data are left to the old decoder: msgspec
# reads about a thousand levels, pydantic's parser refuses a text over 200 (and says so).
QUICK_DEPTH = 64


def checked(raw: bytes) -> Checked | None:
    """A record's chain link when it is a valid envelope whose hash covers its bytes, found by
    one parse in C and the checks of `Envelope` done on the parsed values; None when this
    reading cannot say so, and then `Envelope.from_bytes` and `hash_ok` decide (and say why).

    It accepts only what they accept, with the same values (tests/unit/
    test_decode_differential.py holds it to them): msgspec's parser refuses all JSON that
    pydantic's refuses (NaN and Infinity too, which pydantic reads and the envelope then
    refuses); every type is checked exactly (a bool is not an int, 5.0 is not one here though
    pydantic would take it); and a key given twice is found by counting `":` in the bytes —
    without a backslash every quote opens or closes a string, and without a quote followed by
    white space every key is spelled `"key":`, so the count is at least the keys spelled out
    (more when a string starts with a colon, which only sends a record to the slow path) and
    equal to the keys parsed only when none is given twice. Data nested deeper than
    `QUICK_DEPTH` levels also goes to the old decoder, which refuses a text over 200 levels deep
    where msgspec reads about a thousand."""
    if b"\\" in raw or _QUOTE_SPACE.search(raw) is not None:
        return None
    try:
        doc = _JSON.decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):  # not JSON, not UTF-8, too deep
        return None
    if type(doc) is not dict:
        return None
    members = doc.keys()
    if members == _MEMBERS_NAMED:
        named = doc["on_behalf_of"]
        if type(named) is not str or not 1 <= len(named) <= MAX_NAME:
            return None
    elif members != _MEMBERS:
        return None
    position, version, type_, data = doc["position"], doc["version"], doc["type"], doc["data"]
    reason, hash_, prev_hash = doc["reason"], doc["hash"], doc["prev_hash"]
    if (type(position) is not int or not 1 <= position <= MAX_POSITION
            or type(version) is not int or not 1 <= version <= MAX_VERSION
            or doc["schema"] != SCHEMA or type(type_) is not str or type_ not in KNOWN_TYPES
            or type(data) is not dict or (reason is not None and type(reason) is not str)
            or type(hash_) is not str or not _HEX64_TEXT.fullmatch(hash_)
            or type(prev_hash) is not str or not _HEX64_TEXT.fullmatch(prev_hash)
            or not is_time(doc["recorded_at"]) or not is_time(doc["effective_at"])):
        return None
    for name in _TEXTS:
        if type(doc[name]) is not str:
            return None
    if not doc["actor"] or _data_problem(type_, doc["aggregate_type"], data) is not None:
        return None
    keys = _keys_if_finite(data, QUICK_DEPTH)
    if keys is None or raw.count(b'":') != len(doc) + keys:
        return None
    if record_hash(raw, prev_hash) != hash_:
        return None
    return Checked(position, hash_, prev_hash, doc["aggregate_id"], version)


class Published(NamedTuple):
    """An envelope ready to send: its canonical bytes and what the relay needs to know.

    A tuple, not a dataclass: the relay's worker process hands every page over as a pickle,
    and a frozen dataclass unpickled through `__setstate__` (which calls `fields()` per
    object) cost the relay's main thread 3.8 µs an event against 0.4 (docs/benchmarks.md)."""

    position: int
    aggregate_id: str
    type: str
    hash: str
    value: bytes
    recorded_at: str = ""  # as in the envelope (UTC, fixed width: text order is time order)


def decode_state(mapper: Any, state: bytes) -> dict[str, Any]:
    """A stored event's state as written, decrypted and decompressed — never upcast — with
    every value already in its envelope form (times as UTC ISO 8601 strings)."""
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    decoded: dict[str, Any] = _state_decoder(mapper.transcoder).decode(state.decode("utf-8"))
    return decoded


@lru_cache(maxsize=8)
def _state_decoder(transcoder: Any) -> json.JSONDecoder:
    """Reads eventsourcing's JSON, turning each transcoded value straight into its envelope
    spelling."""
    def revive(d: dict[str, Any]) -> Any:
        if len(d) != 2 or "_type_" not in d or "_data_" not in d:
            return d
        if d["_type_"] == "datetime_iso":
            return _iso_text(d["_data_"])
        return _jsonable(transcoder.names[d["_type_"]].decode(d["_data_"]))
    return json.JSONDecoder(object_hook=revive)


def _iso_text(stored: str) -> str:
    """`iso()` of a datetime stored by eventsourcing (datetime.isoformat()), without parsing
    it when it is already UTC."""
    if stored.endswith("+00:00") and len(stored) in (25, 32):
        return (stored[:-6] + ".000000Z") if len(stored) == 25 else stored[:-6] + "Z"
    return iso(datetime.fromisoformat(stored))


def published(mapper: Any, note: Any, prev_hash: str) -> Published:
    """The chained envelope of a stored event (a notification) at its position.

    It is a function of the stored bytes alone, not of today's event classes: an event that a
    later version of the code upcasts keeps the envelope it was first published with, so the
    chain recomputed from the store always equals the log.
    """
    try:
        type_, aggregate_type = TOPIC_TYPES[note.topic]
        data = decode_state(mapper, note.state)
        recorded = data.pop("timestamp")
        effective_field = EFFECTIVE_FIELD.get(type_)
        if effective_field:
            effective = data.pop(effective_field)
        else:
            effective = (data.pop("effective_at", None) if type_ in IN_FORCE_TYPES
                         else None) or recorded
        actor, reason = data.pop("actor"), data.pop("reason", None)
        named = data.pop("on_behalf_of", None)  # stored only when someone was named
    except Exception as exc:
        why: BaseException | str = exc
        if isinstance(exc, KeyError) and note.topic not in TOPIC_TYPES:
            why = f"its topic {str(note.topic)[:80]!r} names no event okr publishes"
        elif isinstance(exc, KeyError):
            why = f"it lacks {exc}"
        raise unreadable(note.id, note.originator_id, note.originator_version, why) from None
    for internal in ("originator_topic", "class_version"):
        data.pop(internal, None)
    aggregate = str(note.originator_id)
    fields = {
        "schema": SCHEMA, "position": note.id,
        "event_id": event_id(note.originator_id, note.originator_version),
        "type": type_, "aggregate_type": aggregate_type, "aggregate_id": aggregate,
        "version": note.originator_version, "recorded_at": recorded,
        "effective_at": effective, "actor": actor, "reason": reason, "data": data,
        "prev_hash": prev_hash,
    }
    if named is not None:
        fields["on_behalf_of"] = named
    body = canonical_json(fields)
    digest = hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()
    # The keys are sorted, so "hash" goes right before "on_behalf_of", or "position" when it
    # is absent; no string value can hold the raw text ',"position":' (its quotes would be
    # escaped), and "data", where keys are free, comes before both.
    cut = body.rindex(b',"on_behalf_of":' if named is not None else b',"position":')
    value = body[:cut] + b',"hash":"' + digest.encode("ascii") + b'"' + body[cut:]
    return Published(note.id, aggregate, type_, digest, value, recorded)


def chained_records(app: Any, page: int = 5_000) -> "Iterator[Published]":
    """Every stored event as its chained envelope, from genesis: the chain is reproducible
    from the event store alone, whichever relay run published it."""
    prev, start = GENESIS_HASH, None
    while True:
        notes = app.recorder.select_notifications(start, page, inclusive_of_start=False)
        for n in notes:
            rec = published(app.mapper, n, prev)
            prev = rec.hash
            yield rec
        if len(notes) < page:
            return
        start = notes[-1].id


def chained(app: Any, page: int = 5_000) -> "Iterator[Envelope]":
    """`chained_records`, each parsed and validated as an Envelope."""
    for rec in chained_records(app, page):
        yield Envelope.from_bytes(rec.value)


def json_schema() -> dict[str, Any]:
    """The envelope's JSON Schema (draft 2020-12), for consumers in other languages.

    Committed as record/envelope.schema.json; a test keeps the file equal to this.
    """
    schema = Envelope.model_json_schema(by_alias=True)
    props = schema["properties"]
    props["schema"] = {"const": SCHEMA, "title": "Schema"}
    props["type"] = {"enum": sorted(KNOWN_TYPES), "title": "Type"}
    props["aggregate_type"] = {"enum": sorted(set(AGGREGATE_TYPE.values())),
                               "title": "Aggregate Type"}
    for name in ("recorded_at", "effective_at"):
        props[name]["format"] = "date-time"
    props["aggregate_id"]["format"] = "uuid"
    props["on_behalf_of"] = {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                             "title": "On Behalf Of",
                             "description": "Whom the actor recorded the event for; absent "
                                            "when nobody was named (never null)."}
    props["event_id"]["format"] = "uuid"
    optional = {"tolerance": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "carried_from": {"type": ["string", "null"], "minLength": 1}}
    schema["allOf"] = [
        {"if": {"properties": {"type": {"const": t}}},
         "then": {"properties": {"aggregate_type": {"const": AGGREGATE_TYPE[t]},
                                 "data": {"required": list(DATA_FIELDS[t]),
                                          **({"properties": {n: optional[n] for n in
                                                             OPTIONAL_FIELDS[t]}}
                                             if t in OPTIONAL_FIELDS else {})}}}}
        for t in sorted(KNOWN_TYPES)]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://okr-ledger.example/schemas/okr.ledger-v1.json", **schema}


if __name__ == "__main__":  # python -P -m okr.record.envelope > record/envelope.schema.json
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
