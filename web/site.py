"""What the web app does with the ledger: sign-in, reads of the projection, writes through the
ledger service — the same ones the CLI uses, with the signed-in user as the actor."""

import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from okr.cli.context import State
from okr.domain.errors import NotFound
from okr.projections.kept import KeptReader
from okr.settings import Settings
from okr.web import own_writes, passwords, tokens
from okr.web.auth import Principal, Refused, check_may_check_in, check_may_export, load_secret
from okr.web.own_writes import OwnWrites
from okr.web.turns import Busy, Turns

if TYPE_CHECKING:
    from collections.abc import Sequence

    from okr.ledger.app import OkrLedger

T = TypeVar("T")

SIGNIN_FAILURES = 10  # failed sign-ins from one address within SIGNIN_WINDOW seconds …
SIGNIN_WINDOW = 60.0  # … and it must wait
FEED_PAGE = 50  # events on a page of the audit feed
READS_AT_ONCE = max(2, os.cpu_count() or 2)  # projection reads running at once (web/turns.py)
READ_WAIT = 20.0  # seconds a read waits for its turn at most, then 503 (clients give up at 30)


class _NotHeldYet(Exception):
    """The projection at hand does not hold the reading user's own writes yet."""


@dataclass(frozen=True)
class CheckIn:
    """A check-in as a person typed it, read and checked (value, confidence, back-date)."""

    value: float
    confidence: float | None
    note: str
    at: datetime | None
    on_behalf_of: str | None = None  # whom the signed-in user records it for, if anyone


