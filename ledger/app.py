"""The ledger Application: one command method per write, optimistic concurrency per aggregate."""

import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEvent, DomainEventProtocol
from eventsourcing.persistence import (
    EventStore,
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    Mapper,
    OperationalError,
    PersistenceError,
    StoredEvent,
    Transcoding,
)

from okr.adapters.event_store import ledger_id, postgres_has_events, postgres_session_user
from okr.adapters.pg import one_table_creator_at_a_time
from okr.domain.base import (
    MAX_NAME,
    LedgerAggregate,
    aggregate_id,
    check_on_behalf_of,
    check_text,
    in_force,
    utc_now,
)
from okr.domain.cycle import Cycle
from okr.domain.errors import AlreadyExists, DomainError, NotFound
from okr.domain.initiative import Initiative
from okr.domain.key_result import KeyResult
from okr.domain.kpi import Kpi
from okr.domain.notices import Notice, early_key_result, early_objective, early_reading
from okr.domain.objective import Objective, check_alignment
from okr.domain.periods import canonical_cycle_key
from okr.domain.reading_ids import ReadingIds
from okr.domain.shapes import Phase, Reading
from okr.domain.user import User
from okr.ledger import home, recording_time
from okr.ledger.arguments import check_public_methods
from okr.ledger.unreadable import unreadable
from okr.settings import Settings

A = TypeVar("A", bound=LedgerAggregate)

# Kind name (as used in ids and by `okr show`) → aggregate class.
KINDS: dict[str, type[LedgerAggregate]] = {
    "cycle": Cycle, "objective": Objective, "key_result": KeyResult,
    "initiative": Initiative, "kpi": Kpi, "user": User,
}
LABEL = {"cycle": "cycle", "objective": "objective", "key_result": "key result",
         "initiative": "initiative", "kpi": "KPI", "user": "user"}

# Concurrent writers on one aggregate: reload and decide again, a few times, then report.
CONFLICT_ATTEMPTS = 5


class ConcurrencyError(DomainError):
    """Another writer kept changing the same aggregate; the command was not recorded."""


class ClockBehind(DomainError):
    """The recording clock is behind the last stored event; the command was not recorded."""


class SaveUnconfirmed(OperationalError):
    """The connection broke while saving and the store could not be asked afterwards whether
    the save had committed: the command may or may not be recorded."""


# The largest event a command may record (its stored state, in bytes). The relay's envelope
# adds under 1 KB, so every recorded event stays far below the ~1 MB Apache Kafka accepts by
# default: a command can only create an event the log can carry.
MAX_EVENT_BYTES = 256 * 1024


class _NoSuchKey(Exception):
    """A key that holds a lone surrogate: no text, so no item's (keys are ASCII)."""


def _id_of(kind: str, key: str) -> UUID:
    """The aggregate id of a key looked up (a reference a caller typed: `--parent`, `--kpi`);
    _NoSuchKey for one that is not text, whose id cannot even be made (uuid5 encodes it)."""
    try:
        return aggregate_id(kind, key)
    except UnicodeEncodeError:
        raise _NoSuchKey from None


class EventTooLarge(DomainError):
    """The command would record an event larger than MAX_EVENT_BYTES; nothing was recorded."""


class NotStorableText(DomainError):
    """The command's text holds a lone UTF-16 surrogate (a JSON body may spell one,
    "\\ud800"): no character, so not storable as UTF-8; nothing was recorded."""


def _surrogate_in(value: Any, where: str) -> tuple[str, str] | None:
    """(where, the text) of the first string in `value` that UTF-8 cannot encode, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where, value
        return None
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list | tuple) else ()
    for k, v in items:
        found = _surrogate_in(v, f"{where}.{k}" if where else str(k))
        if found is not None:
            return found
    return None


# What every stored event of every version holds (the library's own fields): a state
# without them is not an event okr wrote. Fields of okr's own come and go across versions
# (upcasters and defaults fill them in), so they are not asked for here.
_ALWAYS_STORED = frozenset({"timestamp"})


class BoundedMapper(Mapper[UUID]):
    """The library's mapper, refusing an event too large for the log where it is serialised
    anyway (no second encoding, nothing saved: the refusal comes before the transaction), and
    reading a stored event that was edited outside okr as a one-line StoredEventUnreadable,
    not a traceback."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            event = super().to_domain_event(stored_event)
            lacking = _ALWAYS_STORED - vars(event).keys()
        except Exception as exc:  # the stored bytes, their JSON or their topic: all edits
            raise unreadable(getattr(stored_event, "id", None), stored_event.originator_id,
                             stored_event.originator_version, exc) from None
        if lacking:
            raise unreadable(getattr(stored_event, "id", None), stored_event.originator_id,
                             stored_event.originator_version,
                             f"it lacks {', '.join(sorted(lacking))}")
        return event

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        try:
            stored = super().to_stored_event(domain_event)
        except UnicodeEncodeError:
            found = _surrogate_in({k: v for k, v in vars(domain_event).items()
                                   if not k.startswith("_")}, "")
            if found is None:
                raise
            where, text = found
            shown = repr(text[:60]) + ("…" if len(text) > 60 else "")
            raise NotStorableText(f"{where} {shown} is not text: it holds a lone surrogate "
                                  "(\\ud800–\\udfff, half of a UTF-16 pair), which no "
                                  "character is; nothing was recorded") from None
        if len(stored.state) > MAX_EVENT_BYTES:
            name = type(domain_event).__qualname__
            raise EventTooLarge(f"this change would record a {name} event of "
                                f"{len(stored.state):,} bytes; an event may hold at most "
                                f"{MAX_EVENT_BYTES:,} bytes so that Kafka can carry it — make "
                                "the change smaller (fewer phased targets, shorter texts)")
        return stored


