"""Whether the signing key's file and directory are fit to sign with: only the owner may read
the key, and only the owner may write where it lives (others could read it, or swap it).

Only the standard library: a CLI write asks before it saves anything (cli/publish.py), so a
write whose own publishing would be refused for the key's set-up is refused with nothing
written, and asking costs the write two stat() calls.
"""

import stat
from pathlib import Path

from okr.settings import SettingsError

_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def check_directory(directory: Path) -> None:
    """Refuse a key directory others can write: they could swap the key, or plant theirs."""
    if directory.stat().st_mode & _OTHERS_WRITE:
        raise SettingsError(f"{directory} is writable by others: the signing key cannot be "
                            f"kept there (chmod go-w {directory}, or set OKR_SIGNING_KEY)")


def check_file(path: Path) -> None:
    """Refuse a key file anyone but its owner can read or write."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SettingsError(f"{path} is readable or writable by others (mode {mode:o}): "
                            f"chmod 600 {path}")


def check_usable(path: Path) -> None:
    """Raise SettingsError now if signing with the key kept in `path` would be refused for its
    mode or its directory's (a missing key is created on first use: only an existing
    directory it would go in is asked about). Creates and reads nothing."""
    try:
        if path.exists():
            check_directory(path.parent)
            check_file(path)
        elif path.parent.is_dir():
            check_directory(path.parent)
    except PermissionError as exc:
        raise SettingsError(f"the signing key {path} cannot be read by this account "
                            f"({exc.strerror}): give it access, or set OKR_INLINE_PUBLISH=off "
                            "and leave publishing to the relay's account") from None
