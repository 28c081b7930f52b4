"""A stored event that cannot be read as okr wrote it: edited outside okr (sqlite3, psql).

Raised where a stored event is read (the ledger's mapper, the relay's and the verifier's
envelope), so such an edit is one line a person can act on, never a traceback. Imports nothing
heavy: the envelope module raises it too.
"""

from okr.errors import VerificationFailed


class StoredEventUnreadable(VerificationFailed):
    """A stored event cannot be read as okr wrote it (its state is not the bytes of a JSON
    object with the event's fields, or its topic names no event class): the store was edited
    outside okr. One line, exit 1 — `okr audit verify` names it as altered."""


def unreadable(position: int | None, originator_id: object, version: object,
               why: BaseException | str) -> StoredEventUnreadable:
    """The one-line finding for a stored event that cannot be read."""
    if not isinstance(why, str) and why.__cause__ is not None:  # the library's wrapper
        why = why.__cause__
    reason = why if isinstance(why, str) else f"{type(why).__name__}: {why}"
    reason = (reason.strip().splitlines() or [""])[0][:200]
    where = f"at position {position}" if position is not None else "of"
    return StoredEventUnreadable(
        f"the event store's event {where} aggregate {originator_id} version {version} cannot "
        f"be read ({reason}): it was edited outside okr — run 'okr audit verify'; restore "
        "events.sqlite from a backup")
