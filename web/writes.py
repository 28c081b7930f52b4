"""Every write of the API: one at a time per user, answered from the events it recorded.

A write's answer is a function of what the ledger recorded — the events after the store's last
position before the write whose actor is the signed-in user (Site.writing lets a user write
one thing at a time, so those events are that write's). That makes the answer of a request
interrupted by a crash computable later from the ledger alone, which is how a pending
Idempotency-Key is settled (web/idempotency.py).
"""

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from okr.web.auth import Principal
from okr.web.idempotency import IdempotencyStore, Pending, Stored

if TYPE_CHECKING:
    from okr.ledger.app import OkrLedger
    from okr.web.site import Site

PAGE = 500


def head(ledger: "OkrLedger") -> int:
    """The position of the last event in the store (0 when empty)."""
    return ledger.recorder.max_notification_id() or 0


def recorded_since(ledger: "OkrLedger", after: int, actor: str) -> list[dict[str, Any]]:
    """The events after position `after` recorded under `actor`, as their envelopes say them
    (without the chain's hashes)."""
    from okr.record.envelope import GENESIS_HASH, published

    out: list[dict[str, Any]] = []
    start = after
    while True:
        notes = ledger.recorder.select_notifications(start, PAGE, inclusive_of_start=False)
        for n in notes:
            env = json.loads(published(ledger.mapper, n, GENESIS_HASH).value)
            if env["actor"] == actor:
                out.append({k: v for k, v in env.items()
                            if k not in ("hash", "prev_hash", "schema")})
        if len(notes) < PAGE:
            return out
        start = notes[-1].id


Events = list[dict[str, Any]]
Warnings = Callable[[], list[str]]  # what the events recorded that counts in no as-of view


def warnings(ledger: "OkrLedger", events: Events, say: Callable[[datetime], str]
             ) -> list[str]:
    """Each warning the recorded events give (domain/notices.py: a reading before its KPI was
    in force, an objective before its cycle, a key result before its objective or cycle), its
    times said by `say`."""
    from okr.record.revive import parse_time

    out = []
    for e in events:
        if e["type"] in ("KpiReadingRecorded", "ObjectiveAdded", "KeyResultAdded"):
            notice = ledger.notice_of(e["type"], UUID(e["aggregate_id"]),
                                      parse_time(e["effective_at"]), e["data"])
            if notice is not None:
                out.append(notice.said(say))
    return out


def _check_in(item: str, events: Events, warned: Warnings) -> dict[str, Any]:
    """A check-in's answer: what was recorded, in the check-in's own words."""
    (e,) = [e for e in events if e["type"] == "CheckInRecorded"]
    d = e["data"]
    return {"key": item, "value": d["value"], "confidence": d["confidence"],
            "note": d["note"], "effective_at": e["effective_at"],
            "recorded_at": e["recorded_at"], "actor": e["actor"],
            "on_behalf_of": e.get("on_behalf_of"), "source": d.get("source"),
            "recorded": events}


def _events(item: str, events: Events, warned: Warnings) -> dict[str, Any]:
    return {"key": item, "recorded": events}


def _warned(item: str, events: Events, warned: Warnings) -> dict[str, Any]:
    """A reading's or a new key result's answer: its events, and whether it counts in no
    as-of view at its own time, with the warning `okr kpi record` / `okr kr add` say."""
    said = warned()
    return {"key": item, "recorded": events, "before_in_force": bool(said),
            "warning": said[0] if said else None}


def _counted(item: str, events: Events, warned: Warnings) -> dict[str, Any]:
    """An import's answer: how many events of each type it recorded (not each event: a file
    can hold thousands), and how many count in no as-of view at their own time, with the
    first MAX_NOTED warnings."""
    from collections import Counter

    from okr.ledger.imports import MAX_NOTED

    said = warned()
    return {"key": item, "recorded": len(events),
            "types": dict(sorted(Counter(e["type"] for e in events).items())),
            "before_in_force": len(said), "warnings": said[:MAX_NOTED]}


# How each kind of write is answered, from its events (the same before and after a crash).
ANSWERS: dict[str, Callable[[str, Events, Warnings], dict[str, Any]]] = {
    "check-in": _check_in,
    "events": _events,
    "warned": _warned,
    "import": _counted,
}


def answer_of(kind: str, item: str, events: Events, ledger: "OkrLedger",
              say: Callable[[datetime], str]) -> Stored:
    """201 when the write recorded something; 200 when it had nothing to record (a carry
    done before, a reading id seen before)."""
    return Stored(201 if events else 200, ANSWERS[kind](
        item, events, lambda: warnings(ledger, events, say)))


class Writes:
    """Runs the API's writes with their Idempotency-Key."""

    def __init__(self, site: "Site", store: IdempotencyStore) -> None:
        self.site, self.store = site, store
        for user in sorted(store.users_pending()):  # left by a server that was killed
            self._settle(Principal(user, "", ""), strict=False)
        site.before_write = self._settle

    def _say(self, t: datetime) -> str:
        """A time in a write's warning, as the CLI says it (the server's zone, UTC beside)."""
        from okr.web.views import said
        return said(t, self.site.zone)

    def run(self, who: Principal, key: str | None, fp: str, kind: str, item: str,
            work: "Callable[[OkrLedger], object]") -> Stored:
        """Record `work` as `who`, once per (who, Idempotency-Key)."""
        with self.site.writing(who) as ledger:  # settles the user's pending keys first
            if key is not None:
                seen = self.store.answered(who.name, key, fp)
                if seen is not None:
                    return seen
            before = head(ledger)
            if key is not None:
                self.store.begin(who.name, key, Pending(fp, before, kind, item))
            try:
                work(ledger)
            except Exception:
                if key is not None:
                    self._settle(who, strict=False)
                raise
            answer = answer_of(kind, item, recorded_since(ledger, before, who.actor), ledger,
                               self._say)
            if key is not None:
                self.store.answer(who.name, key, fp, answer)
            return answer

    def _settle(self, who: Principal, strict: bool = True) -> None:
        """Settle the user's pending keys from the ledger: what it recorded under their actor
        after the key's `head` is that request's (nothing: the key is free again). When the
        store cannot be asked, a `strict` settle (before a write) fails, so the user writes
        nothing more until it can; otherwise the key stays pending."""
        for key, p in self.store.pending_of(who.name):
            try:
                events = recorded_since(self.site.state.ledger, p.head, who.actor)
            except Exception:
                if strict:
                    raise
                continue
            if events:
                self.store.answer(who.name, key, p.fingerprint, answer_of(
                    p.kind, p.key, events, self.site.state.ledger, self._say))
            else:
                self.store.release(who.name, key)
