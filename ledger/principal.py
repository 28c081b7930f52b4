"""Who a write is recorded under: the authenticated principal, never a claimed name.

On SQLite the CLI acts as the operating-system account that runs it — the effective uid's
entry in the user database, not $USER or $LOGNAME, which anyone can set. On PostgreSQL it is
the session role the event store's own connections authenticated as (`SELECT session_user`).
A trusted server component that authenticated someone itself — the KPI ingest (`ingest:<topic>`),
a web server's signed-in user — passes that principal to the ledger service
(`OkrLedger(settings, principal=...)`); the CLI never does. No setting, option or argument
names the actor.
"""

import os
import pwd
from typing import Any

from okr.domain.errors import DomainError


class NoPrincipal(DomainError):
    """The account acting cannot be named; nothing is recorded without an actor."""


def os_account() -> str:
    """The name of the operating-system account this process runs as (effective uid)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise NoPrincipal(f"the operating-system account running okr (uid {uid}) has no name "
                          "in the user database, and a write is recorded under that account "
                          "(its actor); run okr as a named user") from None


def session_role(recorder: Any) -> str:
    """The PostgreSQL role the event store's connections are authenticated as."""
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("SELECT session_user")
        row = cursor.fetchone()
    return str(row["session_user"] if isinstance(row, dict) else row[0])


def feed(topic: str) -> str:
    """The principal of readings an external feed sent to `topic`, recorded by the ingest."""
    return f"ingest:{topic}"
