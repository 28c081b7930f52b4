"""Per-invocation state: settings, the ledger (opened on first use) and the --json switch."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from okr.ledger.app import OkrLedger
    from okr.settings import Settings


@dataclass
class State:
    """What every command needs; heavy objects are built lazily."""

    overrides: dict[str, Any] = field(default_factory=dict)
    json: bool = False
    reading: bool = False  # a read: it must find a ledger, never create one
    # A write that needs something recorded before it (all but those that can start a
    # ledger, cli/commands.writes): refused like a read where there is no ledger.
    needs_ledger: bool = False
    starts_ledger: bool = False  # a write that can start one: the store is created on saving
    strict: bool = False  # a read lacking stored events fails (exit 3) instead of warning
    on_behalf_of: str | None = None  # a write's --on-behalf-of (cli/commands.writes)
    _settings: "Settings | None" = None
    _pg_ledger: bool = False  # a PostgreSQL ledger was found (a missing one is asked again)
    _home_checked: bool = False  # the data directory serves the configured store's ledger
    _ledger: "OkrLedger | None" = None

    @property
    def settings(self) -> "Settings":
        if self._settings is None:
            from okr.cli.times import PERSON_ZONE
            from okr.settings import load_settings
            self._settings = load_settings(self.overrides)
            PERSON_ZONE.set(self._settings.timezone)
        return self._settings

    @property
    def ledger(self) -> "OkrLedger":
        if self._ledger is None:
            if self.reading or self.needs_ledger:
                self.require_ledger()
            else:
                self.check_home()
            from okr.ledger.app import OkrLedger
            self._ledger = OkrLedger(self.settings, on_behalf_of=self.on_behalf_of,
                                     create_on_save=self.starts_ledger)
            if not self.reading:  # Ctrl-C waits for a save's transaction to end
                from okr.cli.interrupts import saving
                self._ledger.save_guard = saving
        return self._ledger

    def has_ledger(self) -> bool:
        """Whether a ledger was started: the data directory holds the SQLite event store, or
        the PostgreSQL schema holds the events table (asked of the database; an unreachable
        one says so)."""
        s = self.settings
        if s.store == "sqlite":
            return s.event_store_path.is_file()
        if not self._pg_ledger:
            from okr.adapters.event_store import postgres_has_events  # psycopg: postgres only
            self._pg_ledger = postgres_has_events(s)
        return self._pg_ledger

    def check_home(self) -> None:
        """Refuse (one line, nothing written) a data directory that serves another ledger than
        the configured store holds, or a store that holds none while the directory serves
        one (ledger/home.py); record the store's ledger in a directory that serves none yet."""
        if self._home_checked:
            return
        from okr.adapters.event_store import ledger_id
        from okr.ledger import home
        found = ledger_id(self.settings)
        home.check(self.settings, found, self._projection_agrees)
        self._home_checked = True
        self._pg_ledger = self._pg_ledger or found is not None  # asked already: no need again

    def check_home_when_reachable(self) -> None:
        """check_home, unless the event store cannot be reached now: a service that needs the
        store checks when it opens it (and retries until it can), one that does not — the
        projection consumer — goes on meanwhile."""
        from contextlib import suppress

        from eventsourcing.persistence import OperationalError
        with suppress(OperationalError):
            self.check_home()

    def _projection_agrees(self) -> bool:
        """Whether the projection a data directory of an older version holds is of the
        configured store's ledger: its last event, hashed again from the store, is the one it
        holds. A projection that cannot be read now, or holds nothing, does not say no."""
        from okr.errors import ProjectionUnavailable
        from okr.ledger.app import OkrLedger
        from okr.projections.access import open_for_reading
        from okr.projections.store import ProjectionLocked
        from okr.record.envelope import published

        try:
            proj = open_for_reading(self.settings)
        except (ProjectionLocked, ProjectionUnavailable):
            return True
        if proj is None:
            return True
        try:
            link = proj.last_link()
        finally:
            proj.close()
        if link is None:
            return True
        position, prev_hash, hash_ = link
        app = OkrLedger(self.settings)
        try:
            notes = app.recorder.select_notifications(position, 1, stop=position)
            return bool(notes) and published(app.mapper, notes[0], prev_hash).hash == hash_
        except Exception:  # not an event this chain can hash: not this ledger's projection
            return False
        finally:
            app.close()

    def require_ledger(self) -> None:
        """Raise NoLedger where no ledger was started (a read creates none), OtherLedger where
        the data directory serves another ledger (check_home)."""
        self.check_home()
        if not self.has_ledger():
            from okr.errors import NoLedger
            s = self.settings
            if s.store == "sqlite":
                raise NoLedger(f"no ledger in {s.home} (no {s.event_store_path.name} there); "
                               "start one with 'okr cycle add 2026-Q4', or point --home / "
                               "OKR_HOME at an existing data directory")
            from okr.adapters.event_store import POSTGRES_EVENTS_TABLE
            raise NoLedger(f"no ledger in PostgreSQL schema {s.postgres_schema_used} of "
                           f"database {s.postgres_dbname} on {s.postgres_host}:{s.postgres_port} "
                           f"(no {POSTGRES_EVENTS_TABLE} table there); start one with 'okr cycle "
                           "add 2026-Q4', or point POSTGRES_SCHEMA / POSTGRES_DBNAME at an "
                           "existing ledger")

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def want_json(ctx: typer.Context, flag: bool) -> bool:
    return flag or state(ctx).json

