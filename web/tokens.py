"""Sign-in tokens: 32 random bytes, shown once; the ledger records only their SHA-256.

A token reads `NAME:SECRET`, so the server finds the user without a search; the secret is
URL-safe base64, which has no ':' (a name may). Hashing with SHA-256 is enough here, unlike
for passwords: 256 random bits cannot be guessed from their hash.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    """A new token: the text handed to the user once, and what the ledger records."""

    secret: str
    token_id: str
    token_hash: str


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_token(name: str) -> Token:
    """A fresh token for user `name`."""
    text = f"{name}:{secrets.token_urlsafe(32)}"
    return Token(text, secrets.token_hex(8), digest(text))


def user_of(token: str) -> str | None:
    """The user name a token claims (not yet checked), or None when it is not shaped so."""
    name, sep, secret = token.strip().rpartition(":")
    return name if sep and name and len(secret) >= 40 else None


def matches(token: str, hashes: dict[str, str]) -> bool:
    """Whether the token's hash is one of the user's recorded token hashes (constant time)."""
    h = digest(token.strip())
    found = False
    for recorded in hashes.values():
        found |= hmac.compare_digest(h, recorded)
    return found
