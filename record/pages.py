"""Pages of chained envelopes for the relay: made here, or a page ahead in a second process.

Reading the store, mapping each event to its envelope and hashing the chain is pure-Python
work about half as heavy as kafka-python's own sending. For a long backlog (a first relay, a
republish after a broker restart) a worker process does it on another core, a page or so
ahead, while the relay sends; short backlogs (a CLI write, a follower) never pay for starting
one. Either way the pages are the same: `published()` of the same stored events from the same
chain head. (What the worker gains: docs/benchmarks.md, "Relay".)
"""

from collections.abc import Iterator
from typing import Any

from okr.ledger.unreadable import StoredEventUnreadable
from okr.record.envelope import Published, published
from okr.record.watermark import Watermark
from okr.record.worker import Failure, Worker, WorkerError, requests_from_parent, send_to_parent

PAGE = 5000
# A backlog at least this long (in positions after the head) is worth a worker process.
WORKER_FROM = 50_000


class PagesError(RuntimeError):
    """The worker process failed; what it was making counts as not made."""


class Backdated(PagesError):
    """A stored event was recorded earlier than the event before it: inserted behind the
    store's back (the store refuses it otherwise). Nothing from it on is published."""


def page_of(app: Any, head: Watermark, want: int) -> list[Published]:
    """The envelopes of up to `want` stored events after the head, chained from it."""
    notes = app.recorder.select_notifications(head.position or None, want,
                                              inclusive_of_start=False)
    prev, last, out = head.head_hash, head.recorded_at, []
    for note in notes:
        rec = published(app.mapper, note, prev)
        if rec.recorded_at < last:
            raise Backdated(f"the event at position {rec.position} is recorded at "
                            f"{rec.recorded_at}, earlier than the event before it ({last}): "
                            "back-dated behind the store's back; not publishing it or anything "
                            "after it (okr audit verify names it)")
        prev, last = rec.hash, rec.recorded_at
        out.append(rec)
    return out


def after(head: Watermark, page: list[Published]) -> Watermark:
    """The watermark at the end of a page sent from `head`."""
    prev = page[-2].hash if len(page) > 1 else head.head_hash
    return Watermark(page[-1].position, page[-1].hash, head.count + len(page), prev,
                     page[-1].recorded_at)


def pages(app: Any, head: Watermark, limit: int | None) -> Iterator[list[Published]]:
    """Pages after the head (up to `limit` events), each made only when the previous one was
    taken; a long backlog is made by a worker process (when a second process can open the
    same store: not an in-memory one)."""
    own_store = "PERSISTENCE_MODULE" not in app.overrides
    if own_store and (limit is None or limit >= WORKER_FROM):
        backlog = app.recorder.select_notifications(head.position + WORKER_FROM, 1)
        if backlog:
            yield from _from_worker(app, head, limit)
            return
    yield from _made_here(app, head, limit)


def _made_here(app: Any, head: Watermark, limit: int | None) -> Iterator[list[Published]]:
    """Pages made in this process, page after page until the store has no more (or `limit`)."""
    made = 0
    while limit is None or made < limit:
        want = PAGE if limit is None else min(PAGE, limit - made)
        page = page_of(app, head, want)
        if page:
            yield page
            made += len(page)
            head = after(head, page)
        if len(page) < want:
            return


def _from_worker(app: Any, head: Watermark, limit: int | None) -> Iterator[list[Published]]:
    """Pages made by `python -m okr.record.pages` on the same store, a page or so ahead."""
    worker = Worker("okr.record.pages")
    try:
        worker.send((app.settings, app.overrides, head, limit))
        while (page := worker.receive()) is not None:
            if isinstance(page, StoredEventUnreadable | Backdated):  # an alarm, as made here
                raise page
            yield page
    except WorkerError as exc:
        raise PagesError(str(exc)) from None
    finally:
        worker.close()


def _work() -> None:
    """The worker: for the one request (settings, env, head, limit), answer page after page
    until the store has no more (or `limit`), then None."""
    from okr.ledger.app import OkrLedger

    for settings, env, head, limit in requests_from_parent():
        try:
            for page in _made_here(OkrLedger(settings, env), head, limit):
                send_to_parent(page)
        except (StoredEventUnreadable, Backdated) as exc:  # the store's, not the worker's
            send_to_parent(exc)
        except Exception as exc:  # the relay reports it and publishes nothing of this run
            send_to_parent(Failure(f"the envelope worker failed: {type(exc).__name__}: {exc}"))
        else:
            send_to_parent(None)
        return


if __name__ == "__main__":
    _work()
