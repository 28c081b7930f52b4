"""An initiative: the work undertaken to move a key result."""

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import LedgerAggregate, aggregate_id, check_key, check_reason, check_text
from okr.domain.errors import DomainError
from okr.domain.vocab import InitiativeStatus, parse_choice


class Initiative(LedgerAggregate):
    """A piece of work (a project, a campaign) that should move a key result."""

    @staticmethod
    def create_id(key: str, **_: object) -> UUID:
        return aggregate_id("initiative", key)

    @classmethod
    def add(cls, key: str, title: str, key_result: str, owner: str, actor: str,
            effective_at: datetime | None = None) -> "Initiative":
        """Plan an initiative for a key result."""
        return cls(key=check_key(key, "initiative"),
                   title=check_text(title, "initiative title", max_len=200),
                   key_result=key_result, owner=check_text(owner, "owner", max_len=100),
                   actor=actor, effective_at=effective_at)

    @event("InitiativeAdded")
    def __init__(self, key: str, title: str, key_result: str, owner: str, actor: str,
                 effective_at: datetime | None = None) -> None:
        self.key = key
        self.title = title
        self.key_result = key_result
        self.owner = owner
        self.status = InitiativeStatus.PLANNED.value

    def set_status(self, status: str, actor: str, reason: str | None = None,
                   effective_at: datetime | None = None) -> None:
        """Move the initiative to planned, in progress, done or dropped."""
        new = parse_choice(InitiativeStatus, status, "initiative status").value
        if new == self.status:
            raise DomainError(f"initiative {self.key} is already {new}")
        self._set_status(status=new, actor=actor, reason=check_reason(reason),
                         effective_at=effective_at)

    @event("InitiativeStatusChanged")
    def _set_status(self, status: str, actor: str, reason: str | None,
                    effective_at: datetime | None = None) -> None:
        self.status = status
