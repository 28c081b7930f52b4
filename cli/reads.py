"""Opening the projection for a read: bring it up to date first when no consumer runs.

A single user never needs a daemon: when no `okr consume` / `okr up` owns the projection, a
read publishes what waits in the event store, consumes okr.ledger up to its tail and publishes
the readers' snapshot, then reads it. When a consumer runs, it keeps the snapshot fresh and
the read opens it as is. If Kafka is unreachable the read says so and shows the snapshot it
has.
"""

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from okr.cli.context import State
from okr.cli.errors import UserError
from okr.cli.output import first_line, visible

READER_WAIT = 5.0  # seconds a read waits to write the work file before it shows the snapshot
MISSING_CAP = 100_000  # stored events counted beyond the projection's (PostgreSQL)

if TYPE_CHECKING:
    from okr.consumers.projector import Progress
    from okr.projections.store import Projection


def catch_up(st: State, *, publish_first: bool = True, publish: bool = False,
             on_progress: "Callable[[Progress], None] | None" = None) -> "Progress | None":
    """Relay pending events, then consume to the tail into the work file (publishing the
    snapshot if asked, or if it is due). None when a running consumer owns the projection (it
    does this itself)."""
    from okr.projections.access import ProjectionBusy, owning

    try:
        with owning(st.settings):
            from okr.adapters import kafka_client
            from okr.consumers.projector import Projector
            from okr.projections.store import MEMORY_LIMIT, Projection

            servers = kafka_client.bootstrap(st.settings, start_local=True)
            kafka_client.answering(servers)
            if publish_first and st.settings.inline_publish:
                from okr.cli.publish import after_write
                after_write(st, kafka_errors=True)  # no Kafka: no catching up either
            # A reader holding the work file (an export, an analyst's session) keeps this read
            # from refreshing it for long: after READER_WAIT the last snapshot is shown.
            proj = Projection(st.settings.projection_work_file, memory_limit=MEMORY_LIMIT,
                              wait=READER_WAIT)
            projector = Projector(st.settings, servers, proj)
            try:
                progress = projector.catch_up(on_progress)
                if publish:
                    projector.publish()
                else:
                    projector.after_step(0)
                return progress
            finally:
                projector.close()
                proj.close()
    except ProjectionBusy:
        return None


def open_projection(st: State, refresh: bool = True) -> "Projection":
    """The projection, read-only, brought up to date first when nobody else does.

    The work file when its writer lets go of it within a moment (it holds it only while it
    writes a batch), else the last published snapshot.
    """
    from okr.projections.access import (
        SNAPSHOT_EVERY,
        complete_for_reading,
        consumer_running,
        open_for_reading,
        settle_layout,
    )

    st.reading = True
    st.require_ledger()
    settle_layout(st.settings)
    # A running consumer (okr up, okr consume) brings the file up to date itself: read what
    # it holds and say how far it lags, without opening the ledger or Kafka (and opening the
    # file once: asking complete_for_reading first would open it twice when it lags).
    if refresh and not consumer_running(st.settings):
        # Nothing to publish or consume (the work file holds every stored event): read it as
        # it is, without starting Kafka clients.
        ready = complete_for_reading(st.settings, SNAPSHOT_EVERY)
        if ready is not None:
            return ready
        st.ledger  # noqa: B018 — an unreachable or damaged store fails here, before Kafka
        failed = _refresh(st)
    else:
        failed = None
    proj = open_for_reading(st.settings)
    if proj is None:
        if failed is not None:  # nothing to show, and why it could not be made: a service
            from okr.errors import ProjectionUnavailable
            raise ProjectionUnavailable(
                f"no projection at {st.settings.duckdb_file} yet, and it could not be built "
                f"({failed}); start Kafka ('okr broker start', or check "
                "KAFKA_BOOTSTRAP_SERVERS) and try again")
        raise UserError(f"no projection at {st.settings.duckdb_file} yet; run "
                        "'okr consume --once' (needs Kafka)")
    if failed is not None:
        print(f"okr: warning: could not refresh the projection ({failed}); showing the last "
              "snapshot", file=sys.stderr)
    try:
        _say_how_stale(st, proj)
    except BaseException:
        proj.close()
        raise
    return proj


def _say_how_stale(st: State, proj: "Projection") -> None:
    """Warn on stderr (and in --json, as "stale") when the projection lacks stored events;
    with --strict, fail with exit code 3 instead."""
    from okr.adapters.event_store import sqlite_head
    from okr.cli.output import NOTES
    from okr.errors import Incomplete

    shown, highest = proj.event_positions()
    head = sqlite_head(st.settings)  # SQLite, readable now: no need to open the ledger
    if head is not None:  # positions 1, 2, 3, … without gaps
        missing = max(0, head - highest)
    elif st.settings.store == "sqlite":
        missing = max(0, (st.ledger.recorder.max_notification_id() or 0) - highest)
    else:  # a PostgreSQL sequence can skip numbers: count what lies beyond
        missing = len(st.ledger.recorder.select_notifications(highest or None, MISSING_CAP,
                                                              inclusive_of_start=False))
    if not missing:
        return
    stored = shown + missing
    at_least = "at least " if missing >= MISSING_CAP else ""
    text = (f"showing {shown} of {at_least}{stored} events; start 'okr up' or run "
            "'okr consume'")
    if st.strict:
        raise Incomplete(f"the projection is stale: {text} (--strict asked for all)")
    NOTES["stale"] = {"shown_events": shown, "stored_events": stored,
                      "missing_events": missing}
    print(f"okr: warning: {text}", file=sys.stderr)


def _refresh(st: State) -> str | None:
    """catch_up; None when done, else why it could not (said by the caller: a warning over
    the last snapshot, or the error when there is none)."""
    from okr.adapters import kafka_client
    from okr.adapters.local_broker import BrokerError
    from okr.errors import ProjectionUnavailable
    from okr.projections.store import ProjectionLocked

    try:
        catch_up(st)
    except (kafka_client.KafkaError, BrokerError, OSError, ProjectionLocked,
            ProjectionUnavailable) as exc:
        kafka_client.stop_orphaned_io()
        return visible(first_line(exc))
    return None
