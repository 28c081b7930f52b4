"""Ctrl-C, and the writes it must not cut short once they are being saved.

Before a write's save begins, Ctrl-C ends the command with `okr: interrupted` (exit 130) and
nothing is written. Once the save has begun (the ledger calls `hold` first), the store may
commit at any moment, and a command cut short then would say "interrupted" of a write that is
recorded — and its natural re-run would record it twice (an import of check-ins). So from
then on Ctrl-C lets the command finish and say what it recorded, with one line saying the
interrupt came after the save; a second Ctrl-C ends it at once, with that same line.
"""

import sys


class Interrupted(BaseException):
    """Ctrl-C. Not a KeyboardInterrupt, which click would catch and answer with an empty line
    and 'Aborted!': run() ends every command on it in one line, exit 130."""


AFTER_SAVE = "okr: interrupted after the write was saved: it stands as recorded above"

_saving = False  # a write's save has begun in this process
_pending = False  # Ctrl-C came after that, and was let pass
_raised = False  # Ctrl-C ended the command (see came)


def hold() -> None:
    """A write's save begins: from now on Ctrl-C lets the command finish."""
    global _saving
    _saving = True


def interrupted(signum: int, frame: object) -> None:
    """The SIGINT handler."""
    global _pending, _raised
    if _saving and not _pending:
        _pending = True
        return
    _raised = True
    raise Interrupted


def came() -> bool:
    """Whether Ctrl-C has ended this command. DuckDB runs the handler in the middle of a query
    and answers its Interrupted with an error of its own (`RuntimeError: Query interrupted`):
    an error that follows a Ctrl-C is the interrupt's doing, and ends as one."""
    return _raised


def after_save() -> bool:
    """Whether the write had begun saving when Ctrl-C came."""
    return _saving


def said_after_save() -> None:
    """Say, when Ctrl-C was let pass, that it came after the save."""
    if _pending:
        print(AFTER_SAVE, file=sys.stderr)


def reset() -> None:
    """For a new command in the same process (tests run several)."""
    global _saving, _pending, _raised
    _saving = _pending = _raised = False
