"""The DuckDB projection (DuckDB's engine is imported here, through engine.py, and by readonly.py,
the `okr sql` guard).

`Projection.apply` loads one batch of envelopes (through Arrow) and, in the same transaction,
the derived rows and the consumed offsets: a batch is in the tables with its offsets or not at
all. Duplicates — the same (aggregate id, version) again — change nothing.

Version tables are rebuilt, per touched aggregate, from the `events` table with window
functions, so they are a pure function of the events and cannot drift from them.
"""

import json
import operator
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from okr.collector import paused
from okr.domain.events import CREATED, MEASUREMENTS
from okr.domain.history import Fact
from okr.domain.periods import week_starts
from okr.errors import ProjectionUnavailable
from okr.projections import engine
from okr.projections.errors import ProjectionLocked, QueryFailed
from okr.projections.lock_watch import raise_flag, wait_for_lock
from okr.projections.queries import (
    AGGREGATES_OF_KEY,
    AUDIT_ACTORS,
    AUDIT_FEED,
    CARRIED_FROM,
    DUE_KEY_RESULTS,
    DUE_KPIS,
    KEY_RESULT_PLACE,
    KPI_READINGS,
    KR_CHECK_INS,
    KR_REVISIONS,
    LIST_CYCLES,
    LIST_INITIATIVES,
    LIST_KPIS,
    PIT_CYCLE_VERSIONS,
    PIT_KEY_RESULT_INPUTS,
    PIT_KEY_RESULT_PLANS,
    PIT_KEY_RESULTS,
    PIT_OBJECTIVE_VERSIONS,
    REVIEW_ITEMS,
    REVIEW_ITEMS_OF_KR,
    REVIEW_READINGS,
    SCORECARD_CHOICES,
)
from okr.projections.tables import (
    EXPORT_SQL,
    EXPORTS,
    SCHEMA_VERSION,
    VERSIONED,
    ddl,
    rebuild,
    setup_digest,
    sql_file,
    version_comments,
)

if TYPE_CHECKING:
    from okr.projections.readonly import Answer

# DuckDB's memory for the projection's writer: past it, DuckDB spills to disk (or reads the
# file again) instead of growing with the history. Once a load's duplicate check stopped
# hashing every stored event (`_load`), what a load needs no longer grows with the file: the
# full history (970,327 events) projects within 48 MB: `okr consume --once` over it peaked at
# 287 MB in 82.7 s with 48 MB, 303 MB in 84.0 s with 64 MB (quiet machine, 2026-12-03), and
# ~420 MB with 192 MB before (issue 20, docs/benchmarks.md).
MEMORY_LIMIT = "48MB"
# Seconds a writer refused by readers waits before raising its waiting flag again, while it
# could not (lock_watch.raise_flag gave None).
FLAG_RETRY = 0.05
_MICROSECOND = timedelta(microseconds=1)  # "up to and including" as "before one more"


# The envelope's fields as DuckDB reads them out of the record (one JSON parse per record).
_ENVELOPE = json.dumps({
    "position": "BIGINT", "event_id": "VARCHAR", "type": "VARCHAR", "aggregate_type": "VARCHAR",
    "aggregate_id": "VARCHAR", "version": "INTEGER", "recorded_at": "VARCHAR",
    "effective_at": "VARCHAR", "actor": "VARCHAR", "on_behalf_of": "VARCHAR",
    "reason": "VARCHAR", "data": "JSON",
    "prev_hash": "VARCHAR", "hash": "VARCHAR"})
_CREATED = ", ".join(f"'{t}'" for t in sorted(CREATED))
_MEASURED = ", ".join(f"'{t}'" for t in MEASUREMENTS)


@dataclass(frozen=True)
class ConsumedRecord:
    """A validated envelope's record bytes and where it was read."""

    value: bytes
    partition: int
    offset: int


__all__ = ["ConsumedRecord", "Projection", "ProjectionLocked"]


@contextmanager
def _file_errors() -> Iterator[None]:
    """DuckDB's I/O failures while writing (a damaged file, no permission, a full disk) as
    ProjectionUnavailable with DuckDB's line; its error is the cause."""
    try:
        yield
    except engine.IOException as exc:
        raise ProjectionUnavailable(
            f"the DuckDB projection cannot be opened or written ({_io_line(exc)}); check the "
            "data directory's permissions and free space, then try again") from exc


