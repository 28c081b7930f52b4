"""Who is asking, and may they: signed session cookies, CSRF tokens, and the role rules.

A session cookie holds `NAME|EXPIRES|NONCE|MAC`, where MAC is an HMAC-SHA256 under the
server's secret (a file in the data directory, made once, 0600), so it survives a restart and
cannot be forged or extended; EXPIRES (to the millisecond) also says when it was made, and a
session made before the user's latest credential change is refused (web/site.py).
The CSRF token of a form is an HMAC of the session cookie: an attacker's page can neither
read it (SameSite=Strict, HttpOnly) nor compute it.
"""

import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from okr.errors import DataDirUnavailable
from okr.files import create_once

SESSION_COOKIE = "okr_session"
SESSION_SECONDS = 12 * 3600
_EXPIRES = re.compile(r"[0-9]{1,12}(\.[0-9]{3})?")


@dataclass(frozen=True)
class Principal:
    """The signed-in user: the actor of what they write."""

    name: str
    role: str
    team: str

    @property
    def actor(self) -> str:
        """The actor recorded on their events: the authenticated web/API user."""
        return f"web:{self.name}"


class Refused(Exception):
    """The signed-in user's role does not allow this (HTTP 403); the message says why."""


def load_secret(home: Path) -> bytes:
    """The server's signing key, made on first use (32 random bytes, readable by us only)."""
    path = home / "web-secret"
    if not path.exists():
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Whole or absent: an empty secret would sign every session with an empty key.
        create_once(path, secrets.token_hex(32).encode())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise DataDirUnavailable(f"the web server's {path.name} at {path} is not a 32-byte key "
                                 "(empty or damaged); remove it and a new one is made (everyone "
                                 "signs in again)")
    return key


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def new_session(secret: bytes, name: str, now: float | None = None) -> str:
    # Milliseconds (whole seconds before), so that the time it was made is known to the
    # millisecond: a session made before the user's latest credential change is refused.
    expires = math.floor(((now or time.time()) + SESSION_SECONDS) * 1000) / 1000
    body = f"{name}|{expires:.3f}|{secrets.token_hex(8)}"
    return f"{body}|{_mac(secret, body)}"


@dataclass(frozen=True)
class Session:
    """Whom a session cookie vouches for, and when it was made (seconds since the epoch)."""

    name: str
    issued: float


def session_of(secret: bytes, cookie: str | None, now: float | None = None
               ) -> Session | None:
    """The session a cookie holds, or None (absent, forged, expired)."""
    if not cookie or cookie.count("|") < 3:
        return None
    body, _, mac = cookie.rpartition("|")
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return None
    name, expires, _nonce = body.rsplit("|", 2)
    if not _EXPIRES.fullmatch(expires) or float(expires) < (now or time.time()):
        return None
    return Session(name, float(expires) - SESSION_SECONDS)


def csrf_token(secret: bytes, cookie: str) -> str:
    return _mac(secret, f"csrf|{cookie}")


def csrf_ok(secret: bytes, cookie: str | None, token: str | None) -> bool:
    return bool(cookie and token) and hmac.compare_digest(csrf_token(secret, cookie or ""),
                                                          token or "")


def same_origin(origin: str | None, fetch_site: str | None, host: str | None) -> bool:
    """Whether a form post came from this site, by what browsers say of it: `Sec-Fetch-Site`
    (same-origin; a user's own navigation is none), and an `Origin` naming this host. Our pages
    send no referrer, so a browser says `Origin: null` for them; that alone decides nothing.
    Without either header (a script, an old browser) it passes: SameSite cookies and CSRF
    tokens cover the rest."""
    from urllib.parse import urlsplit

    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    if origin is None or origin == "null":
        return True
    return bool(host) and urlsplit(origin).netloc == host


def a_role(role: str) -> str:
    """The role with its article: "a viewer", "an auditor", "an admin"."""
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"


def check_may_check_in(who: Principal, kr_key: str, kr_team: str) -> None:
    """Members check in on their own team's key results; planners and admins on any; viewers
    and auditors read only."""
    check_may_work_on(who, kr_key, kr_team, "check in on")


def check_may_work_on(who: Principal, kr_key: str, kr_team: str, doing: str) -> None:
    """What members do on their own team's key results only (check in, run initiatives);
    planners and admins on any; viewers and auditors read only."""
    if who.role in ("admin", "planner"):
        return
    if who.role == "member":
        if who.team and who.team == kr_team:
            return
        raise Refused(f"{who.name} is a member of team {who.team!r}; key result {kr_key} "
                      f"belongs to team {kr_team!r}: members {doing} their own team's "
                      "key results")
    raise Refused(f"{who.name} is {a_role(who.role)}: {a_role(who.role)} reads but does not "
                  f"{doing} key results")


def check_may_plan(who: Principal) -> None:
    """Changing plans (cycles, objectives, key results, KPI definitions): planners and
    admins."""
    if who.role not in ("planner", "admin"):
        raise Refused(f"{who.name} is {a_role(who.role)}: plans are changed by planners and "
                      "admins")


def check_may_record_reading(who: Principal, kpi_key: str, kpi_owner: str) -> None:
    """KPI readings: planners and admins on any KPI, members on the KPIs they own."""
    if who.role in ("admin", "planner"):
        return
    if who.role == "member" and kpi_owner in (who.name, who.actor):
        return
    raise Refused(f"{who.name} is {a_role(who.role)}: readings of KPI {kpi_key} (owner "
                  f"{kpi_owner!r}) are recorded by its owner, planners and admins")


def check_may_audit(who: Principal, doing: str = "verifying the record") -> None:
    """Running the verification, and what else is the audit's, is for auditors and admins."""
    if who.role not in ("auditor", "admin"):
        raise Refused(f"{who.name} is {a_role(who.role)}: {doing} is for auditors and admins")


def check_may_export(who: Principal) -> None:
    """Audit bundles are for auditors and admins, as the verify verdict is."""
    check_may_audit(who, "exporting an audit bundle")