# Every this many events an aggregate's state is snapshotted (eventsourcing's snapshots, in a
# table of their own beside the events: `stored_snapshots` in SQLite, `okr_snapshots` in
# PostgreSQL — never in the notification log, so never relayed, chained or replayed by an
# audit). Loading an aggregate then reads its latest snapshot and at most this many events
# after it, however long its history: a write costs the same after 20,000 check-ins as after
# 10 (docs/benchmarks.md). Any aggregate that changes what it keeps must raise its
# `class_version` and upcast the snapshot state (eventsourcing's upcast_vN_vN+1 on the class).
SNAPSHOT_EVERY = 100


class ReadingIdsAsText(Transcoding):
    """A KPI's reading ids in its snapshot: one string (domain/reading_ids.py), not a JSON
    object of 20,000 entries to decode on every load."""

    type = ReadingIds
    name = "okr_reading_ids"

    def encode(self, obj: ReadingIds) -> str:
        return obj.pack()

    def decode(self, data: str) -> ReadingIds:
        return ReadingIds(data)


def _private_store(dbname: str) -> None:
    """Create the SQLite store's directory 0700 and its file 0600 if missing, whatever the
    umask (the CLI narrows its own; a program using this API may not). SQLite gives the WAL
    and shared-memory files the database file's mode."""
    if dbname == ":memory:" or dbname.startswith("file:"):
        return
    path = Path(dbname)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _store_started(settings: Settings) -> bool:
    """Whether the configured event store exists: the SQLite file, or the PostgreSQL events
    table (asked of the catalog; nothing created)."""
    if settings.store == "sqlite":
        return settings.event_store_path.is_file()
    return postgres_has_events(settings)