class SharedLock:
    """Many readers at once, or one writer alone (no writer starves: a waiting writer stops
    new readers)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Site:
    """One ledger and one projection reader for the whole server.

    DuckDB lets a process hold a file either for writing or for reading, not both at once: a
    read that must first bring the projection up to date (no consumer runs) runs alone, reads
    of a projection another process keeps current run side by side (SharedLock).
    """

    def __init__(self, settings: Settings) -> None:
        self.state = State(_settings=settings)
        self.state.require_ledger()
        self.secret = load_secret(settings.home)
        passwords.prepare()  # the dummy hash, before the first sign-in rather than in it
        self._lock = SharedLock()
        self.turns = Turns(READS_AT_ONCE, READ_WAIT)
        self._kept = KeptReader(settings.projection_work_file)  # reads beside a consumer
        self._ledgers: dict[str, OkrLedger] = {}  # one per signed-in user: its principal
        self._ledgers_lock = threading.Lock()
        self._writers: dict[str, threading.RLock] = {}  # one write at a time per user
        self._writing = threading.local()  # this thread's depth in each user's write
        # Run before each write of a user (web/writes.py: settle their pending retries first).
        self.before_write: Callable[[Principal], None] = lambda who: None
        self.own_writes = OwnWrites()  # what each user's next read waits for (own_writes.py)
        self._probe = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._failures_lock = threading.Lock()
        self._failures_swept = float("-inf")  # when addresses past their window were dropped
        self._signed_out = SignedOut(settings.home / "web-signed-out.json")
        self._signed_out.at("")  # a damaged file: one line now, before anything is served

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def zone(self) -> str | None:
        """The zone times are typed and said in (OKR_TZ, else the server's)."""
        return self.settings.timezone

    def now(self) -> datetime:
        from okr.domain.base import utc_now
        return utc_now()

    def instants(self, as_of: str | None, known_at: str | None) -> tuple[datetime, datetime]:
        """The (valid, transaction) instants a view is read at, as `okr scorecard --as-of
        --known-at` reads them (a bare date: the end of that day); blank means now."""
        from okr.cli.times import view_instants
        return view_instants(as_of or None, known_at or None, self.zone)

    def in_view(self, read: Callable[[], T], as_of: str | None, known_at: str | None,
                a: datetime, k: datetime) -> T:
        """`read()`; in a past view (as_of or known_at given) its NotFound says which view —
        an item added later is not there yet (docs/web.md), on every page and in the API."""
        from okr.cli.answers import in_view
        return in_view(read, a, k, self.zone,
                       past=bool((as_of or "").strip() or (known_at or "").strip()))

    def close(self) -> None:
        self._kept.close()
        for ledger in self._ledgers.values():
            ledger.close()
        self._ledgers.clear()
        self.state.close()

    # ---- who --------------------------------------------------------------------------

    def principal(self, name: str, signed_in_at: float | None = None) -> Principal | None:
        """The user of that name as the ledger knows them now, or None — also while disabled,
        and when they signed in (`signed_in_at`, seconds since the epoch) before their
        credentials last changed: a new password, a token, a revocation, being disabled or
        enabled ends the sessions made before it. Read from the store on every request (the
        cached user is fast-forwarded by their new events), so what the CLI records in
        another process counts from this server's next request (docs/web.md)."""
        try:
            u = self.state.ledger.user(name)
        except NotFound:
            return None
        if u.disabled:
            return None
        if signed_in_at is not None and (
                signed_in_at < u.credentials_changed_at.timestamp()
                or signed_in_at <= self._signed_out.at(u.key)):
            return None
        return Principal(u.key, u.role, u.team)

    def sign_out(self, name: str) -> None:
        """End every session of this user made until now (kept in the data directory, so a
        copy of the cookie is no session afterwards, also for a server started later)."""
        self._signed_out.record(name)

    def authenticate(self, token: str) -> Principal | None:
        """The user a token belongs to, or None (malformed, unknown user, wrong secret, a
        revoked token, a disabled user)."""
        name = tokens.user_of(token)
        if name is None:
            return None
        try:
            u = self.state.ledger.user(name)
        except NotFound:
            return None
        except ValueError:  # a name that is not a valid key
            return None
        # Only live tokens: none of a disabled user, never a revoked one.
        return Principal(u.key, u.role, u.team) if tokens.matches(token, u.live_token_hashes) \
            else None

    def authenticate_password(self, name: str, password: str) -> Principal | None:
        """The user whose recorded argon2id hash the password matches, or None (unknown user,
        no password set, wrong password, a disabled user — each costs one argon2
        verification)."""
        try:
            u = self.state.ledger.user(name.strip())
        except (NotFound, ValueError):
            u = None
        ok = passwords.verify(password, None if u is None else u.password_hash)
        return Principal(u.key, u.role, u.team) if ok and u is not None and not u.disabled \
            else None

    def signin_admitted(self, address: str) -> bool:
        """Whether this address may try to sign in now; if so the attempt is counted as a
        failure at once — in the same step, so attempts at once cannot all slip past the
        limit — and taken back by signin_succeeded."""
        with self._failures_lock:
            now = time.monotonic()
            if now - self._failures_swept > SIGNIN_WINDOW:
                # Forget the addresses whose failures no longer count, once a window: the
                # count holds the addresses of the last two windows at most, not every
                # address ever seen (it did, for the server's life).
                self._failures = {a: d for a, d in self._failures.items()
                                  if d and now - d[-1] <= SIGNIN_WINDOW}
                self._failures_swept = now
            seen = self._failures.setdefault(address, deque())
            while seen and now - seen[0] > SIGNIN_WINDOW:
                seen.popleft()
            if len(seen) >= SIGNIN_FAILURES:
                return False
            seen.append(now)
            return True

    def signin_addresses_kept(self) -> int:
        """How many addresses the failed-sign-in count holds now."""
        with self._failures_lock:
            return len(self._failures)

    def signin_succeeded(self, address: str) -> None:
        """The admitted attempt was right: it does not count."""
        with self._failures_lock:
            seen = self._failures.get(address)
            if seen:
                seen.pop()
            if not seen:  # no failures kept for an address that signed in
                self._failures.pop(address, None)

    # ---- reads ------------------------------------------------------------------------

    def read(self, fn: "Callable[[Any], T]") -> T:
        """Run `fn` on the projection opened read-only.

        When another process owns the projection (`okr up`, `okr consume`) it keeps it
        current: reads open it side by side, as any reader does. Otherwise a read first brings
        it up to date (the CLI's own read path: publish, then consume to the tail) — alone,
        since that opens the file for writing in this process. Reads take turns, a few at
        once and first come first served (web/turns.py; Busy after READ_WAIT seconds).
        A signed-in user's read is served only by a projection that holds what they wrote
        through this server (web/own_writes.py): it waits for one, outside any turn, and is
        Busy after own_writes.WAIT seconds.
        """
        user = own_writes.reader()
        deadline = time.monotonic() + own_writes.WAIT
        while True:
            awaited = self._await_own_writes(user, deadline)
            with suppress(_NotHeldYet), self.turns.turn():
                return self._read(fn, user, awaited)
            self._wait_a_little(deadline)  # the projection at hand lacked them (the snapshot)

    def reading_as(self, who: Principal | None) -> None:
        """The signed-in user this request reads for: their reads wait for their own writes
        (web/own_writes.py)."""
        own_writes.reading_as(None if who is None else who.name)

    def _await_own_writes(self, user: str | None, deadline: float) -> list[int]:
        """Beside a consumer, wait (outside any turn) until the work file it keeps holds what
        this request's user wrote through this server; Busy at `deadline`. The positions to
        check on the projection that serves the read (forgotten only there)."""
        if user is None:
            return []
        while awaited := self.own_writes.awaited(user):
            held = self._held(awaited)
            if held is None or held >= set(awaited):  # None: the read brings it up to date
                return awaited
            self._wait_a_little(deadline)
        return []

    @staticmethod
    def _wait_a_little(deadline: float) -> None:
        """Look again in own_writes.LOOK_EVERY seconds; Busy once past `deadline`."""
        if time.monotonic() >= deadline:
            raise Busy(f"your last write is not readable yet: the projection's consumer "
                       f"has not applied it within {own_writes.WAIT:g} s; try again in "
                       f"{Busy.retry_after} s")
        time.sleep(own_writes.LOOK_EVERY)

    def _held(self, positions: "Sequence[int]") -> set[int] | None:
        """Which of these positions the work file a consumer keeps holds now (none while its
        writer holds the file past the kept reader's wait); None when no consumer runs."""
        with self._lock.shared():
            if not self._consumer_elsewhere() or not self.settings.projection_work_file.exists():
                return None
            with self._kept.reading() as kept:
                if kept is None:
                    return set()
                return kept.positions_held(positions)

    def _serve(self, proj: Any, fn: "Callable[[Any], T]", user: str | None,
               awaited: list[int], snapshot: bool = False) -> T:
        """`fn` on `proj` if it holds every awaited position of `user` (then forgotten for
        it: own_writes.OwnWrites.seen), else _NotHeldYet."""
        if user is not None and awaited:
            held = proj.positions_held(awaited)
            if not held >= set(awaited):
                raise _NotHeldYet
            self.own_writes.seen(user, held, snapshot=snapshot)
        return fn(proj)

    def _read(self, fn: "Callable[[Any], T]", user: str | None, awaited: list[int]) -> T:
        from okr.cli.reads import open_projection
        from okr.projections.access import open_for_reading

        with self._lock.shared():
            if self._consumer_elsewhere():
                if self.settings.projection_work_file.exists():
                    with self._kept.reading() as kept:
                        if kept is not None:
                            return self._serve(kept, fn, user, awaited)
                # the writer held the work file past the wait: the work file if it has just
                # let go, else the last snapshot — which serves only if it holds the user's
                # writes, also those a read already saw in the work file
                proj = open_for_reading(self.settings, wait=0.0)
                if proj is not None:
                    with proj:
                        snapshot = Path(proj.path) == Path(self.settings.duckdb_file)
                        wanted = (self.own_writes.for_snapshot(user)
                                  if snapshot and user is not None else awaited)
                        return self._serve(proj, fn, user, wanted, snapshot=snapshot)
        with self._lock.exclusive():
            self._kept.close()  # this process is about to open the file for writing
            with open_projection(self.state) as proj:  # up to date: holds the user's writes
                if user is not None and awaited:
                    self.own_writes.seen(user, set(awaited))
                return fn(proj)

    def _consumer_elsewhere(self) -> bool:
        """Whether another process owns the projection now (this process takes its writer
        lock only inside an exclusive read, never while shared reads run)."""
        from okr.projections.access import consumer_running

        with self._probe:
            return consumer_running(self.settings)

    def scorecard(self, as_of: datetime, known_at: datetime, cycle: str | None = None,
                  team: str | None = None, owner: str | None = None) -> list[dict[str, Any]]:
        """The objectives of that cycle, team and owner (None: any), filtered in the SQL;
        NotFound for a cycle not there (as `okr scorecard --cycle`), none for a team or owner
        nothing has."""
        from okr.cli.answers import known_cycle_key
        return self.read(lambda p: p.scorecard_at(
            as_of, known_at, cycle=known_cycle_key(p, cycle, as_of, known_at), team=team,
            owner=owner))

    def scorecard_page(self, as_of: datetime, known_at: datetime, cycle: str | None,
                       team: str | None, owner: str | None
                       ) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        """(the objectives of that cycle, team and owner — None: any —, filtered and scored
        in the SQL; the cycles, teams and owners to choose from, unscored), in one read;
        NotFound for a cycle not there. A team or owner as a browser sent it back names the
        stored one (views.as_stored)."""
        from okr.cli.answers import known_cycle_key
        from okr.web.views import as_stored

        def get(p: Any) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
            choices = p.scorecard_choices(as_of, known_at)
            return p.scorecard_at(
                as_of, known_at, cycle=known_cycle_key(p, cycle, as_of, known_at),
                team=as_stored(team, choices["teams"]),
                owner=as_stored(owner, choices["owners"])), choices
        return self.read(get)

    def key_result(self, key: str, as_of: datetime, known_at: datetime
                   ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]],
                              list[dict[str, Any]]]:
        """(objective card, key-result card, revisions, check-ins) of one key result, or
        NotFound."""
        v = self.key_result_view(key, as_of, known_at, reviewed=False)
        return v.card, v.kr, v.revisions, v.check_ins

    def key_result_view(self, key: str, as_of: datetime, known_at: datetime,
                        reviewed: bool = True) -> "KrView":
        """One key result at (as_of, known_at), and — `reviewed` — the review of its cycle
        built from its own facts (its chart and initiatives), all in one read; NotFound."""
        from okr.cli.reviews import cycle_zone, review_of

        def get(p: Any) -> tuple[Any, tuple[Any, Any], Any]:
            found = p.key_result_at(key, as_of, known_at)
            facts = p.review_facts(found[0]["cycle"], as_of, known_at, key) \
                if reviewed and found is not None else None
            return found, p.key_result_history(key), facts

        found, (revisions, check_ins), facts = self.read(get)
        if found is None:
            raise NotFound(f"key result {key!r} not found")
        check_ins = [c for c in check_ins  # what was known then, in force by then
                     if c["recorded_at"] <= known_at and c["effective_at"] <= as_of]
        review = None if facts is None else review_of(
            lambda *_: facts, found[0]["cycle"], as_of, known_at,
            [c["effective_at"] for c in check_ins])
        return KrView(found[0], found[1], revisions, check_ins, review,
                      cycle_zone(facts or [], found[0]["cycle"]))

    # ---- writes -----------------------------------------------------------------------

    def kr_team(self, key: str) -> str:
        ledger = self.state.ledger
        return ledger.objective(ledger.key_result(key).objective).team

    def ledger_of(self, who: Principal) -> "OkrLedger":
        """The ledger service opened for this signed-in user: every write through it is
        recorded under `who.actor` (OkrLedger's principal, for trusted server components —
        docs/architecture.md), never under a name the request carries."""
        from okr.ledger.app import OkrLedger

        with self._ledgers_lock:
            ledger = self._ledgers.get(who.actor)
            if ledger is None:
                ledger = OkrLedger(self.settings, principal=who.actor)
                self._ledgers[who.actor] = ledger
            return ledger

    @contextmanager
    def writing(self, who: Principal) -> "Iterator[OkrLedger]":
        """The user's ledger, for their writes one at a time: what they record between two
        positions is then one request's (web/writes.py answers and settles retries by it)."""
        with self._ledgers_lock:
            lock = self._writers.setdefault(who.name, threading.RLock())
        with lock:
            depth = getattr(self._writing, who.name, 0)
            if not depth:
                self.before_write(who)
            ledger = self.ledger_of(who)
            before = 0 if depth else ledger.recorder.max_notification_id() or 0
            setattr(self._writing, who.name, depth + 1)
            try:
                yield ledger
            finally:
                setattr(self._writing, who.name, depth)
                if not depth:  # the user's next read waits for what this write recorded
                    self.own_writes.recorded(who.name, ledger, before)

    def may_check_in(self, who: Principal, key: str) -> bool:
        try:
            check_may_check_in(who, key, self.kr_team(key))
        except Refused:
            return False
        return True

    def typed_check_in(self, value: str, confidence: str, note: str, at: str,
                       on_behalf_of: str | None = None) -> CheckIn:
        """A check-in from a form's text, as the CLI reads `okr checkin` (BadInput if not);
        `on_behalf_of` as `--on-behalf-of` takes it (None or, from a form, empty: nobody)."""
        from okr.cli.errors import UserError
        from okr.cli.times import parse_when
        from okr.cli.writes import number
        from okr.domain.base import check_on_behalf_of

        if not value.strip():
            raise UserError("value is required")
        conf = number(confidence, "confidence") if confidence.strip() else None
        if conf is not None and not 0 <= conf <= 1:
            raise UserError(f"confidence {confidence} must be between 0 and 1")
        return CheckIn(number(value, "value"), conf, note,
                       parse_when(at, self.zone) if at.strip() else None,
                       check_on_behalf_of(on_behalf_of))

    def check_in(self, who: Principal, key: str, c: CheckIn) -> dict[str, Any]:
        """Record a check-in as `who` (refused unless their role allows it on this key
        result); what was recorded."""
        check_may_check_in(who, key, self.kr_team(key))
        # the actor stays the signed-in user; the name they gave goes beside it
        with self.writing(who) as ledger, ledger.acting_for(c.on_behalf_of):
            kr = ledger.check_in(key, c.value, c.confidence, c.note, c.at, source="web")
        last = kr.last_check_in
        assert last is not None  # the check-in just recorded
        return {"key": kr.key, "value": last["value"], "confidence": last["confidence"],
                "note": last["note"], "effective_at": last["effective_at"],
                "recorded_at": last["recorded_at"], "actor": who.actor,
                "on_behalf_of": c.on_behalf_of, "source": "web"}

    # ---- time travel and audit ----------------------------------------------------------

    def restatement(self, at: datetime, now: datetime) -> "Restatement":
        """Each objective and key result as the ledger believed it at `at` (as of `at`, known
        at `at`) and as it knows `at` now (as of `at`, known at `now`), compared as `okr
        review --compare-known-at` compares (domain.review.restatements)."""
        def both(p: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return p.scorecard_at(at, at), p.scorecard_at(at, now)

        then, later = self.read(both)
        return restate(then, later)

    def trail(self, key: str) -> list[dict[str, Any]]:
        """Every event of the item(s) with this key, oldest first, with the fields each
        changed (what `okr audit trail KEY` lists) — from their own facts only (a fact
        changes its own item: domain.history.APPLY)."""
        from okr.domain.trail import trail_rows

        facts = self.read(lambda p: p.facts_of(p.aggregates_of(key)))
        if not facts:
            raise NotFound(f"nothing with key {key!r} in the ledger")
        return trail_rows(facts, lambda f: True)

    def audit_feed(self, before: int | None, kind: str | None, actor: str | None,
                   limit: int = FEED_PAGE) -> "Feed":
        """The latest events across all items (newest first, before position `before`), of
        one kind of item and one actor when given, each with the fields it changed (worked
        out from the facts of the items on the page alone, up to the newest of them)."""
        from okr.domain.trail import trail_rows

        def get(p: Any) -> tuple[list[tuple[int, str, str | None]], list[str], list[Any]]:
            page = p.audit_page(before if before is not None else 2 ** 62, limit + 1, kind,
                                actor)
            shown = page[:limit]
            facts = p.facts_of({agg for _, agg, _ in shown}, shown[0][0]) if shown else []
            return page, p.actors(), facts

        page, actors, facts = self.read(get)
        shown = {pos for pos, _, _ in page[:limit]}
        rows = trail_rows(facts, lambda f: f.position in shown)
        return Feed(rows[::-1], page[limit - 1][0] if len(page) > limit else None, actors)

    # ---- pages of one item ------------------------------------------------------------

    def objective(self, key: str, as_of: datetime, known_at: datetime) -> dict[str, Any]:
        """One objective as the scorecard has it at (as_of, known_at), with its parent, the
        objectives aligned under it and the initiatives on its key results."""
        def get(p: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return p.scorecard_at(as_of, known_at), p.listing_at("initiatives", as_of,
                                                                 known_at)

        from okr.domain.rollup import left_out

        cards, initiatives = self.read(get)
        by_key = {c["key"]: c for c in cards}
        if key not in by_key:
            raise NotFound(f"objective {key!r} not found")
        card = by_key[key]
        aligned = [c for c in cards if c["parent"] == key]
        # Its roll-up counts its own cycle's children only; one of another cycle (a copy
        # carried into the next quarter) is listed apart (docs/scoring.md, "Roll-ups"); of
        # its own cycle's, each says why it is left out of the roll-up, if it is.
        return {"card": card, "parent": by_key.get(card["parent"] or ""),
                "children": [{**c, "left_out": left_out(c)} for c in aligned
                             if c["cycle"] == card["cycle"]],
                "elsewhere": [c for c in aligned if c["cycle"] != card["cycle"]],
                "initiatives": [i for i in initiatives if i["objective"] == key]}

    def kpi(self, key: str, as_of: datetime, known_at: datetime) -> dict[str, Any]:
        """One KPI at (as_of, known_at): its row as `okr list kpis` has it, its readings known
        then and observed by then, and the key results linked to it."""
        def get(p: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                 list[dict[str, Any]]]:
            return (p.listing_at("kpis", as_of, known_at), p.kpi_history(key),
                    p.scorecard_at(as_of, known_at))

        kpis, readings, cards = self.read(get)
        row = next((k for k in kpis if k["key"] == key), None)
        if row is None:
            raise NotFound(f"KPI {key!r} not found")
        return {"kpi": row,
                "readings": [r for r in readings
                             if r["recorded_at"] <= known_at and r["observed_at"] <= as_of],
                "linked": [{"objective": c, "kr": kr} for c in cards for kr in c["key_results"]
                           if kr["kpi"] == key]}

    def initiative(self, key: str, as_of: datetime, known_at: datetime) -> dict[str, Any]:
        """One initiative at (as_of, known_at) and the key result it works on."""
        def get(p: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            row = next((i for i in p.listing_at("initiatives", as_of, known_at)
                        if i["key"] == key), None)
            found = None if row is None else p.key_result_at(row["key_result"], as_of,
                                                             known_at)
            return row, None if found is None else found[1]

        row, kr = self.read(get)
        if row is None:
            raise NotFound(f"initiative {key!r} not found")
        return {"initiative": row, "kr": kr}

    def cycles(self, as_of: datetime, known_at: datetime) -> list[dict[str, Any]]:
        """The cycles at (as_of, known_at), as `okr list cycles` has them."""
        return self.read(lambda p: p.listing_at("cycles", as_of, known_at))

    def review(self, cycle: str, as_of: datetime, known_at: datetime,
               also: "Sequence[datetime]" = ()) -> dict[str, Any]:
        """`okr review CYCLE --as-of --known-at`: the same model, read from the same facts."""
        return self.zoned_review(cycle, as_of, known_at, also)[0]

    def zoned_review(self, cycle: str, as_of: datetime, known_at: datetime,
                     also: "Sequence[datetime]" = ()) -> tuple[dict[str, Any], str]:
        """`review`, and the cycle's zone: the one its days are said in."""
        from okr.cli.reviews import zoned_review

        return zoned_review(lambda key, a, k: self.read(lambda p: p.review_facts(key, a, k)),
                            cycle, as_of, known_at, also)

    def bundle(self, who: Principal, cycle: str) -> tuple[str, bytes]:
        """`okr audit export --cycle CYCLE` as a .tar.gz of its folder (auditors and admins
        only): the file name and its bytes."""
        import io
        import re
        import tarfile
        import tempfile
        from pathlib import Path

        from okr.cli.bundles import export_bundle
        from okr.domain.periods import canonical_cycle_key

        check_may_export(who)
        name = "okr-bundle-" + re.sub(r"[^A-Za-z0-9._-]", "_", canonical_cycle_key(cycle))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / name
            export_bundle(self.state, cycle, folder, True)
            out = io.BytesIO()
            with tarfile.open(fileobj=out, mode="w:gz") as tar:
                tar.add(folder, arcname=name)
        return f"{name}.tar.gz", out.getvalue()

    def verify(self) -> dict[str, Any]:
        """`okr audit verify`'s verdict: the log in Kafka against its chain, its signed
        checkpoints and the event store — after publishing what waits when no relay runs."""
        from okr.cli.errors import UserError
        from okr.cli.log import read_checkpoints, read_log
        from okr.record.envelope import chained
        from okr.record.signing import existing_public_key_pem, verifier
        from okr.record.verify import verify

        st = self.state
        if st.settings.inline_publish:
            from okr.cli.publish import after_write_unless_relaying

            # No relay runs beside `okr serve` alone: what this server recorded waits in the
            # store until a read publishes it (Site.read). Publish it first, as a read does;
            # alone, like a read that brings the projection up to date.
            with self._lock.exclusive():
                after_write_unless_relaying(st)
        pem = existing_public_key_pem(st.settings.signing_key_file)
        if pem is None:
            raise UserError(f"no signing key at {st.settings.signing_key_file} yet: the relay "
                            "makes it when it first publishes")
        records = read_log(st, True)
        verdict = verify(records, list(chained(st.ledger)), read_checkpoints(st), verifier(pem))
        first = verdict.first()
        return {**verdict.as_dict(), "first_line": None if first is None else first.line(),
                "topic": st.settings.topic_ledger}


@dataclass(frozen=True)
class KrView:
    """A key result's page: its objective's card, its card, revisions, check-ins known then
    and in force by then, and the review of its cycle from its own facts (or None)."""

    card: dict[str, Any]
    kr: dict[str, Any]
    revisions: list[dict[str, Any]]
    check_ins: list[dict[str, Any]]
    review: dict[str, Any] | None
    zone: str = "UTC"  # the cycle's: the zone its review's days are said in


@dataclass(frozen=True)
class Feed:
    """A page of the audit feed: its rows (newest first), the position the next page starts
    before (None on the last page), and every actor on the record (for the filter)."""

    rows: list[dict[str, Any]]
    next_before: int | None
    actors: list[str]


@dataclass(frozen=True)
class RestatedObjective:
    """One objective then and now: the fields a restatement compares (parent, roll-up,
    score, success); `changed` names those restated."""

    key: str
    title: str
    then: dict[str, Any] | None
    now: dict[str, Any] | None
    changed: frozenset[str]


@dataclass(frozen=True)
class Restated(RestatedObjective):
    """One key result then and now (its cards), and `objective`, the one it is under now
    (then, if it is gone): a moved one says both in `then` and `now` and `objective` in
    `changed`."""

    objective: str


@dataclass(frozen=True)
class Restatement:
    """Two scorecards of one instant side by side, in the order of the later one, and the
    restatements between them as `okr review --compare-known-at` lists them."""

    key_results: list[Restated]
    objectives: list[RestatedObjective]
    changes: list[dict[str, Any]]


def restate(then: list[dict[str, Any]], now: list[dict[str, Any]]) -> Restatement:
    """The scorecards `then` and `now` compared by the review's rule (one rule: a field
    restated here is one `okr review --compare-known-at` lists)."""
    from okr.domain.review import restated_items, restatements

    changes = restatements({"objectives": then}, {"objectives": now})
    changed: dict[tuple[str, str], set[str]] = defaultdict(set)
    for change in changes:
        changed[change["kind"], change["key"]].add(change["field"])

    def krs(cards: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {kr["key"]: (c["key"], kr) for c in cards for kr in c["key_results"]}

    a, b = krs(then), krs(now)
    rows = []
    for key in [*b, *(k for k in a if k not in b)]:
        obj, kr = b.get(key) or a[key]
        rows.append(Restated(key, kr.get("title", ""), a.get(key, (obj, None))[1],
                             b.get(key, (obj, None))[1], frozenset(changed["key_result", key]),
                             objective=obj))
    titles = {c["key"]: c["title"] for c in [*then, *now]}
    before, after = restated_items(then), restated_items(now)
    objectives = [RestatedObjective(key, titles[key], before.get(("objective", key)),
                                    after.get(("objective", key)),
                                    frozenset(changed["objective", key]))
                  for key in dict.fromkeys([c["key"] for c in now] + [c["key"] for c in then])]
    return Restatement(rows, objectives, changes)


class SignedOut:
    """When each user last signed out, kept in a file of the data directory (0600, replaced
    whole): their sessions made until then are no sessions. Only sign-outs within the last
    SESSION_SECONDS are kept (an older one ends no session still valid), so the file holds
    one line a user at most; it is read again when it changed (another server over the same
    data directory signed someone out)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._at: dict[str, float] = {}
        self._read = False  # read once (when the server started)

    def at(self, name: str) -> float:
        """When `name` last signed out (seconds since the epoch), or -inf."""
        with self._lock:
            self._refresh()
            return self._at.get(name, float("-inf"))

    def record(self, name: str) -> None:
        """Record that `name` signed out now: read, changed and written back under the data
        directory's lock for this file, so another server signing someone out at once keeps
        theirs (a damaged file is written anew, whole)."""
        import math

        from okr.files import update_private_json
        from okr.web.auth import SESSION_SECONDS

        def signed_out(doc: dict[str, Any]) -> dict[str, Any]:
            now = time.time()
            at = _sign_out_times(doc)
            # to the millisecond, as a session says when it was made: those made until now end
            at[name] = math.floor(now * 1000) / 1000
            return {k: v for k, v in at.items() if v > now - SESSION_SECONDS}

        with self._lock:
            self._at = update_private_json(self.path, signed_out)
            self._seen, self._read = None, True  # read back what was written, with its stat

    def _refresh(self) -> None:
        import json

        from okr.errors import DataDirUnavailable

        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen, self._at, self._read = None, {}, True
            return
        if self._seen == (st.st_mtime_ns, st.st_ino):
            return
        try:
            at = _sign_out_times(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, AttributeError, UnicodeDecodeError) as exc:
            if self._read:  # damaged while serving: keep what was read last
                return
            raise DataDirUnavailable(f"the web server's {self.path.name} at {self.path} cannot "
                                     f"be read ({type(exc).__name__}): it was edited outside "
                                     "okr; remove it and a sign-out made before is "
                                     "forgotten") from None
        self._seen, self._at, self._read = (st.st_mtime_ns, st.st_ino), at, True


def _sign_out_times(doc: dict[str, Any]) -> dict[str, float]:
    """user → when they signed out, of what a sign-out file holds (what is no time is left
    out); AttributeError when it holds no object."""
    import math
    return {str(k): float(v) for k, v in doc.items()
            if isinstance(v, int | float) and math.isfinite(v)}
