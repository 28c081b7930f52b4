"""Verification that nothing was altered, removed, inserted or reordered.

Input is what an auditor can collect: the records of okr.ledger (partition, offset, value),
optionally the envelopes recomputed from the event store, and the signed checkpoints. The
verifier trusts none of them alone: the hash chain must hold over the log, the signed
checkpoints must match the chain, and the log must equal the store.

An identical record delivered twice is not tampering (the relay is at-least-once); a
different record at an existing position is. Checkpoints carry the Merkle tree head: the log's
tree at each checkpoint's size must have its root, and checkpoints an auditor kept earlier
(`trusted`) must be extended by today's log. A log that merely lacks the store's newest events
(a wiped broker the relay has not refilled yet) is incomplete, not tampered.
"""

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from okr.ledger.unreadable import StoredEventUnreadable
from okr.record.envelope import GENESIS_HASH, Envelope, published
from okr.record.merkle import CompactRange, envelope_leaf

# Findings that say the log is behind the store, not that anything was altered.
INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class Record:
    """One record as read from a Kafka topic."""

    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class Finding:
    """One thing wrong, located."""

    problem: str  # altered, missing, inserted, reordered, malformed, bad-signature, ...
    position: int | None
    aggregate_id: str | None
    detail: str
    where: str = "log"

    def as_dict(self) -> dict[str, Any]:
        return {"problem": self.problem, "position": self.position,
                "aggregate_id": self.aggregate_id, "where": self.where, "detail": self.detail}

    def line(self) -> str:
        pos = "-" if self.position is None else str(self.position)
        agg = f" aggregate {self.aggregate_id}" if self.aggregate_id else ""
        return f"position {pos}{agg} ({self.where}): {self.problem} — {self.detail}"


@dataclass
class Verdict:
    """The outcome: counts, the head of the chain, and every finding in position order."""

    records: int = 0
    events: int = 0
    duplicates: int = 0
    checkpoints: int = 0
    head_position: int = 0
    head_hash: str = GENESIS_HASH
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def status(self) -> str:
        """verified, incomplete (only events the topic has yet to receive) or tampered."""
        if not self.findings:
            return "verified"
        if all(f.problem == INCOMPLETE for f in self.findings):
            return "incomplete"
        return "tampered"

    def first(self) -> Finding | None:
        """The first finding by position — of those that are not merely incomplete, when
        there are any (a tampered verdict names what was tampered with, not a missing event
        at the same position)."""
        bad = [f for f in self.findings if f.problem != INCOMPLETE] or self.findings
        return min(bad, key=lambda f: (f.position is None, f.position or 0), default=None)

    def as_dict(self) -> dict[str, Any]:
        first = self.first()
        return {"ok": self.ok, "status": self.status, "records": self.records,
                "events": self.events,
                "duplicates": self.duplicates, "checkpoints": self.checkpoints,
                "head_position": self.head_position, "head_hash": self.head_hash,
                "first_problem": None if first is None else first.as_dict(),
                "findings": [f.as_dict() for f in sorted(
                    self.findings, key=lambda f: (f.position is None, f.position or 0))]}


