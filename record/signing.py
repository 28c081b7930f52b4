"""The relay's Ed25519 signing key: created on first use (mode 0600), never printed.

It lives where OKR_SIGNING_KEY says (default: the data directory). A key readable by others,
or in a directory others can write, is refused: they could read it, or swap it for theirs.

Checkpoints are signed over the canonical JSON of {position, head_hash, count, root, time}
(checkpoints from before the Merkle tree lack `root`); an auditor verifies them with the
public key from `okr keys export`.
"""

import base64
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from okr.files import create_once
from okr.record.envelope import canonical_json
from okr.record.key_file import check_directory, check_file
from okr.settings import SettingsError

KEY_FILE = "signing-key.pem"
SIGNED_FIELDS = ("position", "head_hash", "count", "time")


def _create(path: Path) -> None:
    """Write a new key, 0600 whatever the umask, in a directory others cannot write to.

    Two processes may sign their first checkpoint at once (a CLI write's inline publish and
    `okr relay`): each writes a private temporary file and links it into place; the first link
    wins and the other process uses the key that won."""
    home = path.parent
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_directory(home)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    create_once(path, pem)  # complete or absent, and never over another's key


def _load(path: Path) -> Ed25519PrivateKey:
    """The key in a file that only its owner can read, in a directory only its owner writes."""
    check_directory(path.parent)
    check_file(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SettingsError(f"{path} does not hold an Ed25519 private key")
    return key


def private_key(path: Path) -> Ed25519PrivateKey:
    """The signing key kept in `path` (settings.signing_key_file), created (0600) on first
    use."""
    if not path.exists():
        _create(path)
    return _load(path)


def public_key_pem(path: Path) -> str:
    """The public key auditors keep, as PEM text (the key is created on first use)."""
    return _public_pem(private_key(path))


def existing_public_key_pem(path: Path) -> str | None:
    """The public key of an existing signing key, or None: verifying never creates a key."""
    if not path.exists():
        return None
    return _public_pem(_load(path))


def _public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signed_bytes(checkpoint: dict[str, Any]) -> bytes:
    """What a signature covers: the chain head, the time and (since the Merkle tree) the root."""
    fields = (*SIGNED_FIELDS, "root") if "root" in checkpoint else SIGNED_FIELDS
    return canonical_json({k: checkpoint[k] for k in fields})


def sign(path: Path, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint with its base64 signature, by the key kept in `path`."""
    signature = private_key(path).sign(signed_bytes(checkpoint))
    return {**checkpoint, "signature": base64.b64encode(signature).decode()}


def verifier(public_pem: str) -> "Any":
    """A function telling whether a checkpoint's signature verifies with this public key."""
    key = load_public_key(public_pem)

    def ok(checkpoint: dict[str, Any]) -> bool:
        try:
            key.verify(base64.b64decode(str(checkpoint.get("signature", "")), validate=True),
                       signed_bytes(checkpoint))
            return True
        except (InvalidSignature, ValueError, KeyError, TypeError):
            return False
    return ok
