"""A user of the web app and API: a name, a role, a team, and the hashes of their tokens.

Users are the ledger's own events, so who was given which role, and when a token was issued
and by whom, is on the audited record like every other change. Only a token's SHA-256 is
recorded: a token is 32 random bytes, so its hash cannot be turned back into it. A password
is recorded as its argon2id hash (slow and salted, since people choose passwords); views show
that one was set, never the hash.
"""

import re
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import LedgerAggregate, aggregate_id, check_key, check_text
from okr.domain.errors import DomainError
from okr.domain.vocab import Role, parse_choice

_HASH = re.compile(r"[0-9a-f]{64}")
_TOKEN_ID = re.compile(r"[0-9a-f]{8,32}")
# An argon2id hash in its PHC string form (web/passwords.py makes them; the domain only keeps).
ARGON2ID = re.compile(r"\$argon2id\$v=19\$m=[0-9]{1,7},t=[0-9]{1,3},p=[0-9]{1,3}"
                      r"\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{16,128}")


class User(LedgerAggregate):
    """Someone who signs in to `okr serve`; the actor of what they write there."""

    @staticmethod
    def create_id(key: str, **_: object) -> UUID:
        return aggregate_id("user", key)

    @classmethod
    def add(cls, key: str, role: str, team: str, actor: str) -> "User":
        """Add a user with a role (and, for members, the team whose key results they own)."""
        r = parse_choice(Role, role, "role").value
        t = check_text(team, "team", max_len=100, blank_ok=True)
        if r == Role.MEMBER and not t:
            raise DomainError("a member checks in on their own team's key results: give "
                              "--team TEAM")
        return cls(key=check_key(key, "user"), role=r, team=t, actor=actor)

    @event("UserAdded")
    def __init__(self, key: str, role: str, team: str, actor: str) -> None:
        self.key = key
        self.role = role
        self.team = team
        self.token_hashes: dict[str, str] = {}  # token id → SHA-256 of the token
        self.password_hash: str | None = None  # argon2id, for the sign-in check only

    @property
    def credentials_changed_at(self) -> datetime:
        """When the user was added, or last given a token or a password: their latest event,
        since every event of a user is about who they are and how they sign in."""
        return self.modified_on

    def issue_token(self, token_id: str, token_hash: str, actor: str) -> None:
        """Record a new sign-in token by its id and hash (the token itself is never stored)."""
        if not _TOKEN_ID.fullmatch(token_id) or not _HASH.fullmatch(token_hash):
            raise DomainError("a token is recorded by a hex id and its SHA-256 in hex")
        if token_id in self.token_hashes:
            raise DomainError(f"user {self.key} already has a token {token_id}")
        self._issue_token(token_id=token_id, token_hash=token_hash, actor=actor)

    @event("UserTokenIssued")
    def _issue_token(self, token_id: str, token_hash: str, actor: str) -> None:
        self.token_hashes[token_id] = token_hash

    def set_password(self, password_hash: str, actor: str) -> None:
        """Record the argon2id hash of the user's new password (the password is never stored);
        it replaces the one before."""
        if not ARGON2ID.fullmatch(password_hash):
            raise DomainError("a password is recorded as its argon2id hash ($argon2id$v=19$…)")
        self._set_password(password_hash=password_hash, actor=actor)

    @event("UserPasswordSet")
    def _set_password(self, password_hash: str, actor: str) -> None:
        self.password_hash = password_hash