def parse_records(records: Iterable[Record], verdict: Verdict) -> dict[int, Envelope]:
    """Envelopes by position; malformed and conflicting records become findings."""
    by_position: dict[int, Envelope] = {}
    seen_at: dict[int, Record] = {}
    partition_of: dict[str, int] = {}
    last_version: dict[str, tuple[int, int]] = {}  # aggregate → (version, offset) in partition
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        verdict.records += 1
        try:
            env = Envelope.from_bytes(rec.value)
        except (ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[0][:200]
            verdict.findings.append(Finding("malformed", None, None,
                                            f"partition {rec.partition} offset {rec.offset}: "
                                            f"{first}"))
            continue
        where = f"partition {rec.partition} offset {rec.offset}"
        if not env.hash_ok(rec.value):
            verdict.findings.append(Finding("altered", env.position, env.aggregate_id,
                                            f"{where}: the hash does not match the record's "
                                            "bytes"))
        previous = by_position.get(env.position)
        if previous is not None:
            if previous == env:
                verdict.duplicates += 1
            else:
                first_at = seen_at[env.position]
                verdict.findings.append(Finding(
                    "altered", env.position, env.aggregate_id,
                    f"two different records claim this position ({where} and partition "
                    f"{first_at.partition} offset {first_at.offset})"))
            continue
        by_position[env.position] = env
        seen_at[env.position] = rec
        agg = env.aggregate_id
        if partition_of.setdefault(agg, rec.partition) != rec.partition:
            verdict.findings.append(Finding("inserted", env.position, agg,
                                            f"{where}: the aggregate's events live in partition "
                                            f"{partition_of[agg]}"))
        prior = last_version.get(agg)
        if prior is not None and env.version <= prior[0]:
            verdict.findings.append(Finding("reordered", env.position, agg,
                                            f"{where}: version {env.version} comes after "
                                            f"version {prior[0]} in the partition"))
        last_version[agg] = (max(env.version, prior[0] if prior else 0), rec.offset)
    return by_position


def check_chain(by_position: dict[int, Envelope], verdict: Verdict,
                expected_positions: Sequence[int] | None = None) -> dict[int, str]:
    """Walk the chain in position order; return the hash at each position."""
    heads: dict[int, str] = {}
    prev = GENESIS_HASH
    versions: dict[str, int] = defaultdict(int)
    check_recording_times([by_position[p] for p in sorted(by_position)], verdict, "log")
    for position in sorted(by_position):
        env = by_position[position]
        if env.prev_hash != prev:
            verdict.findings.append(Finding(
                "missing" if _skipped(position, by_position, expected_positions) else "altered",
                position, env.aggregate_id,
                "prev_hash does not match the hash of the event before it — an event before "
                "this one was removed, inserted or changed"))
        expected_version = versions[env.aggregate_id] + 1
        if env.version != expected_version:
            problem = "reordered" if env.version < expected_version else "missing"
            verdict.findings.append(Finding(problem, position, env.aggregate_id,
                                            f"version {env.version} where {expected_version} "
                                            "was expected"))
        versions[env.aggregate_id] = max(versions[env.aggregate_id], env.version)
        prev = env.hash
        heads[position] = env.hash
        verdict.events += 1
        verdict.head_position, verdict.head_hash = position, env.hash
    return heads


def check_recording_times(envelopes: Sequence[Envelope], verdict: Verdict, where: str) -> None:
    """Recording time never decreases with position: an event recorded earlier than the one
    before it was inserted behind the store's back (a back-dated insert)."""
    last = ""
    for env in envelopes:  # recorded_at has one fixed-width UTC spelling: text order is time
        if env.recorded_at < last:
            verdict.findings.append(Finding(
                "backdated", env.position, env.aggregate_id,
                f"recorded at {env.recorded_at}, earlier than the event before it ({last})",
                where=where))
        last = max(last, env.recorded_at)


def _skipped(position: int, by_position: dict[int, Envelope],
             expected: Sequence[int] | None) -> bool:
    """Whether an expected position just before this one is absent from the log."""
    if expected is None:
        return False
    i = bisect.bisect_left(expected, position)  # expected is sorted
    return i > 0 and expected[i - 1] not in by_position


def store_envelopes(app: Any, log_hash: Callable[[int], str | None]
                    ) -> tuple[list[Envelope], list[Finding]]:
    """The event store's events as chained envelopes, and an "altered" finding for each one
    that cannot be read as okr wrote it (edited outside okr: its state not JSON bytes, the
    wrong shape, an unknown topic). The chain goes on after such an event from the log's hash
    at its position (`log_hash`), so only the edited event is named."""
    out: list[Envelope] = []
    bad: list[Finding] = []
    prev, start, page = GENESIS_HASH, None, 5_000
    while True:
        notes = app.recorder.select_notifications(start, page, inclusive_of_start=False)
        for note in notes:
            try:
                rec = published(app.mapper, note, prev)
                env = Envelope.from_bytes(rec.value)
            except (StoredEventUnreadable, ValidationError, ValueError) as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                bad.append(Finding("altered", note.id, str(note.originator_id),
                                   detail[:300], where="store"))
                prev = log_hash(note.id) or prev
                continue
            prev = rec.hash
            out.append(env)
        if len(notes) < page:
            return out, bad
        start = notes[-1].id


def check_store_checkpoints(store: Sequence[Envelope], checkpoints: Sequence[dict[str, Any]],
                            signature_ok: Callable[[dict[str, Any]], bool],
                            verdict: Verdict, where: str) -> None:
    """The event store's chain must pass through every checkpoint the relay signed (from the
    topic, the relay's own file or the auditor's trusted file) within the store's reach. A
    store that contradicts one was edited, cut or rolled back — tampered, whatever the topic
    holds (after a wipe the relay refuses to republish it, so "run okr relay" would never
    help). Only the first contradicted checkpoint is named: every later one follows."""
    heads = {e.position: e.hash for e in store}
    store_head = max(heads, default=0)
    for cp in sorted((cp for cp in checkpoints if isinstance(cp, dict) and signature_ok(cp)),
                     key=lambda cp: _int(cp, "position")):
        position = _int(cp, "position")
        if position <= 0 or position > store_head:
            continue
        if heads.get(position) != cp.get("head_hash"):
            verdict.findings.append(Finding(
                "altered", position, None,
                f"the event store's history up to here differs from the checkpoint the relay "
                f"signed over {cp.get('count')} events ({where}): an event at or before this "
                "position was edited, inserted or removed in the store", where="store"))
            return


_ABSENT = object()  # a member one envelope lacks: unequal to any value, None too


def compare_with_store(by_position: dict[int, Envelope], store: Sequence[Envelope],
                       verdict: Verdict, unreadable: Sequence[Finding] = ()) -> None:
    """The log must hold exactly the store's events, byte for byte (an event of the store
    that cannot be read is a finding of its own, `unreadable`)."""
    stored = {e.position: e for e in store}
    check_recording_times(sorted(store, key=lambda e: e.position), verdict, "store")
    log_head = max(by_position, default=0)
    skip = {f.position for f in unreadable}
    verdict.findings.extend(unreadable)
    for position in sorted(set(stored) | set(by_position)):
        if position in skip:
            continue
        s, k = stored.get(position), by_position.get(position)
        if k is None and s is not None:
            verdict.findings.append(Finding(
                INCOMPLETE if position > log_head else "missing", position, s.aggregate_id,
                f"{s.type} v{s.version} is in the event store but not on the topic"
                + (" yet (run `okr relay`)" if position > log_head else "")))
        elif s is None and k is not None:
            verdict.findings.append(Finding("inserted", position, k.aggregate_id,
                                            f"{k.type} v{k.version} is on the topic but not in "
                                            "the event store"))
        elif s is not None and k is not None and s != k:
            # A member on one side only (an `on_behalf_of` added or removed) differs too.
            ours, theirs = s.to_dict(), k.to_dict()
            fields = sorted(n for n in ours.keys() | theirs.keys()
                            if ours.get(n, _ABSENT) != theirs.get(n, _ABSENT))
            verdict.findings.append(Finding("altered", position, s.aggregate_id,
                                            f"topic and event store differ in "
                                            f"{', '.join(fields)}", where="store"))


def tree_roots(heads: dict[int, str], counts: Iterable[int]) -> dict[int, str]:
    """The Merkle root of the log's first n events, for each n asked (hex)."""
    wanted, roots, tree = set(counts), {}, CompactRange()
    if 0 in wanted:
        roots[0] = tree.root().hex()
    for position in sorted(heads):
        if not wanted - set(roots):
            break
        tree.append(envelope_leaf(heads[position]))
        if tree.size in wanted:
            roots[tree.size] = tree.root().hex()
    return roots


def _int(cp: dict[str, Any], name: str) -> int:
    try:
        return int(cp.get(name, 0))
    except (TypeError, ValueError):
        return -1


def check_checkpoints(checkpoints: Sequence[dict[str, Any]], heads: dict[int, str],
                      signature_ok: Callable[[dict[str, Any]], bool],
                      verdict: Verdict, store_head: int | None = None,
                      where: str = "checkpoints") -> None:
    """Each signed checkpoint must carry a valid signature, match the chain at its position
    and the Merkle tree at its size, and lie within the log (one beyond the log's head means
    the log was cut short — or, when the event store holds that far, not refilled yet)."""
    good = [cp for cp in checkpoints if isinstance(cp, dict) and signature_ok(cp)]
    roots = tree_roots(heads, {_int(cp, "count") for cp in good if "root" in cp})
    trusted = where == "trusted"
    for cp in checkpoints:
        verdict.checkpoints += not trusted
        position = _int(cp, "position") if isinstance(cp, dict) else -1
        if not isinstance(cp, dict) or not signature_ok(cp):
            verdict.findings.append(Finding("bad-signature", position, None,
                                            "checkpoint signature does not verify with the "
                                            "public key", where=where))
            continue
        if position > verdict.head_position:
            behind = store_head is not None and store_head >= position
            verdict.findings.append(Finding(
                INCOMPLETE if behind else "truncated", position, None,
                f"a signed checkpoint covers {cp.get('count')} events up to position "
                f"{position}, beyond the log's head at {verdict.head_position}"
                + (" (the event store holds them: run `okr relay`)" if behind
                   else ": events were removed from the end of the log"), where=where))
            continue
        count = _int(cp, "count")
        if "root" in cp and count in roots and roots[count] != cp["root"]:
            verdict.findings.append(Finding(
                "altered", position, None,
                f"the log's Merkle tree of {count} events has another root than the signed "
                + ("checkpoint you trusted: the log does not extend it" if trusted else
                   "checkpoint"), where=where))
            continue
        if position in heads and heads[position] != cp.get("head_hash"):
            verdict.findings.append(Finding("altered", position, None,
                                            "the chain head here differs from the signed "
                                            + ("checkpoint you trusted" if trusted
                                               else "checkpoint"), where=where))
        elif position not in heads and position <= verdict.head_position:
            verdict.findings.append(Finding("missing", position, None,
                                            "a signed checkpoint names a position the log "
                                            "lacks", where=where))
        if "count" in cp and position in heads:
            seen = sum(1 for p in heads if p <= position)
            if seen != count:
                verdict.findings.append(Finding("missing" if seen < count else "inserted",
                                                position, None,
                                                f"the checkpoint counts {count} events up to "
                                                f"here, the log has {seen}",
                                                where=where))


def verify(records: Iterable[Record], store: Sequence[Envelope] | None,
           checkpoints: Sequence[dict[str, Any]],
           signature_ok: Callable[[dict[str, Any]], bool],
           trusted: Sequence[dict[str, Any]] = (), *,
           unreadable: Sequence[Finding] = (),
           own: Sequence[dict[str, Any]] = ()) -> Verdict:
    """Run every check; the verdict lists each finding with its position. `trusted` are
    checkpoints the auditor kept: today's log must extend every one of them. With the store:
    `unreadable` are its events that cannot be read (store_envelopes), and the store must
    pass through every signed checkpoint — the topic's, the relay's own file's (`own`) and
    the trusted ones."""
    verdict = Verdict()
    by_position = parse_records(records, verdict)
    expected = None if store is None else sorted(
        {e.position for e in store} | {f.position for f in unreadable if f.position})
    heads = check_chain(by_position, verdict, expected)
    store_head = None
    if store is not None:
        compare_with_store(by_position, store, verdict, unreadable)
        store_head = max([e.position for e in store]
                         + [f.position for f in unreadable if f.position], default=0)
    check_checkpoints(checkpoints, heads, signature_ok, verdict, store_head)
    check_checkpoints(trusted, heads, signature_ok, verdict, store_head, where="trusted")
    if store is not None:
        for source, cps in (("on the checkpoints topic", checkpoints),
                            ("in the relay's own file", own), ("you trusted", trusted)):
            check_store_checkpoints(store, cps, signature_ok, verdict, source)
    return verdict
