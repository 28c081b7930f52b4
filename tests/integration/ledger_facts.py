"""What an event store really holds, read back through a fresh ledger, for tests that compare
it with what writers were told (fault and concurrency tests)."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from okr.ledger.app import OkrLedger
from okr.settings import Settings

# Event type → the attribute a test puts a unique tag in, to find the command that wrote it.
TAG_OF = {"CheckInRecorded": "note", "KeyResultRevised": "reason",
          "ObjectiveRetitled": "title", "KpiReadingRecorded": "source"}


@dataclass(frozen=True)
class StoredEvent:
    """One stored event: where it belongs, its version, its type and the tag a test gave it."""

    originator_id: UUID
    version: int
    type: str
    tag: str | None
    event: Any = field(compare=False, repr=False)  # the domain event itself


def stored_events(settings: Settings, page: int = 5000) -> list[StoredEvent]:
    """Every event in the store, in notification order."""
    app = OkrLedger(settings)
    try:
        out: list[StoredEvent] = []
        start: int | None = None
        while True:
            batch = app.recorder.select_notifications(start, page, inclusive_of_start=False)
            for n in batch:
                event = app.mapper.to_domain_event(n)
                kind = type(event).__name__
                tag = getattr(event, TAG_OF[kind], None) if kind in TAG_OF else None
                out.append(StoredEvent(event.originator_id, event.originator_version, kind, tag,
                                       event))
            if len(batch) < page:
                return out
            start = batch[-1].id
    finally:
        app.close()


def version_gaps(events: list[StoredEvent]) -> dict[UUID, list[int]]:
    """Aggregates whose stored versions are not exactly 1..n, with the versions found."""
    versions: dict[UUID, list[int]] = defaultdict(list)
    for e in events:
        versions[e.originator_id].append(e.version)
    return {agg: sorted(vs) for agg, vs in versions.items()
            if sorted(vs) != list(range(1, len(vs) + 1))}


def tag_counts(events: list[StoredEvent], kind: str) -> Counter[str]:
    """How many times each tag occurs among the stored events of one type."""
    return Counter(e.tag for e in events if e.type == kind and e.tag is not None)