class OkrLedger(Application[UUID]):
    """Commands over cycles, objectives, key results, initiatives and KPIs."""

    name = "okr"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        cls: SNAPSHOT_EVERY for cls in KINDS.values()}

    def __init__(self, settings: Settings, env: dict[str, str] | None = None,
                 principal: str | None = None, on_behalf_of: str | None = None, *,
                 create_on_save: bool = False) -> None:
        """Open the ledger. `principal` is for a trusted component that authenticated the
        person or system it acts for (the KPI ingest, a web server's signed-in user): its
        writes are recorded under that name. Left out — always, for the CLI — writes are
        recorded under the authenticated account (`principal`).

        `on_behalf_of` names whom this ledger's writes are made for (a write command's
        `--on-behalf-of NAME`): recorded beside the actor, never as it. `acting_for` names
        someone for some writes.

        `create_on_save`: where the store does not exist yet (no SQLite file, no PostgreSQL
        events table), decide against an empty store in memory and create the data directory
        and the store only when events are saved — a command refused there leaves nothing
        behind (a command that can start a ledger: `okr cycle add`, `kpi add`, `user add`,
        `import plan`).
        """
        self.settings = settings
        self._principal = (None if principal is None
                           else check_text(principal, "principal", max_len=MAX_NAME))
        # Per thread and task (the web server shares one ledger between requests).
        self._on_behalf_of: ContextVar[str | None] = ContextVar("on_behalf_of", default=None)
        self._named = check_on_behalf_of(on_behalf_of)  # this ledger's, unless acting_for
        self.overrides = dict(env or {})  # what a second process needs to open the same store
        self._home_adopted = False  # the data directory was given the store's ledger
        self._unopened = create_on_save and not _store_started(settings)
        if self._unopened:  # nothing recorded yet: nothing to read, nothing created
            super().__init__(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        else:
            self._open_store()
        # Writes change cached aggregates in place: threads sharing this ledger take turns, so
        # none reads or extends another's unsaved change (versions out of order, a failed
        # command's event saved by someone else).
        self._cache_lock = threading.RLock()

    def _open_store(self) -> None:
        """Open (creating if need be) the configured event store."""
        settings = self.settings
        # A cache of aggregates, fast-forwarded from the store on every read, spares the
        # replay of a key result's whole history on each check-in (docs/benchmarks.md).
        cache = {"AGGREGATE_CACHE_MAXSIZE": "5000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
        library_env = {**cache, **settings.eventsourcing_env(), **self.overrides}
        if library_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
            _private_store(library_env["SQLITE_DBNAME"])
        with one_table_creator_at_a_time(settings):
            super().__init__(env=library_env)
            recording_time.guard(self.recorder, settings.store)
        self._adopt_home()

    def _adopt_home(self) -> None:
        """Record the configured store's ledger in a new data directory (ledger/home.py), once
        the store holds its first event: a ledger's identity is made of it."""
        if self.overrides or self._home_adopted:
            return
        found = ledger_id(self.settings)
        if found:
            self._home_adopted = True
            home.adopt_new(self.settings, found)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ReadingIdsAsText())

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(),
                                   mapper_class=BoundedMapper)

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """The snapshots' store: the library's, with its plain mapper — a snapshot never
        travels through Kafka, so the size bound of an event (BoundedMapper) is not its."""
        return self.factory.event_store(
            mapper=self.factory.mapper(transcoder=self.mapper.transcoder),
            recorder=self.factory.aggregate_recorder(purpose="snapshots"))

    # ---- reads -------------------------------------------------------------------------

    def load(self, cls: type[A], kind: str, key: str, shared: bool = False) -> A:
        """The aggregate of that kind with that key, or NotFound naming it.

        A `shared` load hands out the cached object itself instead of a deep copy (a copy
        costs time growing with the aggregate's history): for aggregates only read, or changed
        by `_change`, which evicts the object from the cache if the change is not saved.
        """
        try:
            with self._cache_lock:
                agg: A = self.repository.get(_id_of(kind, key),
                                             deepcopy_from_cache=not shared)
        except (AggregateNotFoundError, _NoSuchKey):
            raise NotFound(f"{LABEL[kind]} {key!r} not found") from None
        assert isinstance(agg, cls)
        return agg

    def exists(self, kind: str, key: str) -> bool:
        try:
            return bool(self.recorder.select_events(_id_of(kind, key), limit=1))
        except _NoSuchKey:
            return False

    def find(self, key: str, kinds: Iterable[str] = KINDS) -> list[tuple[str, LedgerAggregate]]:
        """Every aggregate whose key is `key`, whatever its kind."""
        found = []
        for kind in kinds:
            if self.exists(kind, key):
                found.append((kind, self.load(KINDS[kind], kind, key)))
        return found

    def cycle(self, key: str) -> Cycle:
        return self.load(Cycle, "cycle", canonical_cycle_key(key))

    def objective(self, key: str) -> Objective:
        return self.load(Objective, "objective", key)

    def key_result(self, key: str) -> KeyResult:
        return self.load(KeyResult, "key_result", key)

    def initiative(self, key: str) -> Initiative:
        return self.load(Initiative, "initiative", key)

    def kpi(self, key: str) -> Kpi:
        return self.load(Kpi, "kpi", key)

    def user(self, key: str) -> User:
        return self.load(User, "user", key)

    def cycle_of_objective(self, objective: Objective) -> Cycle:
        """The objective's cycle, for reading only."""
        return self.load(Cycle, "cycle", objective.cycle, shared=True)

    def cycle_of_kr(self, kr: KeyResult) -> Cycle:
        """The key result's cycle, for reading only."""
        return self.load(Cycle, "cycle", kr.cycle, shared=True)

    # ---- what a write recorded that counts in no as-of view (domain/notices.py) ----------

    def reading_notice(self, kpi: str, observed_at: datetime) -> Notice | None:
        """The warning for a reading of `kpi` observed then, if it counts in no as-of view."""
        return early_reading(self.load(Kpi, "kpi", kpi, shared=True), observed_at)

    def key_result_notice(self, key: str, objective: str, in_force_since: datetime
                          ) -> Notice | None:
        """The warning for key result `key`, in force since then under `objective`, if no
        as-of view shows it until its objective or their cycle is in force."""
        obj = self.load(Objective, "objective", objective, shared=True)
        return early_key_result(key, in_force_since, obj, self.cycle_of_objective(obj))

    def objective_notice(self, key: str, cycle: str, in_force_since: datetime
                         ) -> Notice | None:
        """The warning for objective `key`, in force since then in `cycle`, if no as-of view
        shows it until its cycle is in force."""
        cyc = self.load(Cycle, "cycle", canonical_cycle_key(cycle), shared=True)
        return early_objective(key, in_force_since, cyc)

    def notice_of(self, event_type: str, aggregate: UUID, effective_at: datetime,
                  data: dict[str, Any]) -> Notice | None:
        """The warning a recorded event gives, from its envelope's members (type, aggregate
        id, effective time, data): a reading before its KPI was in force, an objective added
        before its cycle, a key result added before its objective or cycle; else None."""
        if event_type == "KpiReadingRecorded":
            with self._cache_lock:
                kpi: Any = self.repository.get(aggregate, deepcopy_from_cache=False)
            assert isinstance(kpi, Kpi)
            return early_reading(kpi, effective_at)
        if event_type == "KeyResultAdded":
            return self.key_result_notice(data["key"], data["objective"], effective_at)
        if event_type == "ObjectiveAdded":
            return self.objective_notice(data["key"], data["cycle"], effective_at)
        return None

    # ---- the write path ----------------------------------------------------------------

    @property
    def principal(self) -> str:
        """Who this ledger's writes are recorded under (their actor): the one given when it
        was opened, else the authenticated account — the OS account on SQLite, the session
        role on PostgreSQL (ledger/principal.py). Asked of the store once."""
        if self._principal is None:
            from okr.ledger import principal
            if self.settings.store == "sqlite":
                name = principal.os_account()
            elif self._unopened:  # no store opened yet: a connection of our own asks
                name = postgres_session_user(self.settings)
            else:
                name = principal.session_role(self.recorder)
            self._principal = check_text(name, "actor", max_len=MAX_NAME)
        return self._principal

    @property
    def on_behalf_of(self) -> str | None:
        """Whom the writes made now are recorded for, beside the actor (None: nobody)."""
        return self._on_behalf_of.get(self._named)

    @contextmanager
    def acting_for(self, name: str | None) -> Iterator[None]:
        """Record the writes made inside the block (in this thread or task) on behalf of
        `name` (None: of nobody); refuses a blank or overlong name before anything is
        written."""
        token = self._on_behalf_of.set(check_on_behalf_of(name))
        try:
            yield
        finally:
            self._on_behalf_of.reset(token)

    def _write(self, decide: Callable[[], Sequence[Aggregate]]) -> None:
        """Run `decide` (load, validate, mutate) and save; on a version conflict, decide again."""
        for attempt in range(CONFLICT_ATTEMPTS):
            aggregates = decide()
            try:
                self.save_once(*aggregates)
                return
            except IntegrityError as exc:
                # A version conflict, or (recording_time) a writer that took its time before
                # another's later event committed: both decide again with fresh state and time
                # — unless this machine's clock is behind the store, which no retry mends.
                self._forget(*(a.id for a in aggregates))
                self._refuse_if_clock_behind(exc)
                time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        raise ConcurrencyError(f"others kept changing the same item; the command was not "
                               f"recorded after {CONFLICT_ATTEMPTS} attempts — try again")

    def save_once(self, *aggregates: Aggregate) -> None:
        """Save in one transaction; a committed save whose reply was lost counts as saved.

        When the connection breaks after the server committed, the library retries the insert,
        which then collides with its own rows (IntegrityError) or cannot reach the server
        (OperationalError). Asking the store whether it holds these very events keeps such a
        command from being decided again (recorded twice) or reported as not recorded.
        """
        events = [e for a in aggregates for e in a.pending_events]
        try:
            self.save(*aggregates)
        except (EventTooLarge, NotStorableText):  # changed in memory, never saved: reload
            self._forget(*(a.id for a in aggregates))
            raise
        except IntegrityError:
            if not self._holds(events):
                raise
        except (OperationalError, InterfaceError) as exc:
            try:
                held = self._holds(events)
            except PersistenceError:
                why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise SaveUnconfirmed(
                    f"the connection to the event store broke while saving and the store cannot "
                    f"be asked whether the change was recorded ({why}); check before repeating "
                    f"the command") from exc
            if not held:
                raise

    def save_checked(self, aggregates: Sequence[Aggregate]) -> bool:
        """Save what a whole checked file changed (those with pending events) in one
        transaction; whether anything was. A collision means the ledger moved after the file
        was checked against it: nothing is written (ConcurrencyError), the file is run again."""
        changed = [a for a in aggregates if a.pending_events]
        if not changed:
            return False
        try:
            self.save_once(*changed)
        except IntegrityError as exc:
            self._refuse_if_clock_behind(exc)
            raise ConcurrencyError("the ledger changed while the file was being checked; "
                                   "nothing was written — run the import again") from None
        return True

    # Entered around every save's transaction (the CLI: a Ctrl-C meanwhile waits for it to
    # end, and after a commit lets the command say what it recorded, cli/interrupts.py).
    save_guard: Callable[[], AbstractContextManager[None]] = nullcontext

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save, putting the events in the order of their recording time: the store refuses an
        event recorded earlier than the one before it (ledger/recording_time.py), and one
        command or batch can touch several aggregates in any order."""
        if self._unopened:
            # The first events of a new ledger, decided against an empty store: now the real
            # store is created. A writer that started it meanwhile and recorded the same key
            # makes this save collide (IntegrityError): the command is decided again there.
            self._unopened = False
            super().close()
            self._open_store()
        events = [o for o in objs if isinstance(o, DomainEventProtocol)]
        aggregates = [o for o in objs if o is not None and not isinstance(o, DomainEventProtocol)]
        for agg in aggregates:
            events.extend(agg.collect_events())
        ordered = sorted(events, key=lambda e: e.timestamp)  # type: ignore[attr-defined]  # stable: versions keep order
        name = self.on_behalf_of
        if name is not None:
            # A claim about the write, not a decision of the aggregate: stamped on its events
            # here (the events are frozen), stored beside the actor only when someone is named
            # (domain/base.py LedgerAggregate.Event.on_behalf_of).
            for e in ordered:
                object.__setattr__(e, "on_behalf_of", name)
        with self.save_guard():
            saved = super().save(*ordered, *aggregates, **kwargs)
        self._adopt_home()  # the first event of a new ledger: its identity
        return saved

    def _refuse_if_clock_behind(self, exc: IntegrityError) -> None:
        """Raise ClockBehind when the store refused a recording time (ledger/recording_time.py)
        because its last event was recorded later than this machine's clock says it is now:
        no retry mends that, unlike a race lost to another writer."""
        if recording_time.REFUSED not in str(exc):
            return
        head = self.recorder.max_notification_id()
        last = [] if head is None else self.recorder.select_notifications(start=head, limit=1)
        event = self.mapper.to_domain_event(last[0]) if last else None
        if isinstance(event, DomainEvent) and event.timestamp > utc_now():
            raise ClockBehind("the event store holds an event recorded later than this "
                              "machine's clock says it is now; recording times never go back, "
                              "so check the system clock — nothing was recorded") from None

    def _holds(self, events: Sequence[Any]) -> bool:
        """Whether the store holds these events of one save (one transaction: all or none)."""
        if not events:
            return False
        first = events[0]
        found = self.recorder.select_events(first.originator_id, gt=first.originator_version - 1,
                                            lte=first.originator_version)
        return bool(found) and found[0].state == self.mapper.to_stored_event(first).state

    def _forget(self, *ids: UUID) -> None:
        """Drop cached aggregates whose in-memory state may be ahead of the store."""
        cache = self.repository.cache
        if cache is not None:
            for agg_id in ids:
                with suppress(KeyError):
                    cache.get(agg_id, evict=True)

    def _create(self, kind: str, key: str, build: Callable[[], A]) -> A:
        """Create a new aggregate, refusing a key already taken (also under a race)."""
        made: list[A] = []

        def decide() -> Sequence[Aggregate]:
            if self.exists(kind, key):
                raise AlreadyExists(f"{LABEL[kind]} {key!r} already exists")
            made[:] = [build()]
            return made

        self._write(decide)
        return made[0]

    def _change(self, cls: type[A], kind: str, key: str, change: Callable[[A], None]) -> A:
        """Load an aggregate, apply a command to it and save it.

        The cached aggregate is changed in place (no copy); if the command fails or is not
        saved, it is evicted from the cache, so the next load reads the store again.
        """
        loaded: list[A] = []

        def decide() -> Sequence[Aggregate]:
            loaded[:] = [self.load(cls, kind, key, shared=True)]
            change(loaded[0])
            return loaded

        with self._cache_lock:
            try:
                self._write(decide)
            except BaseException:
                self._forget(aggregate_id(kind, key))
                raise
        return loaded[0]

    def _in_force(self, cyc: Cycle, item: LedgerAggregate | None, effective: datetime | None,
                  reason: str | None, what: str) -> datetime | None:
        """When a plan change to `item` (None: a new item) of cycle `cyc` takes effect."""
        return in_force(effective, reason, planning=not cyc.plan_committed,
                        cycle_start=cyc.start, now=utc_now(),
                        latest=None if item is None else item.in_force_from, what=what)

    # ---- cycles -------------------------------------------------------------------------

    def add_cycle(self, key: str, start: datetime | None = None, end: datetime | None = None,
                  timezone: str | None = None) -> Cycle:
        """Open a cycle in planning; named periods in the organisation's zone (the setting
        org_timezone unless `timezone` is given), recorded on the cycle."""
        key = canonical_cycle_key(key)
        who = self.principal
        tz = timezone or self.settings.org_timezone
        return self._create("cycle", key,
                            lambda: Cycle.add(key, start, end, who, tz, now=utc_now()))

    def commit_cycle(self, key: str) -> Cycle:
        who = self.principal
        return self._change(Cycle, "cycle", canonical_cycle_key(key),
                            lambda c: c.commit(who))

    def close_cycle(self, key: str, reason: str | None = None) -> Cycle:
        who = self.principal
        return self._change(Cycle, "cycle", canonical_cycle_key(key),
                            lambda c: c.close(who, reason))

    def reopen_cycle(self, key: str, reason: str | None) -> Cycle:
        who = self.principal
        return self._change(Cycle, "cycle", canonical_cycle_key(key),
                            lambda c: c.reopen(who, reason))

    # ---- objectives ---------------------------------------------------------------------

    def add_objective(self, key: str, title: str, cycle: str, owner: str, team: str = "",
                      level: str = "team", okr_type: str = "committed", description: str = "",
                      parent: str | None = None, reason: str | None = None,
                      effective: datetime | None = None) -> Objective:
        who = self.principal
        cyc = self.cycle(cycle)
        cyc.check_open("adding an objective")
        if parent is not None:
            self._check_alignment(key, parent)
        return self._create("objective", key, lambda: Objective.add(
            key, title, cyc.key, owner, team, level, okr_type, description, parent, who,
            plan_revision=cyc.plan_committed, reason=reason,
            effective_at=self._in_force(cyc, None, effective, reason,
                                        f"adding objective {key}")))

    def _check_alignment(self, key: str, parent: str) -> None:
        """The parent exists, and aligning under it makes no cycle and no over-deep chain."""
        self.objective(parent)
        check_alignment(key, parent, lambda k: self.objective(k).parent)

    def update_objective(self, key: str, *, title: str | None = None,
                         description: str | None = None, owner: str | None = None,
                         team: str | None = None, parent: str | None = None,
                         clear_parent: bool = False, okr_type: str | None = None,
                         reason: str | None = None,
                         effective: datetime | None = None) -> Objective:
        """Apply each given change as its own event (retitle, owner, re-align, type)."""
        who = self.principal
        if parent is not None:
            self._check_alignment(key, parent)
        if all(v is None for v in (title, description, owner, team, parent, okr_type)) \
                and not clear_parent:
            raise DomainError("nothing to update: give --title, --description, --owner, "
                              "--team, --parent, --no-parent or --type")

        def change(obj: Objective) -> None:
            cyc = self.cycle_of_objective(obj)
            cyc.check_open("changing an objective")
            eff = self._in_force(cyc, obj, effective, reason, f"changing objective {key}")
            if title is not None or description is not None:
                obj.retitle(title if title is not None else obj.title, description, who, reason,
                            eff)
            if owner is not None or team is not None:
                obj.change_owner(owner if owner is not None else obj.owner, team, who, reason,
                                 eff)
            if parent is not None or clear_parent:
                obj.realign(None if clear_parent else parent, who, cyc.plan_committed, reason,
                            eff)
            if okr_type is not None:
                obj.change_type(okr_type, who, cyc.plan_committed, reason, eff)

        return self._change(Objective, "objective", key, change)

    def abandon_objective(self, key: str, reason: str | None,
                          effective: datetime | None = None) -> Objective:
        who = self.principal

        def change(o: Objective) -> None:
            eff = self._in_force(self.cycle_of_objective(o), o, effective, reason,
                                 f"abandoning objective {key}")
            o.abandon(who, reason, eff)

        return self._change(Objective, "objective", key, change)

    def close_objective(self, key: str, status: str, reason: str | None = None,
                        effective: datetime | None = None) -> Objective:
        who = self.principal

        def change(o: Objective) -> None:
            eff = self._in_force(self.cycle_of_objective(o), o, effective, reason,
                                 f"closing objective {key}")
            o.close(status, who, reason, eff)

        return self._change(Objective, "objective", key, change)

    # ---- key results --------------------------------------------------------------------

    def add_key_result(self, key: str, title: str, objective: str, kind: str = "increase",
                       start: float = 0.0, target: float = 1.0,
                       target_high: float | None = None, unit: str = "", weight: float = 1.0,
                       phases: list[Phase] | None = None, kpi: str | None = None,
                       reason: str | None = None,
                       tolerance: float | None = None,
                       effective: datetime | None = None) -> KeyResult:
        who = self.principal
        obj = self.objective(objective)
        cyc = self.cycle_of_objective(obj)
        cyc.check_open("adding a key result")
        if kpi is not None:
            self.kpi(kpi)

        def build() -> KeyResult:
            eff = self._in_force(cyc, None, effective, reason, f"adding key result {key}")
            kr = KeyResult.add(key, title, obj.key, cyc.key, kind, start, target, target_high,
                               unit, weight, phases or [], cyc.window, who,
                               plan_revision=cyc.plan_committed, reason=reason, effective_at=eff,
                               tolerance=tolerance)
            if kpi is not None:
                kr.link_kpi(kpi, who, effective_at=eff)
            return kr

        return self._create("key_result", key, build)

    def revise_key_result(self, key: str, *, start: float | None = None,
                          target: float | None = None, target_high: float | None = None,
                          weight: float | None = None, phases: list[Phase] | None = None,
                          reason: str | None = None,
                          tolerance: float | None = None, clear_tolerance: bool = False,
                          effective: datetime | None = None) -> KeyResult:
        who = self.principal

        def change(kr: KeyResult) -> None:
            cyc = self.cycle_of_kr(kr)
            cyc.check_open("revising a key result")
            kr.revise(start=start, target=target, target_high=target_high, weight=weight,
                      phases=phases, window=cyc.window, actor=who,
                      plan_revision=cyc.plan_committed, reason=reason, tolerance=tolerance,
                      clear_tolerance=clear_tolerance,
                      effective_at=self._in_force(cyc, kr, effective, reason,
                                                  f"revising key result {key}"))

        return self._change(KeyResult, "key_result", key, change)

    def move_key_result(self, key: str, objective: str, reason: str | None = None,
                        effective: datetime | None = None) -> KeyResult:
        who = self.principal
        target_obj = self.objective(objective)

        def change(kr: KeyResult) -> None:
            cyc = self.cycle_of_kr(kr)
            cyc.check_open("moving a key result")
            if target_obj.cycle != cyc.key:
                raise DomainError(f"objective {objective} is in cycle {target_obj.cycle}, "
                                  f"key result {key} in {cyc.key}; move within one cycle")
            kr.move(objective, who, cyc.plan_committed, reason,
                    self._in_force(cyc, kr, effective, reason, f"moving key result {key}"))

        return self._change(KeyResult, "key_result", key, change)

    def remove_key_result(self, key: str, reason: str | None = None,
                          effective: datetime | None = None) -> KeyResult:
        who = self.principal

        def change(kr: KeyResult) -> None:
            cyc = self.cycle_of_kr(kr)
            cyc.check_open("removing a key result")
            kr.remove(who, cyc.plan_committed, reason,
                      self._in_force(cyc, kr, effective, reason, f"removing key result {key}"))

        return self._change(KeyResult, "key_result", key, change)

    def link_kpi(self, key: str, kpi: str, reason: str | None = None,
                 effective: datetime | None = None) -> KeyResult:
        who = self.principal
        self.kpi(kpi)

        def change(kr: KeyResult) -> None:
            eff = self._in_force(self.cycle_of_kr(kr), kr, effective, reason,
                                 f"linking key result {key}")
            kr.link_kpi(kpi, who, reason, eff)

        return self._change(KeyResult, "key_result", key, change)

    def unlink_kpi(self, key: str, reason: str | None = None,
                   effective: datetime | None = None) -> KeyResult:
        who = self.principal

        def change(kr: KeyResult) -> None:
            eff = self._in_force(self.cycle_of_kr(kr), kr, effective, reason,
                                 f"unlinking key result {key}")
            kr.unlink_kpi(who, reason, eff)

        return self._change(KeyResult, "key_result", key, change)

    def check_in(self, key: str, value: float, confidence: float | None = None, note: str = "",
                 at: datetime | None = None,
                 source: str = "manual") -> KeyResult:
        """Record a check-in; `at` defaults to now and may be back-dated inside the cycle."""
        who = self.principal

        def change(kr: KeyResult) -> None:
            cyc = self.cycle_of_kr(kr)
            cyc.check_open("a check-in")
            now = utc_now()
            kr.check_in(value, confidence, note, at or now, now, cyc.window, who, source)

        return self._change(KeyResult, "key_result", key, change)

    # ---- initiatives --------------------------------------------------------------------

    def add_initiative(self, key: str, title: str, key_result: str, owner: str | None = None,
                       effective: datetime | None = None,
                       reason: str | None = None) -> Initiative:
        who = self.principal
        kr = self.key_result(key_result)
        if kr.removed:
            raise DomainError(f"key result {key_result} was removed; pick a live one")
        cyc = self.cycle_of_kr(kr)
        return self._create("initiative", key, lambda: Initiative.add(
            key, title, kr.key, owner if owner is not None else who, who,
            effective_at=self._in_force(cyc, None, effective, reason,
                                        f"adding initiative {key}")))

    def set_initiative_status(self, key: str, status: str, reason: str | None = None,
                              effective: datetime | None = None) -> Initiative:
        who = self.principal

        def change(i: Initiative) -> None:
            cyc = self.cycle_of_kr(self.load(KeyResult, "key_result", i.key_result, shared=True))
            eff = self._in_force(cyc, i, effective, reason, f"setting initiative {key}")
            i.set_status(status, who, reason, eff)

        return self._change(Initiative, "initiative", key, change)

    # ---- KPIs ---------------------------------------------------------------------------

    def add_kpi(self, key: str, name: str, *, unit: str = "", direction: str = "up",
                target: float | None = None, green: float, red: float,
                cadence: str = "weekly", tags: list[str] | None = None,
                owner: str | None = None,
                effective: datetime | None = None, reason: str | None = None) -> Kpi:
        who = self.principal
        eff = in_force(effective, reason, planning=False, cycle_start=None, now=utc_now(),
                       latest=None, what=f"adding KPI {key}")
        return self._create("kpi", key, lambda: Kpi.add(
            key, name, unit, direction, target, green, red, cadence, tags or [],
            owner if owner is not None else who, who, effective_at=eff))

    def update_kpi(self, key: str, changes: dict[str, Any], reason: str | None = None) -> Kpi:
        who = self.principal
        return self._change(Kpi, "kpi", key, lambda k: k.update(changes, who, reason))

    def reading_of(self, kpi: Kpi) -> Callable[[int], Reading]:
        """What the KPI's reading at a version was (`Kpi.record` asks for a repeated id's):
        from its unsaved events (a batch), else from the event store."""
        def at(version: int) -> Reading:
            found: list[Any] = [e for e in kpi.pending_events
                                if e.originator_version == version]
            if not found:  # saved before: read it back
                found = list(self.events.get(kpi.id, gt=version - 1, lte=version))
            e = found[0] if found else None
            if not isinstance(e, Kpi.KpiReadingRecorded):
                raise LookupError(f"KPI {kpi.key} holds no reading at version {version}")
            return {"value": e.value, "observed_at": e.observed_at, "source": e.source,
                    "recorded_at": e.timestamp}
        return at

    def record_reading(self, key: str, value: float, at: datetime | None = None,
                       source: str = "manual", reading_id: str | None = None) -> bool:
        """Record a KPI reading; False when its reading id was recorded before."""
        who = self.principal
        recorded: list[bool] = []

        def change(k: Kpi) -> None:
            now = utc_now()
            recorded[:] = [k.record(value, at or now, source, reading_id, now, who,
                                    earlier=self.reading_of(k))]

        self._change(Kpi, "kpi", key, change)
        return recorded[0]

    def retire_kpi(self, key: str, reason: str | None = None) -> Kpi:
        who = self.principal
        return self._change(Kpi, "kpi", key, lambda k: k.retire(who, reason))

    # ---- users of the web app and API ----------------------------------------------------

    def add_user(self, key: str, role: str, team: str = "") -> User:
        who = self.principal
        return self._create("user", key, lambda: User.add(key, role, team, who))

    def set_password(self, key: str, password_hash: str) -> User:
        """Record the argon2id hash of a user's new password (never the password)."""
        who = self.principal
        return self._change(User, "user", key, lambda u: u.set_password(password_hash, who))

    def issue_token(self, key: str, token_id: str, token_hash: str) -> User:
        """Record a sign-in token of a user by its id and SHA-256 (never the token)."""
        who = self.principal
        return self._change(User, "user", key, lambda u: u.issue_token(token_id, token_hash, who))

    def revoke_token(self, key: str, token_id: str, reason: str | None) -> User:
        """Revoke one sign-in token of a user, by its id (okr token create says it)."""
        who = self.principal
        return self._change(User, "user", key,
                            lambda u: u.revoke_tokens([token_id], reason, who))

    def revoke_all_tokens(self, key: str, reason: str | None) -> User:
        """Revoke every live token of a user, in one event."""
        who = self.principal
        return self._change(User, "user", key, lambda u: u.revoke_tokens(
            [i for i in u.token_hashes if i not in u.revoked], reason, who))

    def disable_user(self, key: str, reason: str | None) -> User:
        """Lock a user out of the web app and API until enabled again."""
        who = self.principal
        return self._change(User, "user", key, lambda u: u.disable(reason, who))

    def enable_user(self, key: str, reason: str | None) -> User:
        """Let a disabled user sign in again (revoked tokens stay revoked)."""
        who = self.principal
        return self._change(User, "user", key, lambda u: u.enable(reason, who))


# The Python API's boundary: every public method refuses a wrong type or a datetime without a
# zone (DomainError, one line) before it runs (ledger/arguments.py).
check_public_methods(OkrLedger)
