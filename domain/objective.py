"""An objective: the qualitative goal its key results measure."""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import (
    LedgerAggregate,
    aggregate_id,
    check_key,
    check_reason,
    check_text,
    revision_reason,
)
from okr.domain.errors import DomainError
from okr.domain.vocab import Level, ObjectiveStatus, OkrType, parse_choice

# How many objectives an alignment chain may hold above one (company → department → team →
# … ): deep enough for any organisation chart, shallow enough that every view can walk it.
MAX_ALIGNMENT_DEPTH = 32


def check_alignment(key: str, parent: str, parent_of: Callable[[str], str | None]) -> None:
    """Refuse aligning `key` under `parent` when that makes a cycle (`parent` is `key` or one
    of its descendants) or a chain of more than MAX_ALIGNMENT_DEPTH objectives above `key`.
    `parent_of` gives an existing objective's parent."""
    if parent == key:
        raise DomainError(f"objective {key} cannot be its own parent")
    chain = [parent]
    while True:
        if chain[-1] == key:
            path = " → ".join([key, *chain])
            raise DomainError(f"objective {key} cannot be aligned under {parent}: that makes "
                              f"a cycle ({path})")
        if len(chain) > MAX_ALIGNMENT_DEPTH:
            raise DomainError(f"objective {key} cannot be aligned under {parent}: the chain "
                              f"above it would be deeper than {MAX_ALIGNMENT_DEPTH} objectives")
        above = parent_of(chain[-1])
        if above is None:
            return
        chain.append(above)


