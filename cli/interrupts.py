"""Ctrl-C, and the writes it must not cut short once they are being saved.

Before a write's save begins, Ctrl-C ends the command with `okr: interrupted` (exit 130) and
nothing is written. While the save runs (`saving`, around the store's transaction), Ctrl-C is
only remembered: raised inside the transaction it could leave the command unsure whether it
committed. When the save then fails, the command ends as interrupted (nothing was written);
when it committed, the command goes on to say what it recorded — a command cut short there
would say "interrupted" of a write that is recorded, and its natural re-run would record it
twice (an import of check-ins) — and one line says the interrupt came after the save. A
second Ctrl-C after the save ends the command at once, with that same line.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(BaseException):
    """Ctrl-C. Not a KeyboardInterrupt, which click would catch and answer with an empty line
    and 'Aborted!': run() ends every command on it in one line, exit 130."""


AFTER_SAVE = "okr: interrupted after the write was saved: it stands as recorded above"

_phase = "idle"  # "saving" while a save's transaction runs, "saved" once one committed
_pending = False  # a Ctrl-C that came while saving or after the save, not acted on yet
_said = False
_raised = False  # Ctrl-C ended the command (see came)


def reset() -> None:
    """For a new command in the same process (tests run several)."""
    global _phase, _pending, _said, _raised
    _phase, _pending, _said, _raised = "idle", False, False, False


@contextmanager
def saving() -> Iterator[None]:
    """Around a save's transaction (the ledger's `save_guard`)."""
    global _phase, _pending, _raised
    _phase = "saving"
    try:
        yield
    except BaseException:
        _phase = "idle"
        if _pending:  # Ctrl-C while a save that failed ran: nothing was written
            _pending, _raised = False, True
            raise Interrupted from None
        raise
    _phase = "saved"


def interrupted(signum: int, frame: object) -> None:
    """The SIGINT handler."""
    global _pending, _raised
    if _phase == "saving" or (_phase == "saved" and not _pending):
        _pending = True
        return
    _raised = True
    raise Interrupted


def came() -> bool:
    """Whether Ctrl-C has ended this command. DuckDB runs the handler in the middle of a query
    and answers its Interrupted with an error of its own (`RuntimeError: Query interrupted`):
    an error that follows a Ctrl-C is the interrupt's doing, and ends as one."""
    return _raised


def ended_by_interrupt() -> int:
    """What a command ended by Ctrl-C exits with, having said why in one line."""
    global _pending
    if _phase == "saved":  # a second Ctrl-C after the save: the write stands all the same
        _pending = True
        said_after_save()
        return 0
    print("okr: interrupted", file=sys.stderr)
    from okr.errors import INTERRUPTED
    return INTERRUPTED


def said_after_save() -> None:
    """Say once, when a Ctrl-C came during or after a save that committed, that it did."""
    global _said
    if _phase == "saved" and _pending and not _said:
        _said = True
        print(AFTER_SAVE, file=sys.stderr)