class Projection:
    """One DuckDB file of projections, open read-write (the consumer) or read-only (readers).

    DuckDB lets one process open a file read-write *or* many open it read-only. So the writer
    holds its connection only while it has work (`release()` when idle), and opening retries
    for `wait` seconds while someone else holds the file.
    """

    def __init__(self, path: Path | str, read_only: bool = False, wait: float = 60.0,
                 memory_limit: str | None = None) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.wait = wait  # also for each reopen after release()
        self.memory_limit = memory_limit
        self._con: engine.DuckDBPyConnection | None = None
        # What this connection has read of the version tables for scorecard_at (`_memo`): a
        # read-only connection's file cannot change while it is open (DuckDB lets nobody write
        # it meanwhile), and this one's writes (`apply`) and letting go of it start a new one.
        self._memo: dict[str, Any] = {}
        self._ready = read_only
        if not read_only and self.path != ":memory:":
            Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.connect()

    @property
    def con(self) -> engine.DuckDBPyConnection:
        if self._con is None:
            self.connect()
        assert self._con is not None
        return self._con

    def connect(self) -> None:
        """Open the file, retrying for `wait` seconds while another process holds a
        conflicting lock (then ProjectionLocked)."""
        deadline = time.monotonic() + self.wait
        config: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": self.memory_limit} if self.memory_limit else {})
        flag: int | None = None  # a writer refused by readers says it waits (kept.py)
        try:
            while True:
                try:
                    con = engine.connect(self.path, read_only=self.read_only, config=config)
                    break
                except engine.IOException as exc:
                    if "lock" not in str(exc):  # no permission, a missing directory, damaged
                        raise ProjectionUnavailable(
                            f"the DuckDB projection cannot be opened ({_io_line(exc)}); check "
                            "the data directory's permissions and free space") from exc
                    if time.monotonic() >= deadline:
                        raise ProjectionLocked(str(exc).splitlines()[0]) from None
                    if flag is None and not self.read_only:
                        flag = raise_flag(self.path)
                    # A writer whose flag is not up yet (a reader was looking at it that very
                    # moment) waits a little and raises it again: readers that keep the file
                    # open let go only for the flag.
                    wait_for_lock(self.path, self.read_only, deadline if flag is not None
                                  or self.read_only else min(deadline, time.monotonic()
                                                              + FLAG_RETRY))
        finally:
            if flag is not None:
                os.close(flag)  # lowers the flag
        con.execute("SET TimeZone = 'UTC'")
        if not self.read_only:
            # Fewer automatic checkpoints while a backlog is loaded; the writer checkpoints
            # when it lets go of the file, so readers never replay a long WAL.
            con.execute("SET checkpoint_threshold = '256MB'")
        self._con = con
        if not self._ready:
            self._setup()
            self._ready = True

    @contextmanager
    def cursor(self) -> Iterator["Projection"]:
        """This read-only projection through a cursor of its connection: one thread's reads,
        beside other threads' (projections/kept.py)."""
        view = object.__new__(Projection)
        view.path, view.read_only, view.wait, view.memory_limit = self.path, True, 0.0, None
        view._ready = True
        view._con = self.con.cursor()
        view._memo = self._memo  # the same connection, so the same file
        try:
            view._con.execute("SET TimeZone = 'UTC'")
            yield view
        finally:
            view.release()

    def release(self) -> None:
        """Close the connection, letting readers open the file; the next use reopens it."""
        if self._con is not None:
            self._con.close()
            self._con = None
        self._memo = {}  # the file may change before the next connection

    def close(self) -> None:
        self.release()

    def __enter__(self) -> "Projection":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- schema ------------------------------------------------------------------------

    def _setup(self) -> None:
        """Create or update tables and macros, unless this very code already did (the common
        case: opening the file to write a batch must not rewrite the catalog each time)."""
        c = self.con
        try:
            row = c.execute("SELECT schema_version, digest FROM projection_meta").fetchone()
        except engine.Error:  # a new file, or one set up before the digest was kept
            row = None
        if row == (SCHEMA_VERSION, setup_digest()):
            return
        tables = c.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events'"
                           ).fetchone()
        if (row is not None and row[0] != SCHEMA_VERSION) or (row is None and tables != (0,)):
            self._drop_all()  # an older layout: rebuilt from Kafka from offset 0
        c.execute(sql_file("schema.sql"))
        for v in VERSIONED:
            c.execute(ddl(v))
        c.execute(sql_file("macros.sql"))
        # Derived from kpi_readings and the cycles: filled afresh by the code that reads it.
        c.execute("DELETE FROM kpi_readings_at_ends;" + _NEAR_ENDS.format(
            readings="kpi_readings", ends='SELECT DISTINCT "end" FROM cycle_versions'))
        c.execute("CREATE OR REPLACE TABLE projection_meta (schema_version INTEGER, "
                  "digest VARCHAR)")
        c.execute(sql_file("comments.sql"))
        for v in VERSIONED:
            c.execute(version_comments(v))
        c.execute("INSERT INTO projection_meta VALUES (?, ?)",
                  [SCHEMA_VERSION, setup_digest()])

    def set_up_by_this_code(self) -> bool:
        """Whether this code's tables and macros are the file's (else a writer must set the
        file up again, or rebuild it, before it is read)."""
        try:
            row = self.con.execute("SELECT schema_version, digest FROM projection_meta"
                                   ).fetchone()
        except engine.Error:
            return False
        return row == (SCHEMA_VERSION, setup_digest())

    def _drop_all(self) -> None:
        for (name,) in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall():
            self.con.execute(f'DROP TABLE "{name}"')

    # ---- writing -----------------------------------------------------------------------

    def offsets(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition, as committed with the rows."""
        return dict(self.con.execute(
            "SELECT partition, next_offset FROM consumer_offsets WHERE topic = ?",
            [topic]).fetchall())

    def dead_lettered(self, topic: str) -> dict[int, set[int]]:
        """The offsets per partition of the records sent to the dead-letter topic at or past
        the stored next offset, as committed with the rows."""
        out: dict[int, set[int]] = {}
        for partition, offset in self.con.execute(
                "SELECT partition, kafka_offset FROM consumer_dead_letters WHERE topic = ?",
                [topic]).fetchall():
            out.setdefault(partition, set()).add(offset)
        return out

    def apply(self, topic: str, batch: Sequence[ConsumedRecord], offsets: dict[int, int],
              dead_lettered: dict[int, list[int]] | None = None) -> int:
        """Load a batch and the next offsets in one transaction; returns new events stored.
        `dead_lettered` (when given) replaces the topic's dead-lettered offsets."""
        c = self.con
        with _file_errors():
            c.execute("BEGIN TRANSACTION")
            try:
                added = self._load(batch) if batch else 0
                if offsets:
                    c.execute("INSERT INTO consumer_offsets SELECT ?, unnest(?), unnest(?), "
                              "now() ON CONFLICT (topic, partition) DO UPDATE SET next_offset = "
                              "excluded.next_offset, updated_at = excluded.updated_at",
                              [topic, list(offsets), list(offsets.values())])
                if dead_lettered is not None:
                    c.execute("DELETE FROM consumer_dead_letters WHERE topic = ?", [topic])
                    marks = [(p, o) for p, os_ in dead_lettered.items() for o in os_]
                    if marks:
                        c.execute("INSERT INTO consumer_dead_letters SELECT ?, unnest(?), "
                                  "unnest(?)", [topic, [p for p, _ in marks],
                                                [o for _, o in marks]])
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        if added:
            self._memo = {}
        return added

    def _load(self, batch: Sequence[ConsumedRecord]) -> int:
        c = self.con
        # Handed over as three list parameters, not an Arrow table: importing pyarrow alone
        # added ~35 MB to the consumer's resident set, for no gain in speed (measured).
        c.execute("CREATE OR REPLACE TEMP TABLE incoming AS SELECT unnest(?::VARCHAR[]) AS value,"
                  " unnest(?::INTEGER[]) AS kafka_partition, unnest(?::BIGINT[]) AS kafka_offset",
                  [[item.value.decode("utf-8") for item in batch],
                   [item.partition for item in batch], [item.offset for item in batch]])
        c.execute(f"""
            CREATE OR REPLACE TEMP TABLE new_events AS
            SELECT * FROM (
                SELECT e.position, e.event_id, e.type, e.aggregate_type, e.aggregate_id,
                       e.version, e.recorded_at::TIMESTAMPTZ AS recorded_at,
                       e.effective_at::TIMESTAMPTZ AS effective_at, e.actor, e.on_behalf_of,
                       e.reason, e.data,
                       e.prev_hash, e.hash, kafka_partition, kafka_offset
                FROM (SELECT from_json(value, '{_ENVELOPE}') AS e, kafka_partition,
                             kafka_offset FROM incoming)
                QUALIFY row_number() OVER (PARTITION BY e.aggregate_id, e.version
                                           ORDER BY kafka_partition, kafka_offset) = 1)
        """)
        c.execute("DROP TABLE incoming")
        # Drop what is stored already. An inner join finds it: DuckDB builds its hash table on
        # the batch (thousands of rows) and streams the events past it. The anti-join this
        # replaces (NOT EXISTS) built one over every stored event, in every batch: DuckDB's
        # memory grew with the history (at a 96 MB limit it ran out at 620,000 events).
        c.execute("DELETE FROM new_events WHERE (aggregate_id, version) IN ("
                  "SELECT e.aggregate_id, e.version FROM events e "
                  "JOIN new_events b ON e.aggregate_id = b.aggregate_id AND e.version = b.version)")
        added = _scalar(c.execute("SELECT count(*) FROM new_events"))
        if not added:
            return 0
        c.execute(f"""
            INSERT INTO events BY NAME SELECT * FROM new_events ORDER BY position;
            INSERT INTO aggregates SELECT aggregate_id, aggregate_type, data->>'key'
                FROM new_events WHERE type IN ({_CREATED}) ON CONFLICT DO NOTHING;
            INSERT INTO check_ins
                SELECT n.aggregate_id, a.key, n.position, n.version, n.effective_at,
                       n.recorded_at, (n.data->>'value')::DOUBLE,
                       (n.data->>'confidence')::DOUBLE, n.data->>'note', n.actor,
                       n.on_behalf_of, n.data->>'source'
                FROM new_events n LEFT JOIN aggregates a USING (aggregate_id)
                WHERE n.type = 'CheckInRecorded';
            INSERT INTO kpi_readings
                SELECT n.aggregate_id, a.key, n.position, n.version, n.effective_at,
                       n.recorded_at, (n.data->>'value')::DOUBLE, n.data->>'source',
                       n.data->>'reading_id', n.actor, n.on_behalf_of
                FROM new_events n LEFT JOIN aggregates a USING (aggregate_id)
                WHERE n.type = 'KpiReadingRecorded';
        """)
        touched = _scalar(c.execute(
            "CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT aggregate_id, aggregate_type "
            f"FROM new_events WHERE type NOT IN ({_MEASURED});"
            "SELECT list(DISTINCT aggregate_type) FROM touched"))
        c.execute('CREATE OR REPLACE TEMP TABLE ends_before AS SELECT DISTINCT "end" AS cycle_end '
                  "FROM cycle_versions")
        for v in VERSIONED:
            if v.aggregate_type in (touched or []):
                c.execute(rebuild(v))
        # The readings near each cycle's end: this batch's near the ends known before it, and
        # every reading near the ends this batch brought (a new cycle: rare).
        c.execute(_NEAR_ENDS.format(
            readings="(SELECT aggregate_id, position, effective_at AS observed_at, recorded_at, "
                     "(data->>'value')::DOUBLE AS value FROM new_events "
                     "WHERE type = 'KpiReadingRecorded')",
            ends="SELECT cycle_end FROM ends_before"))
        c.execute(_NEAR_ENDS.format(
            readings="kpi_readings",
            ends='SELECT DISTINCT "end" FROM cycle_versions EXCEPT SELECT cycle_end FROM '
                 "ends_before") + "; DROP TABLE ends_before")
        return int(added)

    # ---- reading -----------------------------------------------------------------------

    def event_count(self) -> int:
        return int(_scalar(self.con.execute("SELECT count(*) FROM events")))

    def event_positions(self) -> tuple[int, int]:
        """How many events the file holds and the highest position among them (0 if none)."""
        row = self.con.execute(
            "SELECT count(*), coalesce(max(position), 0) FROM events").fetchone() or (0, 0)
        return int(row[0]), int(row[1])

    def head(self) -> tuple[int, str, int] | None:
        """The stored event at the highest position: (position, hash, events stored)."""
        row = self.con.execute("SELECT position, hash, (SELECT count(*) FROM events) FROM events "
                               "ORDER BY position DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]), int(row[2]))

    def last_link(self) -> tuple[int, str, str] | None:
        """The stored event at the highest position: (position, prev_hash, hash)."""
        row = self.con.execute("SELECT position, prev_hash, hash FROM events "
                               "ORDER BY position DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def hashes_at(self, positions: list[int]) -> dict[int, str]:
        """The hash of the stored event at each of these positions (where one is stored)."""
        rows = self.con.execute("SELECT position, hash FROM events WHERE position IN "
                                "(SELECT unnest(?))", [positions]).fetchall()
        return {int(p): str(h) for p, h in rows}

    def positions_held(self, positions: Iterable[int]) -> set[int]:
        """Which of these positions the file holds an event at."""
        listed = ", ".join(str(int(p)) for p in positions)  # literals: the zone maps prune
        if not listed:
            return set()
        return {int(p) for (p,) in self.con.execute(
            f"SELECT position FROM events WHERE position IN ({listed})").fetchall()}

    def has_event(self, aggregate_id: str, version: int) -> bool:
        """Whether the event (aggregate id, version) is stored."""
        return bool(self.query("SELECT 1 FROM events WHERE aggregate_id = ? AND version = ?",
                               [aggregate_id, version])[1])

    def key_result_history(self, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The revisions (oldest first) and check-ins (by effective time) of one key result."""
        names, rows = self.query(KR_REVISIONS, [key])
        revisions = [dict(zip(names, r, strict=True)) for r in rows]
        names, rows = self.query(KR_CHECK_INS, [key])
        return revisions, [dict(zip(names, r, strict=True)) for r in rows]

    def kpi_history(self, key: str) -> list[dict[str, Any]]:
        """The readings of one KPI (by observed time), each with its recording time."""
        names, rows = self.query(KPI_READINGS, [key])
        return [dict(zip(names, r, strict=True)) for r in rows]

    def audit_page(self, before: int, limit: int, kind: str | None = None,
                   actor: str | None = None) -> list[tuple[int, str, str | None]]:
        """(position, aggregate id, key) of the latest events before `before`, newest
        first, at most `limit`, of one kind of item and one actor when given."""
        return [(int(p), t, k) for p, t, k in self.query(
            AUDIT_FEED, {"before": before, "limit": limit, "kind": kind, "actor": actor})[1]]

    def aggregates_of(self, key: str) -> list[str]:
        """The ids of every item that has this key (of any kind)."""
        return [a for (a,) in self.query(AGGREGATES_OF_KEY, [key])[1]]

    def facts_of(self, aggregate_ids: Iterable[str], until: int | None = None) -> list[Fact]:
        """The facts of these items (up to position `until`), in position order: all a
        field-level trail of them needs, since a fact changes its own item only."""
        return self._facts(
            "SELECT position, aggregate_id, version, type, recorded_at::TIMESTAMP, "
            "effective_at::TIMESTAMP, actor, reason, data, on_behalf_of FROM events WHERE "
            "aggregate_id IN (SELECT unnest($ids::VARCHAR[])) AND position <= $until "
            "ORDER BY position", {"ids": sorted(set(aggregate_ids)),
                                  "until": until if until is not None else 2 ** 62})

    def actors(self) -> list[str]:
        """Every actor on the record."""
        return [a for (a,) in self.query(AUDIT_ACTORS)[1]]

    def listing_at(self, kind: str, as_of: datetime, known_at: datetime
                   ) -> list[dict[str, Any]]:
        """`okr list cycles|initiatives|kpis`: each item as it stood at `as_of` (valid time)
        as known at `known_at`, one dict per item (the columns of queries.LIST_*)."""
        sql = {"cycles": LIST_CYCLES, "initiatives": LIST_INITIATIVES, "kpis": LIST_KPIS}[kind]
        names, rows = self.query(sql, {"as_of": as_of, "known": known_at})
        return [dict(zip(names, r, strict=True)) for r in rows]

    def carried_from(self) -> dict[tuple[str, str], str]:
        """(aggregate type, key) → the key it was carried forward from, for every objective
        and key result carried from an earlier cycle."""
        return {(kind, key): origin for kind, key, origin in self.query(CARRIED_FROM)[1]}

    def scorecard_choices(self, as_of: datetime, known_at: datetime) -> dict[str, list[str]]:
        """The cycles, teams and owners of the objectives `scorecard_at(as_of, known_at)`
        shows, each sorted (no team: left out), without scoring anything."""
        rows = self.query(SCORECARD_CHOICES, {"as_of": as_of, "known": known_at})[1]
        return {"cycles": sorted({c for c, _, _ in rows}),
                "teams": sorted({t for _, t, _ in rows if t}),
                "owners": sorted({o for _, _, o in rows})}

    def scorecard_at(self, as_of: datetime, known_at: datetime, cycle: str | None = None,
                     team: str | None = None, owner: str | None = None
                     ) -> list[dict[str, Any]]:
        """The scorecard as `domain.history.scorecard` shapes it; `cycle`, `team`, `owner` keep
        only those objectives (and score only them, and the objectives aligned below them whose
        scores their roll-ups read).

        The objectives in force, as `objectives_at` selects them, are picked in Python from the
        objective and cycle versions this connection read once (`_plans`); then one statement
        (queries.PIT_*) gives their key results; each objective's score and its roll-up over
        its subtree are the domain's (domain/cards.py, domain/rollup.py), from its key results'
        cards. A filtered scorecard's key results (tens) are scored here by the domain's rules
        from `key_result_inputs`; the whole organisation's (thousands) by DuckDB
        (`key_results_at`), faster than in Python and without holding the GIL while the web
        app's other threads read, each row naming its version, whose plan this connection
        read once (`_key_result_plans`). Each way is held to the domain's replay
        (tests/unit/test_projection_differential.py); docs/benchmarks.md has the figures.
        The times are written into the statements as literals, so that DuckDB's zone maps
        pick the recent readings' row groups.
        """
        from okr.domain.cards import measure_objective
        from okr.domain.rollup import children_of, roll_up

        at, known = _naive(as_of), _naive(known_at)
        objective_rows, cycle_rows = self._plans()
        # At most one version of an item is in force at (t, k) (okr_in_force in macros.sql).
        # key → (start, end, closed): that version's window, and whether it is closed then
        in_force = {key: (start, end, closed)
                    for (vf, vt, ra, rt, key, start, end, closed) in cycle_rows
                    if _in_force(vf, vt, ra, rt, at, known)}
        filtered = cycle is not None or team is not None or owner is not None
        cards: dict[str, dict[str, Any]] = {}
        shown: list[str] = []
        windows: dict[str, tuple[datetime, datetime, bool]] = {}
        for (vf, vt, ra, rt, cyc, key, title, obj_owner, obj_team, level, okr_type, parent,
             status) in objective_rows:
            if not _in_force(vf, vt, ra, rt, at, known):
                continue
            window = in_force.get(cyc)
            if window is None:
                continue
            is_picked = ((cycle is None or cyc == cycle) and (team is None or obj_team == team)
                         and (owner is None or obj_owner == owner))
            if not is_picked and parent is None:
                continue  # neither asked for nor below one that was
            cards[key] = {"key": key, "title": title, "cycle": cyc, "owner": obj_owner,
                          "team": obj_team, "level": level, "okr_type": okr_type,
                          "parent": parent, "status": status, "key_results": []}
            windows[key] = window
            if is_picked:
                shown.append(key)
        below = children_of(list(cards.values()))  # aligned in its own cycle: rolled up
        scored = _below(shown, below)  # the objectives shown and those their roll-ups read
        if not scored:
            return []
        times = f"{_timestamp(as_of)}, {_timestamp(known_at)}"
        if filtered:
            krs = self._scored_here(as_of, times, {k: windows[k] for k in scored})
        else:
            rows = self.con.execute(PIT_KEY_RESULTS.format(args=times)).fetchall()
            plans = self._key_result_plans(rows)
            # A dict display per row: twice as fast as dict(zip(KR_COLUMNS, row)) for 4,500.
            krs = [{"key": key, "objective": objective, "title": title, "kind": kind,
                    "start": start, "target": target, "target_high": target_high,
                    "tolerance": tolerance, "unit": unit, "weight": weight, "value": value,
                    "progress": progress, "expected": expected, "status": status,
                    "confidence": confidence, "kpi": kpi, "kpi_health": kpi_health,
                    "kpi_stale": kpi_stale}
                   for (position, value, progress, expected, status, confidence, kpi_health,
                        kpi_stale) in rows
                   for (key, objective, title, kind, start, target, target_high, tolerance,
                        unit, weight, kpi) in (plans[position],)]
        for kr in sorted(krs, key=_KEY):
            cards[kr["objective"]]["key_results"].append(kr)
        # In the replay's order (DuckDB's rows come in any order): a roll-up sums its terms
        # in the order of the cards, so the same call gives the same digits every time.
        # A cycle is over at its end instant (its end is not in it), and its grades are final
        # then — or while it is closed, even early (scoring.final): tracks say `final`.
        final = {cyc for cyc, (_, end, closed) in in_force.items() if closed or at >= end}
        rolled = roll_up(sorted((cards[k] for k in scored), key=_CYCLE_AND_KEY), final)
        return [{**{k: v for k, v in c.items() if k != "key_results"},
                 **measure_objective(c["okr_type"], c["key_results"], c["cycle"] in final),
                 **rolled[c["key"]],
                 "key_results": c["key_results"]}
                for c in sorted((cards[k] for k in shown), key=_CYCLE_AND_KEY)]

    def alignment_at(self, as_of: datetime, known_at: datetime) -> list[dict[str, Any]]:
        """The tree of every objective `scorecard_at(as_of, known_at)` would show, unscored:
        key, cycle, parent and team of each (the department summaries of a filtered
        scorecard count a department's whole subtree, as its roll-up does)."""
        at, known = _naive(as_of), _naive(known_at)
        objective_rows, cycle_rows = self._plans()
        cycles = {key for (vf, vt, ra, rt, key, _, _, _) in cycle_rows
                  if _in_force(vf, vt, ra, rt, at, known)}
        return [{"key": key, "cycle": cyc, "parent": parent, "team": team}
                for (vf, vt, ra, rt, cyc, key, _, _, team, _, _, parent, _) in objective_rows
                if cyc in cycles and _in_force(vf, vt, ra, rt, at, known)]

    def _plans(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Every objective version and every cycle version (times naive UTC), read once per
        connection (see `_memo`): a few thousand rows, which each scorecard picks from."""
        got = self._memo.get("plans")
        if got is None:
            got = (self.con.execute(PIT_OBJECTIVE_VERSIONS).fetchall(),
                   self.con.execute(PIT_CYCLE_VERSIONS).fetchall())
            self._memo["plans"] = got
        return cast(tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]], got)

    def _key_result_plans(self, rows: list[tuple[Any, ...]]) -> dict[int, tuple[Any, ...]]:
        """Position → (key, objective, title, kind, start, target, target_high, tolerance,
        unit, weight, kpi) of the key-result version made by the event at that position, for
        the versions these rows (position first) name: read from DuckDB the first time this
        connection meets them (see `_memo`). A version row is a function of its item's events
        up to that position, so what was read stays true."""
        plans: dict[int, tuple[Any, ...]] = self._memo.setdefault("key_result_plans", {})
        missing = [row[0] for row in rows if row[0] not in plans]
        if missing:
            for position, *plan in self.con.execute(PIT_KEY_RESULT_PLANS,
                                                     {"positions": missing}).fetchall():
                plans[position] = tuple(plan)
        return plans

    def _scored_here(self, as_of: datetime, times: str,
                     windows: dict[str, tuple[datetime, datetime, bool]]
                     ) -> list[dict[str, Any]]:
        """The key results in force under these objectives (key → its cycle's window and
        whether the cycle is closed at as_of), scored by the domain's rules into cards."""
        from okr.domain.cards import kpi_now, measure_key_result
        from okr.domain.periods import Window

        keys = ", ".join(_text(key) for key in windows)
        periods = {key: Window(ws.replace(tzinfo=UTC), we.replace(tzinfo=UTC))
                   for key, (ws, we, _) in windows.items()}
        krs: list[dict[str, Any]] = []
        for (key, objective, kr_title, kind, start, target, target_high, tolerance, unit, weight,
             phases, kpi, check_in_value, confidence, has_kpi, direction, green, red, cadence,
             reading_value, observed_at, until
             ) in self.con.execute(PIT_KEY_RESULT_INPUTS.format(
                 args=f"{times}, only_objectives := [{keys}]")).fetchall():
            plan = {"kind": kind, "start": start, "target": target, "target_high": target_high,
                    "tolerance": tolerance,
                    "phases": [{"at": p["at"].replace(tzinfo=UTC), "value": p["value"]}
                               for p in phases or ()]}
            reading = None if reading_value is None else {
                "value": reading_value, "observed_at": observed_at.replace(tzinfo=UTC)}
            m = measure_key_result(
                plan, periods[objective], as_of,
                None if check_in_value is None else {"value": check_in_value,
                                                     "confidence": confidence},
                # The KPI's health and staleness where its value was taken (`until`: the
                # earlier of as_of and the key result's cycle's end).
                kpi_now({"direction": direction, "green": green, "red": red,
                         "cadence": cadence}, reading, until.replace(tzinfo=UTC))
                if has_kpi else None, windows[objective][2])
            krs.append({"key": key, "objective": objective, "title": kr_title, "kind": kind,
                        "start": start, "target": target, "target_high": target_high,
                        "tolerance": tolerance, "unit": unit, "weight": weight,
                        "value": m["value"], "progress": m["progress"], "expected": m["expected"],
                        "status": m["status"], "confidence": m["confidence"], "kpi": kpi,
                        "kpi_health": m["kpi_health"], "kpi_stale": m["kpi_stale"]})
        return krs

    def key_result_at(self, key: str, as_of: datetime, known_at: datetime
                      ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(objective card, key-result card) of one key result as `scorecard_at(as_of,
        known_at)` shows them, or None: only its objective's cycle and team are scored (its
        card, and its objective's roll-up, are theirs in the whole organisation's scorecard)."""
        rows = self.query(KEY_RESULT_PLACE, {"key": key, "as_of": as_of, "known": known_at})[1]
        if not rows:
            return None
        cycle, team = rows[0]
        return next(((c, kr) for c in self.scorecard_at(as_of, known_at, cycle=cycle, team=team)
                     for kr in c["key_results"] if kr["key"] == key), None)

    def due_inputs(self, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What domain.due.due_items reads at `now`: the key results and the KPIs in force,
        with their latest check-in or reading (times aware, UTC)."""
        def rows(sql: str) -> list[dict[str, Any]]:
            cur = self.con.execute(sql, {"now": now})
            names = [d[0] for d in cur.description]
            return [{n: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v
                     for n, v in zip(names, r, strict=True)} for r in cur.fetchall()]
        return rows(DUE_KEY_RESULTS), rows(DUE_KPIS)

    def facts(self, since_position: int = 0) -> Iterator[Fact]:
        """Every stored event as a domain fact, in position order."""
        from okr.record.revive import revive_data

        cur = self.con.execute(
            "SELECT position, aggregate_id, version, type, recorded_at::TIMESTAMP, "
            "effective_at::TIMESTAMP, actor, reason, data, on_behalf_of FROM events WHERE "
            "position > ? ORDER BY position", [since_position])
        while rows := cur.fetchmany(10_000):
            for pos, agg, ver, typ, rec, eff, actor, reason, data, obo in rows:
                yield Fact(position=pos, aggregate_id=agg, version=ver, type=typ,
                           recorded_at=rec.replace(tzinfo=UTC),
                           effective_at=eff.replace(tzinfo=UTC), actor=actor, reason=reason,
                           data=revive_data(typ, json.loads(data)), on_behalf_of=obo)

    def review_facts(self, cycle: str, as_of: datetime, known_at: datetime,
                     key_result: str | None = None) -> list[Fact]:
        """The facts a review of `cycle` at (as_of, known_at) reads, in position order:
        `domain.review.review` gives the same answer from these as from the whole log (for
        `key_result` alone when given: the answer about that key result).

        The items are those of `domain.history.cycle_dependencies`. Of their KPI readings,
        only the ones that can be the latest at an instant the review scores are loaded: those
        observed from the cycle's start (or its creation, if earlier) up to the
        latest instant it scores (the end of the cycle, or a later target revision), the
        latest one before that, and any recorded later for earlier times.
        """
        c = self.con
        c.execute(*((REVIEW_ITEMS, [cycle]) if key_result is None
                     else (REVIEW_ITEMS_OF_KR, [cycle, key_result])))
        row = c.execute(
            "SELECT least(min(start), min(valid_from)), max(\"end\") FROM cycle_versions "
            "WHERE key = ?", [cycle]).fetchone()
        if row is None or row[0] is None:
            return []
        carry_from, end = row
        with paused():  # tens of thousands of facts, no cycles (okr/collector.py)
            items = self._facts(
                "SELECT position, aggregate_id, version, type, recorded_at::TIMESTAMP, "
                "effective_at::TIMESTAMP, actor, reason, data, on_behalf_of FROM events "
                "WHERE aggregate_id IN (SELECT aggregate_id FROM review_items) AND type NOT "
                f"IN ({_MEASURED}) AND recorded_at <= $known ORDER BY position",
                {"known": known_at})
            # The latest instant the review scores: the end of the cycle (or as_of before it),
            # or the last target revision or removal of a key result (among the items' facts
            # just read), which it judges when it took effect (never after its recording).
            scored = min(as_of, end)
            until = max(scored, max((f.recorded_at for f in items
                                     if f.type in ("KeyResultRevised", "KeyResultRemoved")),
                                    default=scored))
            # (as_of is never before carry_from: a review as of a moment before its cycle
            # existed is refused, UnknownCycle)
            measured = {"known": known_at, "carry": carry_from, "until": until}
            parts = [
                items,
                self._measurements(
                    "SELECT position, aggregate_id, version, recorded_at::TIMESTAMP, "
                    "effective_at::TIMESTAMP, actor, on_behalf_of, value, confidence, note, "
                    "source FROM check_ins WHERE aggregate_id IN (SELECT aggregate_id FROM "
                    "review_items) AND recorded_at <= $known ORDER BY position",
                    {"known": known_at}, "CheckInRecorded",
                    ("value", "confidence", "note", "source")),
                self._measurements(REVIEW_READINGS, measured, "KpiReadingRecorded",
                                   ("value", "source", "reading_id"))]
            # Three runs, each in position order: the sort merges them (timsort finds the runs).
            return sorted(parts[0] + parts[1] + parts[2], key=_POSITION)

    # Times are selected as TIMESTAMP (UTC, the session's zone) and made aware here: much
    # cheaper than DuckDB handing over TIMESTAMPTZ values through pytz, row by row.

    def _facts(self, sql: str, params: dict[str, Any]) -> list[Fact]:
        from okr.record.revive import revive_data

        rows = self.con.execute(sql, params).fetchall()
        utc = _aware(rows, 4)
        return [Fact(position=pos, aggregate_id=agg, version=ver, type=typ,
                     recorded_at=utc[rec], effective_at=utc[eff], actor=actor, reason=reason,
                     data=revive_data(typ, json.loads(data)), on_behalf_of=obo)
                for pos, agg, ver, typ, rec, eff, actor, reason, data, obo in rows]

    def _measurements(self, sql: str, params: dict[str, Any], typ: str,
                      fields: tuple[str, str, str] | tuple[str, str, str, str]) -> list[Fact]:
        """Check-ins or readings (`typ`) from their own tables (typed columns: no JSON to
        parse). Tens of thousands for a review: made positionally (Fact's field order), not by
        name; the statement selects position, aggregate_id, version, the two times, actor,
        on_behalf_of, then the three or four `fields` (not the type: a column DuckDB hands
        over value by value costs ~8 ms per 34,000 rows)."""
        make = tuple.__new__
        rows = self.con.execute(sql, params).fetchall()
        utc = _aware(rows, 3)
        if len(fields) == 4:  # (unpacked by name, not zipped: a call less per row)
            a, b, c, d = fields
            return [make(Fact, (pos, agg, ver, typ, utc[rec], utc[eff], actor, None,
                                {a: x, b: y, c: z, d: w}, obo))
                    for pos, agg, ver, rec, eff, actor, obo, x, y, z, w in rows]
        a, b, c = fields[:3]
        return [make(Fact, (pos, agg, ver, typ, utc[rec], utc[eff], actor, None,
                            {a: x, b: y, c: z}, obo))
                for pos, agg, ver, rec, eff, actor, obo, x, y, z in rows]

    def query(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()
              ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of a statement given as text (an analyst's, `okr sql`);
        whatever DuckDB refuses or fails raises QueryFailed ("SQL: " and DuckDB's line; the
        DuckDB error is the cause)."""
        try:
            cur = self.con.execute(sql, params if isinstance(params, dict) else list(params))
            return [d[0] for d in cur.description or []], cur.fetchall()
        except engine.Error as exc:
            line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise QueryFailed(f"SQL: {line}") from exc

    def export_parquet(self, out: Path, at: datetime) -> dict[str, int]:
        """Every table as Parquet under `out`, partitioned by cycle where a table has one, and
        the scores computed at `at`: `scorecard` (the scorecard then) and `kr_weekly` (each
        key result at the end of every week of its cycle up to then, as known then)."""
        out.mkdir(parents=True, exist_ok=True)
        counts = self._export_tables(out)
        now = _timestamp(at)
        with _file_errors():
            row = self.con.execute(
                f"COPY (SELECT {now} AS as_of, {now} AS known_at, * FROM scorecard_at({now}, "
                f"{now})) TO '{_quote(out / 'scorecard.parquet')}' (FORMAT parquet)").fetchone()
        counts["scorecard"] = int(row[0]) if row else 0
        counts["kr_weekly"] = self._export_weekly(out / "kr_weekly.parquet", at)
        return counts

    def _export_weekly(self, target: Path, at: datetime) -> int:
        """Each key result scored at the end of each week of its cycle (weeks counted from the
        cycle's start on the calendar of its zone: each ends at local midnight, across a change
        of the clocks too; the last point is the cycle's end, or `at` for a cycle still
        running), as known at `at`."""
        c = self.con
        cycles = c.execute(
            'SELECT key, arg_max(start, version), arg_max("end", version), '
            "arg_max(timezone, version) FROM cycle_versions "
            "WHERE recorded_at <= ? GROUP BY key ORDER BY key", [at]).fetchall()
        now = _timestamp(at)
        c.execute(f"CREATE OR REPLACE TEMP TABLE kr_weekly AS SELECT 0 AS week, {now} AS as_of, "
                  f"{now} AS known_at, * FROM scorecard_at({now}, {now}) WHERE false")
        for key, start, end, tz in cycles:
            last = min(end, at)
            points = week_starts(start, last + _MICROSECOND, tz or "UTC")[1:]
            if last > start and (not points or points[-1] < last):
                points.append(last)
            for week, t in enumerate(points, 1):
                c.execute(f"INSERT INTO kr_weekly SELECT {week}, {_timestamp(t)}, {now}, * "
                          f"FROM scorecard_at({_timestamp(t)}, {now}) WHERE cycle = ? AND "
                          "key_result IS NOT NULL", [key])
        with _file_errors():
            row = c.execute(f"COPY (SELECT * FROM kr_weekly ORDER BY cycle, key_result, week) TO "
                            f"'{_quote(target)}' (FORMAT parquet)").fetchone()
        c.execute("DROP TABLE kr_weekly")
        return int(row[0]) if row else 0

    def _export_tables(self, out: Path) -> dict[str, int]:
        counts: dict[str, int] = {}
        for table, by_cycle in EXPORTS.items():
            if by_cycle:
                target, options = out / table, "FORMAT parquet, PARTITION_BY (cycle)"
                if target.exists():  # a previous export's partitions must not linger
                    shutil.rmtree(target)
            else:
                target, options = out / f"{table}.parquet", "FORMAT parquet"
            with _file_errors():
                row = self.con.execute(f"COPY ({EXPORT_SQL[table]}) TO '{_quote(target)}' "
                                       f"({options})").fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts

    def lock_down(self) -> None:
        """For untrusted queries: no files, no network, no extensions, no temporary directory
        (DuckDB lets a query write there even with external access off), settings frozen."""
        self.con.execute("SET temp_directory = ''")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET autoinstall_known_extensions = false")
        self.con.execute("SET autoload_known_extensions = false")
        self.con.execute("SET lock_configuration = true")

    def read_capped(self, sql: str, limit: int, timeout: float) -> "Answer":
        """An untrusted read (see readonly.py): at most `limit` rows, `timeout` seconds."""
        from okr.projections.readonly import run_capped
        return run_capped(self.con, sql, limit, timeout)

    def checkpoint(self) -> None:
        with _file_errors():
            self.con.execute("CHECKPOINT")


_POSITION = operator.itemgetter(0)  # a Fact's position
def _aware(rows: list[tuple[Any, ...]], at: int) -> dict[datetime, datetime]:
    """Each distinct naive UTC time of the rows' recording and effective times (columns `at`
    and `at` + 1), made aware once: a full-scale review's 42,913 facts hold a few thousand
    distinct instants, and `datetime.replace(tzinfo=…)` costs about a microsecond a call
    (making the 34,000 readings' facts took 92 ms with a replace per time, 34 ms with
    this)."""
    distinct = {t for pair in map(operator.itemgetter(at, at + 1), rows) for t in pair}
    return {t: t.replace(tzinfo=UTC) for t in distinct}


_KEY = operator.itemgetter("key")
_CYCLE_AND_KEY = operator.itemgetter("cycle", "key")


# Readings (a relation with aggregate_id, position, observed_at, recorded_at, value) observed
# in the 8 days before one of `ends` (a query of cycle ends; the end itself is not in its
# cycle: a reading at that instant is the next one's), into kpi_readings_at_ends.
_NEAR_ENDS = """
INSERT INTO kpi_readings_at_ends
SELECT e.cycle_end, r.aggregate_id, r.position, r.observed_at, r.recorded_at, r.value
FROM {readings} r JOIN ({ends}) e(cycle_end)
  ON r.observed_at < e.cycle_end AND r.observed_at > e.cycle_end - INTERVAL 8 DAY
"""


def _below(tops: list[str], children: dict[str, list[str]]) -> set[str]:
    """These objectives and every one aligned below them (each once: a stored alignment
    cycle ends), as `objectives_at` selects them."""
    found: set[str] = set()
    stack = list(tops)
    while stack:
        key = stack.pop()
        if key not in found:
            found.add(key)
            stack.extend(children.get(key, ()))
    return found


def _io_line(exc: engine.IOException) -> str:
    """The first line of DuckDB's I/O error, for a one-line failure."""
    return (str(exc).strip().splitlines() or ["IO Error"])[0]


def _scalar(cursor: engine.DuckDBPyConnection) -> Any:
    """The first column of the one row a statement that always answers one row gave."""
    row = cursor.fetchone()
    assert row is not None, "an aggregate query answers one row"
    return row[0]


def _timestamp(t: datetime) -> str:
    """A SQL literal for an aware datetime."""
    if t.tzinfo is None:
        raise ValueError(f"{t!r} has no time zone")
    return f"TIMESTAMPTZ '{t.isoformat()}'"


def _in_force(valid_from: datetime, valid_to: datetime | None, recorded_at: datetime,
              recorded_to: datetime | None, at: datetime, known: datetime) -> bool:
    """okr_in_force (macros.sql): whether a version row is the one in force at valid time
    `at` as known at transaction time `known`."""
    return valid_from <= at and recorded_at <= known and (
        valid_to is None or valid_to > at or (recorded_to is not None and recorded_to > known))


def _naive(t: datetime) -> datetime:
    """An aware datetime as naive UTC, as DuckDB hands a TIMESTAMP over (TimeZone UTC)."""
    if t.tzinfo is None:
        raise ValueError(f"{t!r} has no time zone")
    return t.astimezone(UTC).replace(tzinfo=None)


def _text(value: str | None) -> str:
    """A SQL literal for a string (or NULL); DuckDB reads no escapes in '…' but ''."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