class Objective(LedgerAggregate):
    """What we want to achieve in a cycle, owned by a person on a team."""

    # Version 2 keeps `carried_from` (okr cycle carry): snapshots taken before it lack it.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["carried_from"] = None

    @staticmethod
    def create_id(key: str, **_: object) -> UUID:
        return aggregate_id("objective", key)

    @classmethod
    def add(cls, key: str, title: str, cycle: str, owner: str, team: str, level: str,
            okr_type: str, description: str, parent: str | None, actor: str,
            plan_revision: bool = False, reason: str | None = None,
            effective_at: datetime | None = None,
            carried_from: str | None = None) -> "Objective":
        """Create an objective; after the plan is committed it is a revision and needs a reason.
        `carried_from`: the objective of an earlier cycle it continues (okr cycle carry)."""
        check_key(key, "objective")
        if carried_from is not None:
            check_key(carried_from, "objective")
        reason = revision_reason(plan_revision, reason, f"adding objective {key}")
        return cls(
            key=key,
            title=check_text(title, "objective title", max_len=200),
            cycle=cycle,
            owner=check_text(owner, "owner", max_len=100),
            team=check_text(team, "team", max_len=100, blank_ok=True),
            level=parse_choice(Level, level, "level").value,
            okr_type=parse_choice(OkrType, okr_type, "type").value,
            description=check_text(description, "description", max_len=4000, blank_ok=True),
            parent=parent,
            actor=actor,
            plan_revision=plan_revision,
            reason=reason,
            effective_at=effective_at,
            carried_from=carried_from,
        )

    class ObjectiveAdded(LedgerAggregate.Created):
        """An objective planned. Version 2 added `carried_from` (the objective of an earlier
        cycle it was carried forward from); objectives stored before it were carried from
        none."""

        class_version = 2
        key: str
        title: str
        cycle: str
        owner: str
        team: str
        level: str
        okr_type: str
        description: str
        parent: str | None
        actor: str
        plan_revision: bool
        reason: str | None
        effective_at: datetime | None
        carried_from: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["carried_from"] = None

    @event(ObjectiveAdded)
    def __init__(self, key: str, title: str, cycle: str, owner: str, team: str, level: str,
                 okr_type: str, description: str, parent: str | None, actor: str,
                 plan_revision: bool, reason: str | None,
                 effective_at: datetime | None = None,
                 carried_from: str | None = None) -> None:
        self.key = key
        self.title = title
        self.cycle = cycle
        self.owner = owner
        self.team = team
        self.level = level
        self.okr_type = okr_type
        self.description = description
        self.parent = parent
        self.status = ObjectiveStatus.ACTIVE.value
        self.carried_from = carried_from

    def _check_active(self, what: str) -> None:
        if self.status != ObjectiveStatus.ACTIVE.value:
            raise DomainError(f"objective {self.key} is {self.status}; cannot {what}")

    def retitle(self, title: str, description: str | None, actor: str,
                reason: str | None = None, effective_at: datetime | None = None) -> None:
        """Change the title (and optionally the description)."""
        self._check_active("retitle it")
        title = check_text(title, "objective title", max_len=200)
        desc = (self.description if description is None
                else check_text(description, "description", max_len=4000, blank_ok=True))
        if title == self.title and desc == self.description:
            raise DomainError(f"objective {self.key} already has that title and description")
        self._retitle(title=title, description=desc, actor=actor, reason=check_reason(reason),
                      effective_at=effective_at)

    @event("ObjectiveRetitled")
    def _retitle(self, title: str, description: str, actor: str, reason: str | None,
                 effective_at: datetime | None = None) -> None:
        self.title = title
        self.description = description

    def change_owner(self, owner: str, team: str | None, actor: str,
                     reason: str | None = None, effective_at: datetime | None = None) -> None:
        """Hand the objective to another owner (and optionally team)."""
        owner = check_text(owner, "owner", max_len=100)
        new_team = self.team if team is None else check_text(team, "team", max_len=100,
                                                                blank_ok=True)
        if owner == self.owner and new_team == self.team:
            raise DomainError(f"objective {self.key} is already owned by {owner} "
                              f"on team {new_team or '-'}")
        self._change_owner(owner=owner, team=new_team, actor=actor, reason=check_reason(reason),
                           effective_at=effective_at)

    @event("ObjectiveOwnerChanged")
    def _change_owner(self, owner: str, team: str, actor: str, reason: str | None,
                      effective_at: datetime | None = None) -> None:
        self.owner = owner
        self.team = team

    def realign(self, parent: str | None, actor: str, plan_revision: bool,
                reason: str | None = None, effective_at: datetime | None = None) -> None:
        """Align under another parent objective (None: top level)."""
        self._check_active("re-align it")
        if parent == self.key:
            raise DomainError(f"objective {self.key} cannot be its own parent")
        if parent == self.parent:
            raise DomainError(f"objective {self.key} is already aligned to {parent or 'nothing'}")
        reason = revision_reason(plan_revision, reason, f"re-aligning {self.key}")
        self._realign(parent=parent, actor=actor, plan_revision=plan_revision, reason=reason,
                      effective_at=effective_at)

    @event("ObjectiveRealigned")
    def _realign(self, parent: str | None, actor: str, plan_revision: bool,
                 reason: str | None, effective_at: datetime | None = None) -> None:
        self.parent = parent

    def change_type(self, okr_type: str, actor: str, plan_revision: bool,
                    reason: str | None = None, effective_at: datetime | None = None) -> None:
        """Make the objective committed, aspirational or learning."""
        self._check_active("change its type")
        new_type = parse_choice(OkrType, okr_type, "type").value
        if new_type == self.okr_type:
            raise DomainError(f"objective {self.key} is already {new_type}")
        reason = revision_reason(plan_revision, reason, f"changing the type of {self.key}")
        self._change_type(okr_type=new_type, actor=actor, plan_revision=plan_revision,
                          reason=reason, effective_at=effective_at)

    @event("ObjectiveTypeChanged")
    def _change_type(self, okr_type: str, actor: str, plan_revision: bool,
                     reason: str | None, effective_at: datetime | None = None) -> None:
        self.okr_type = okr_type

    def abandon(self, actor: str, reason: str | None,
                effective_at: datetime | None = None) -> None:
        """Stop pursuing the objective; always needs a reason."""
        self._check_active("abandon it")
        reason = check_reason(reason)
        if reason is None:
            raise DomainError(f"abandoning objective {self.key} needs a reason (--reason)")
        self._set_status(status=ObjectiveStatus.ABANDONED.value, actor=actor, reason=reason,
                         effective_at=effective_at)

    def close(self, status: str, actor: str, reason: str | None = None,
              effective_at: datetime | None = None) -> None:
        """Close as achieved or missed."""
        self._check_active("close it")
        final = parse_choice(ObjectiveStatus, status, "final status")
        if final not in (ObjectiveStatus.ACHIEVED, ObjectiveStatus.MISSED):
            raise DomainError("an objective closes as 'achieved' or 'missed' "
                              "(use 'okr objective abandon' to abandon it)")
        self._set_status(status=final.value, actor=actor, reason=check_reason(reason),
                         effective_at=effective_at)

    @event("ObjectiveStatusChanged")
    def _set_status(self, status: str, actor: str, reason: str | None,
                    effective_at: datetime | None = None) -> None:
        self.status = status

