"""The words of the OKR/KPI vocabulary, as closed sets of values."""

from enum import StrEnum
from typing import TypeVar

from okr.domain.errors import DomainError

E = TypeVar("E", bound="StrEnum")


class CycleStatus(StrEnum):
    PLANNING = "planning"
    COMMITTED = "committed"
    CLOSED = "closed"


class Level(StrEnum):
    COMPANY = "company"
    DEPARTMENT = "department"
    TEAM = "team"
    INDIVIDUAL = "individual"
    CROSS_FUNCTIONAL = "cross-functional"


class OkrType(StrEnum):
    COMMITTED = "committed"
    ASPIRATIONAL = "aspirational"
    LEARNING = "learning"


class ObjectiveStatus(StrEnum):
    ACTIVE = "active"
    ACHIEVED = "achieved"
    MISSED = "missed"
    ABANDONED = "abandoned"


class KrKind(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    STAY_ABOVE = "stay-above"
    STAY_BELOW = "stay-below"
    RANGE = "range"
    MILESTONE = "milestone"


class InitiativeStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    DROPPED = "dropped"


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class Cadence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class Health(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


class Role(StrEnum):
    """What a web/API user may do: viewers read; members also check in on their own team's
    key results; planners change plans and check in anywhere; auditors read everything and
    export evidence; admins do all of it."""

    VIEWER = "viewer"
    MEMBER = "member"
    PLANNER = "planner"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Status(StrEnum):
    ON_TRACK = "on-track"
    AT_RISK = "at-risk"
    OFF_TRACK = "off-track"


# What a key result's status and an objective's, a team's and a roll-up's track say once their
# cycle is over at the instant viewed: a track predicts how the cycle will end, and it has.
FINAL = "final"


def parse_choice(enum: type[E], value: str, what: str) -> E:
    """Read a vocabulary word, or raise a DomainError listing the words allowed."""
    aliases = {"in_progress": "in-progress", "stay_above": "stay-above",
               "stay_below": "stay-below", "cross_functional": "cross-functional",
               "higher": "up", "lower": "down"}
    text = aliases.get(value.strip().lower(), value.strip().lower())
    try:
        return enum(text)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise DomainError(f"{what} {value!r} is not one of: {allowed}") from None
