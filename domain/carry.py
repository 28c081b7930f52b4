"""Carrying a cycle's objectives and key results forward: which ones, and under what keys.

A carried item is a new item of the next cycle whose creation event records the item it was
carried from (`carried_from` on ObjectiveAdded and KeyResultAdded). Keys are unique across
cycles, so the copy gets its origin's key with the target cycle's appended:
`rev-2x` carried into 2027-Q1 is `rev-2x.2027-Q1`; carried on into 2027-Q2 it becomes
`rev-2x.2027-Q2` (the suffix of the cycle it was carried into is replaced, not stacked).
"""

from datetime import datetime

from okr.domain.base import check_key
from okr.domain.errors import DomainError
from okr.domain.periods import Window
from okr.domain.vocab import ObjectiveStatus

# A key result is finished when its score has reached 1.0 (docs/scoring.md: progress is
# normalised to 0–1 and capped there); one never scored (no check-in, no reading) is not.
FINISHED = 1.0


def unfinished(progress: float | None) -> bool:
    """Whether a key result scored `progress` at its cycle's end (or now, if earlier) is
    unfinished: below 1.0, or never scored."""
    return progress is None or progress < FINISHED


def carried_key(key: str, carried_from: str | None, source: str, target: str) -> str:
    """The key of `key` (an item of cycle `source`) carried into cycle `target`."""
    root = key
    if carried_from is not None and key.endswith(f".{source}"):
        root = key[: -len(source) - 1]
    new = f"{root}.{target}"
    try:
        return check_key(new, "carried")
    except DomainError:
        raise DomainError(f"{key} carried into {target} would be keyed {new!r}, which is not a "
                          "valid key (at most 64 letters, digits, '.', '_', ':' or '-'); "
                          "nothing was carried") from None


def check_carry(source: str, source_window: Window, target: str, target_window: Window
                ) -> None:
    """Refuse carrying a cycle into itself or into one that does not come after it (starts
    and ends later)."""
    if source == target:
        raise DomainError(f"cannot carry cycle {source} into itself; name the next cycle")
    if not (target_window.start > source_window.start and target_window.end > source_window.end):
        raise DomainError(f"cycle {target} does not come after {source} (it must start and end "
                          f"later); carry forward into a later cycle")


def check_carry_effective(effective: datetime | None, target: str, target_window: Window
                          ) -> None:
    """Refuse a carry's `--effective` before the target cycle starts: its copies count from
    that start at the earliest (the rest of the bounds are every plan change's: a reason,
    not in the future)."""
    if effective is not None and effective < target_window.start:
        raise DomainError("--effective {effective} is before cycle {target} starts ({start}): "
                          "items carried into it count from its start at the earliest",
                          effective=effective, target=target, start=target_window.start)


def carries_objective(status: str, unfinished_only: bool, krs_unfinished: list[bool]) -> bool:
    """Whether an objective is carried: never an abandoned one; with `unfinished_only`, not
    one closed as achieved, nor one whose key results are all finished."""
    if status == ObjectiveStatus.ABANDONED.value:
        return False
    if not unfinished_only:
        return True
    if status == ObjectiveStatus.ACHIEVED.value:
        return False
    return not krs_unfinished or any(krs_unfinished)
