"""Signed checkpoints and the relay's own record of every checkpoint it signed.

A checkpoint says "the log up to here is exactly this": the chain head (position, head_hash,
count) and the Merkle tree head (count leaves, root), with the time, signed with Ed25519.

The relay keeps each checkpoint it signs in its own append-only file, next to its signing key
(not in the event store, and out of the data directory when OKR_SIGNING_KEY is elsewhere):
the memory that a broker restart cannot wipe and a store edit cannot rewrite. From it the
relay republishes checkpoints after a broker wipe, and it refuses to sign a history that
contradicts any of them.
"""

import fcntl
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from okr.record import signing
from okr.record.envelope import canonical_json
from okr.settings import Settings

STATE = "range"  # the compact Merkle range at the checkpoint: kept in the file, never signed


class HistoryContradiction(RuntimeError):
    """The history to publish contradicts a checkpoint this relay signed before."""


def own_file(settings: Settings, topic: str) -> Path:
    """The relay's file of the checkpoints it signed for a topic, beside its signing key."""
    key = settings.signing_key_file
    return key.with_name(f"{key.stem}.{topic}.checkpoints.jsonl")


def make(settings: Settings, head: dict[str, Any], root: bytes,
         nodes: Sequence[bytes]) -> dict[str, Any]:
    """A signed checkpoint over a chain head and tree head (with the compact range kept for the
    relay's own file)."""
    body = {"position": head["position"], "head_hash": head["head_hash"],
            "count": head["count"], "root": root.hex(),
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    return {**signing.sign(settings.signing_key_file, body), STATE: [n.hex() for n in nodes]}


def public(checkpoint: dict[str, Any], topic: str) -> dict[str, Any]:
    """What is published on okr.checkpoints (and what auditors keep)."""
    return {**{k: v for k, v in checkpoint.items() if k != STATE}, "topic": topic}


def load_own(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every checkpoint the relay signed for a topic, oldest first. The newest is checked
    against the relay's key here (one that does not verify means the key was replaced or the
    file edited: HistoryContradiction, and the relay signs nothing); the one the relay resumes
    from is checked by `resume_point`. Checking each line at every start would cost a
    signature check per flush ever made."""
    path = own_file(settings, topic)
    if not path.exists():
        return []
    out = []
    with path.open(encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_SH)
        lines = f.read().splitlines()
    for n, line in enumerate(lines, start=1):
        try:
            cp = json.loads(line)
        except ValueError:
            if n == len(lines):  # a crash while appending cut the last line short
                break
            raise HistoryContradiction(f"{path} line {n} is not a checkpoint: the relay's "
                                       "record of what it signed was edited") from None
        if not isinstance(cp, dict):
            raise HistoryContradiction(f"{path} line {n} is not a checkpoint: the relay's "
                                       "record of what it signed was edited")
        out.append(cp)
    if out:
        check_signed(settings, out[-1], path)
    return out


def check_signed(settings: Settings, cp: dict[str, Any], path: Path | None = None) -> None:
    """A checkpoint of the relay's own file must verify with its key, and the compact range
    kept beside it must give the signed root."""
    ok = signing.verifier(signing.public_key_pem(settings.signing_key_file))
    where = path or "the relay's checkpoint file"
    if not ok(cp):
        raise HistoryContradiction(
            f"{where}: the checkpoint at {cp.get('count')} events does not verify with the "
            f"signing key {settings.signing_key_file}: the key was replaced or the file edited "
            "— refusing to sign")
    if STATE in cp and "root" in cp:
        from okr.record.merkle import CompactRange, ProofError
        try:
            root = CompactRange(int(cp["count"]), [bytes.fromhex(n) for n in cp[STATE]]).root()
        except (ProofError, ValueError, TypeError):
            root = b""
        if root.hex() != cp["root"]:
            raise HistoryContradiction(f"{where}: the tree state kept with the checkpoint at "
                                       f"{cp['count']} events was edited — refusing to sign")


def append_own(settings: Settings, topic: str, checkpoint: dict[str, Any]) -> None:
    """Add a signed checkpoint to the relay's file (0600, appended under a lock, synced)."""
    path = own_file(settings, topic)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(canonical_json(checkpoint) + b"\n")
        f.flush()
        os.fsync(f.fileno())


def contradiction(cp: dict[str, Any], position: int, head_hash: str, count: int) -> str | None:
    """Why the history at `count` events contradicts a signed checkpoint of that count, or
    None when it agrees."""
    if cp["position"] == position and cp["head_hash"] == head_hash:
        return None
    return (f"the event store contradicts the checkpoint signed {cp.get('time', '?')} at "
            f"{count} events (position {cp['position']}, head {cp['head_hash'][:16]}…): it now "
            f"holds position {position}, head {head_hash[:16]}… there — refusing to sign "
            "(was the store edited or an older copy restored?)")
