"""A user of the web app and API: a name, a role, a team, and the hashes of their tokens.

Users are the ledger's own events, so who was given which role, and when a token was issued
and by whom, is on the audited record like every other change. Only a token's SHA-256 is
recorded: a token is 32 random bytes, so its hash cannot be turned back into it. A password
is recorded as its argon2id hash (slow and salted, since people choose passwords); views show
that one was set, never the hash.

A token is revoked, or a user disabled and enabled again, by events of their own with the
actor and a reason: nothing is deleted. A revoked token stays revoked (enabling a user does
not bring it back); a disabled user's tokens and password sign nobody in until enabled.
"""

import re
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import LedgerAggregate, aggregate_id, check_key, check_reason, check_text
from okr.domain.errors import DomainError
from okr.domain.vocab import Role, parse_choice

_HASH = re.compile(r"[0-9a-f]{64}")
_TOKEN_ID = re.compile(r"[0-9a-f]{8,32}")
# An argon2id hash in its PHC string form (web/passwords.py makes them; the domain only keeps).
ARGON2ID = re.compile(r"\$argon2id\$v=19\$m=[0-9]{1,7},t=[0-9]{1,3},p=[0-9]{1,3}"
                      r"\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{16,128}")


class User(LedgerAggregate):
    """Someone who signs in to `okr serve`; the actor of what they write there."""

    # Class defaults, not set in __init__: users stored (and snapshotted) before tokens could
    # be revoked or users disabled read back with none revoked and enabled, no upcast needed.
    # Replaced, never changed in place, so the defaults are never shared state; a sequence,
    # not a set, so that a snapshot's JSON holds it.
    revoked: tuple[str, ...] = ()  # ids of revoked tokens
    disabled: bool = False

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
        """When the user was added, or last given a token or a password, a token revoked, the
        user disabled or enabled: their latest event, since every event of a user is about who
        they are and how they sign in."""
        return self.modified_on

    @property
    def live_token_hashes(self) -> dict[str, str]:
        """The hashes of the tokens that sign in now: none while disabled, never a revoked
        one."""
        if self.disabled:
            return {}
        return {i: h for i, h in self.token_hashes.items() if i not in self.revoked}

    def revoke_tokens(self, token_ids: list[str], reason: str | None, actor: str) -> None:
        """Revoke these tokens of the user (by id); each must be theirs and live."""
        why = _required(reason, "revoking a token")
        if not token_ids:
            raise DomainError(f"user {self.key} has no live token to revoke")
        for token_id in token_ids:
            if token_id not in self.token_hashes:
                known = ", ".join(sorted(self.token_hashes)) or "none"
                raise DomainError(f"user {self.key} has no token {token_id!r} (their tokens: "
                                  f"{known}; see okr token list {self.key})")
            if token_id in self.revoked:
                raise DomainError(f"token {token_id} of user {self.key} is already revoked")
        self._revoke_tokens(token_ids=sorted(set(token_ids)), actor=actor, reason=why)

    @event("UserTokensRevoked")
    def _revoke_tokens(self, token_ids: list[str], actor: str, reason: str) -> None:
        self.revoked = (*self.revoked, *token_ids)

    def disable(self, reason: str | None, actor: str) -> None:
        """Lock the user out: no sign-in, session or token of theirs is accepted until they
        are enabled."""
        why = _required(reason, f"disabling user {self.key}")
        if self.disabled:
            raise DomainError(f"user {self.key} is already disabled")
        self._disable(actor=actor, reason=why)

    @event("UserDisabled")
    def _disable(self, actor: str, reason: str) -> None:
        self.disabled = True

    def enable(self, reason: str | None, actor: str) -> None:
        """Let a disabled user sign in again (their revoked tokens stay revoked; sessions made
        before stay ended)."""
        why = _required(reason, f"enabling user {self.key}")
        if not self.disabled:
            raise DomainError(f"user {self.key} is not disabled; nothing to enable")
        self._enable(actor=actor, reason=why)

    @event("UserEnabled")
    def _enable(self, actor: str, reason: str) -> None:
        self.disabled = False

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


def _required(reason: str | None, doing: str) -> str:
    """The reason, checked; a change of who may sign in is never made without one."""
    why = check_reason(reason)
    if why is None:
        raise DomainError(f"{doing} needs a reason (--reason)")
    return why
