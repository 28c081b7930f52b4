"""What the web app does with the ledger: sign-in, reads of the projection, writes through the
ledger service — the same ones the CLI uses, with the signed-in user as the actor."""

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from okr.cli.context import State
from okr.domain.errors import NotFound
from okr.settings import Settings
from okr.web import tokens
from okr.web.auth import Principal, Refused, check_may_check_in, load_secret

T = TypeVar("T")

SIGNIN_FAILURES = 10  # failed sign-ins from one address within SIGNIN_WINDOW seconds …
SIGNIN_WINDOW = 60.0  # … and it must wait


@dataclass(frozen=True)
class CheckIn:
    """A check-in as a person typed it, read and checked (value, confidence, back-date)."""

    value: float
    confidence: float | None
    note: str
    at: datetime | None


class Site:
    """One ledger and one projection reader for the whole server.

    Reads take turns (one lock): a read may first bring the projection up to date when no
    consumer runs (publish, then consume, as `okr scorecard` does), and DuckDB lets a process
    hold a file either for writing or for reading, not both at once.
    """

    def __init__(self, settings: Settings) -> None:
        self.state = State(_settings=settings)
        self.state.require_ledger()
        self.secret = load_secret(settings.home)
        self._read_lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._failures_lock = threading.Lock()

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

    def close(self) -> None:
        self.state.close()

    # ---- who --------------------------------------------------------------------------

    def principal(self, name: str) -> Principal | None:
        """The user of that name as the ledger knows them now, or None."""
        try:
            u = self.state.ledger.user(name)
        except NotFound:
            return None
        return Principal(u.key, u.role, u.team)

    def authenticate(self, token: str) -> Principal | None:
        """The user a token belongs to, or None (malformed, unknown user, wrong secret)."""
        name = tokens.user_of(token)
        if name is None:
            return None
        try:
            u = self.state.ledger.user(name)
        except NotFound:
            return None
        except ValueError:  # a name that is not a valid key
            return None
        return Principal(u.key, u.role, u.team) if tokens.matches(token, u.token_hashes) \
            else None

    def signin_blocked(self, address: str) -> bool:
        """Whether this address failed to sign in too often lately."""
        with self._failures_lock:
            seen = self._failures.get(address)
            now = time.monotonic()
            while seen and now - seen[0] > SIGNIN_WINDOW:
                seen.popleft()
            return seen is not None and len(seen) >= SIGNIN_FAILURES

    def signin_failed(self, address: str) -> None:
        with self._failures_lock:
            self._failures.setdefault(address, deque()).append(time.monotonic())

    # ---- reads ------------------------------------------------------------------------

    def read(self, fn: "Callable[[Any], T]") -> T:
        """Run `fn` on the projection opened read-only, brought up to date first when no
        consumer keeps it so (the CLI's own read path)."""
        from okr.cli.reads import open_projection

        with self._read_lock, open_projection(self.state) as proj:
            return fn(proj)

    def scorecard(self, as_of: datetime, known_at: datetime) -> list[dict[str, Any]]:
        return self.read(lambda p: p.scorecard_at(as_of, known_at))

    def key_result(self, key: str, as_of: datetime, known_at: datetime
                   ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]],
                              list[dict[str, Any]]]:
        """(objective card, key-result card, revisions, check-ins) of one key result, or
        NotFound."""
        def both(p: Any) -> tuple[list[dict[str, Any]], tuple[Any, Any]]:
            return p.scorecard_at(as_of, known_at), p.key_result_history(key)

        cards, (revisions, check_ins) = self.read(both)
        for card in cards:
            for kr in card["key_results"]:
                if kr["key"] == key:
                    return card, kr, revisions, check_ins
        raise NotFound(f"key result {key!r} not found")

    # ---- writes -----------------------------------------------------------------------

    def kr_team(self, key: str) -> str:
        ledger = self.state.ledger
        return ledger.objective(ledger.key_result(key).objective).team

    def may_check_in(self, who: Principal, key: str) -> bool:
        try:
            check_may_check_in(who, key, self.kr_team(key))
        except Refused:
            return False
        return True

    def typed_check_in(self, value: str, confidence: str, note: str, at: str) -> CheckIn:
        """A check-in from a form's text, as the CLI reads `okr checkin` (BadInput if not)."""
        from okr.cli.errors import UserError
        from okr.cli.times import parse_when
        from okr.cli.writes import number

        if not value.strip():
            raise UserError("value is required")
        conf = number(confidence, "confidence") if confidence.strip() else None
        if conf is not None and not 0 <= conf <= 1:
            raise UserError(f"confidence {confidence} must be between 0 and 1")
        return CheckIn(number(value, "value"), conf, note,
                       parse_when(at, self.zone) if at.strip() else None)

    def check_in(self, who: Principal, key: str, c: CheckIn) -> dict[str, Any]:
        """Record a check-in as `who` (refused unless their role allows it on this key
        result); what was recorded."""
        check_may_check_in(who, key, self.kr_team(key))
        kr = self.state.ledger.check_in(key, c.value, c.confidence, c.note, c.at,
                                        actor=who.actor, source="web")
        last = kr.check_ins[-1]
        return {"key": kr.key, "value": last["value"], "confidence": last["confidence"],
                "note": last["note"], "effective_at": last["effective_at"],
                "recorded_at": last["recorded_at"], "actor": who.actor, "source": "web"}
