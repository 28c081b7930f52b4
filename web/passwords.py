"""Passwords for web sign-in: argon2id (argon2-cffi), salted and slow, since people choose them.

The ledger records only the hash (UserPasswordSet); the password is read from a prompt or
stdin, never from the command line, and never shown.
"""

from typing import Any

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a sign-in from costing more


def check_password(password: str) -> str:
    """The password, or a one-line error (BadInput) when it is too short or too long."""
    from okr.cli.errors import UserError

    if len(password) < MIN_LENGTH:
        raise UserError(f"a password needs {MIN_LENGTH} characters at least; this one has "
                        f"{len(password)}")
    if len(password) > MAX_LENGTH:
        raise UserError(f"a password has {MAX_LENGTH} characters at most")
    return password


def _hasher() -> Any:
    from argon2 import PasswordHasher
    return PasswordHasher()  # argon2id, the library's (RFC 9106) parameters


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of a checked password."""
    return str(_hasher().hash(check_password(password)))


# Verified when the user is unknown, has no password or sent one over the bound, so that every
# sign-in costs one argon2 verification (no telling names apart by the time an answer takes).
# Made when the server starts (prepare), not by the first unknown name, whose answer would
# then take a hash longer.
_DUMMY: str | None = None


def prepare() -> None:
    """Make the dummy hash now, if not yet made."""
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hash_password("x" * MIN_LENGTH)


def verify(password: str, recorded: str | None) -> bool:
    """Whether `password` matches the recorded hash (False when none is recorded, or the
    password is empty or too long) — always after exactly one argon2 verification."""
    from argon2.exceptions import InvalidHashError, VerificationError

    prepare()  # done at server start; here for callers outside a server
    usable = recorded is not None and 0 < len(password) <= MAX_LENGTH
    if not usable:
        assert _DUMMY is not None
        recorded, password = _DUMMY, "y" * MIN_LENGTH
    try:
        return bool(_hasher().verify(recorded, password)) and usable
    except (VerificationError, InvalidHashError):
        return False
