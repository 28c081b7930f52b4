"""The event vocabulary: every event the ledger records, in one table.

Each line names an event as okr.ledger publishes it (its `type`; the domain event class of
that name lives on the aggregate), the item kind it belongs to, the fields its `data` carries,
whether it starts an item, and, for a measurement, the field holding its valid time. Every
other list of events is derived from this one: the envelope's mapping and data contract
(record/envelope.py), the folds' created and measurement sets (history.py), the projection's
readings (projections/tables.py); tests/unit/test_vocabulary.py checks that the folds
(`history.APPLY`) and the aggregates' classes cover exactly these. Add a line for every new
event. Pure data: no imports of the aggregates (the folds must not load eventsourcing).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class EventWord:
    """One event of the vocabulary."""

    type: str  # its name on okr.ledger, and its class's name on the aggregate
    aggregate_type: str  # cycle, objective, key_result, initiative, kpi or user
    data: tuple[str, ...]  # the fields its `data` must carry (the valid time is lifted out)
    creates: bool = False  # it starts an item
    valid_time: str | None = None  # a measurement: the event attribute holding its valid time
    # fields a later version of the event added: records published before it lack them
    optional: tuple[str, ...] = ()


_KPI = ("cadence", "direction", "green", "name", "owner", "red", "tags", "target", "unit")

EVENTS: tuple[EventWord, ...] = (
    EventWord("CycleAdded", "cycle", ("end", "key", "start"), creates=True),
    EventWord("PlanCommitted", "cycle", ()),
    EventWord("CycleClosed", "cycle", ()),
    EventWord("CycleReopened", "cycle", ()),
    EventWord("ObjectiveAdded", "objective",
              ("cycle", "description", "key", "level", "okr_type", "owner", "parent",
               "plan_revision", "team", "title"), creates=True, optional=("carried_from",)),
    EventWord("ObjectiveRetitled", "objective", ("description", "title")),
    EventWord("ObjectiveOwnerChanged", "objective", ("owner", "team")),
    EventWord("ObjectiveRealigned", "objective", ("parent", "plan_revision")),
    EventWord("ObjectiveTypeChanged", "objective", ("okr_type", "plan_revision")),
    EventWord("ObjectiveStatusChanged", "objective", ("status",)),
    EventWord("KeyResultAdded", "key_result",
              ("cycle", "key", "kind", "objective", "phases", "plan_revision", "start",
               "target", "target_high", "title", "unit", "weight"), creates=True,
              optional=("tolerance", "carried_from")),
    EventWord("KeyResultRevised", "key_result",
              ("phases", "plan_revision", "start", "target", "target_high", "weight"),
              optional=("tolerance",)),
    EventWord("KeyResultMoved", "key_result", ("objective", "plan_revision")),
    EventWord("KeyResultRemoved", "key_result", ("plan_revision",)),
    EventWord("KpiLinked", "key_result", ("kpi",)),
    EventWord("KpiUnlinked", "key_result", ("kpi",)),
    EventWord("CheckInRecorded", "key_result", ("confidence", "note", "value"),
              valid_time="effective_at"),
    EventWord("InitiativeAdded", "initiative", ("key", "key_result", "owner", "title"),
              creates=True),
    EventWord("InitiativeStatusChanged", "initiative", ("status",)),
    EventWord("KpiAdded", "kpi", tuple(sorted((*_KPI, "key"))), creates=True),
    EventWord("KpiUpdated", "kpi", _KPI),
    EventWord("KpiReadingRecorded", "kpi", ("reading_id", "source", "value"),
              valid_time="observed_at"),
    EventWord("KpiRetired", "kpi", ()),
    EventWord("UserAdded", "user", ("key", "role", "team"), creates=True),
    EventWord("UserTokenIssued", "user", ("token_hash", "token_id")),
    EventWord("UserPasswordSet", "user", ("password_hash",)),
    EventWord("UserTokensRevoked", "user", ("token_ids",)),
    EventWord("UserDisabled", "user", ()),
    EventWord("UserEnabled", "user", ()),
)

BY_TYPE: dict[str, EventWord] = {w.type: w for w in EVENTS}
# The events that start an item.
CREATED = frozenset(w.type for w in EVENTS if w.creates)
# Check-ins and readings: facts measured at a valid time of their own, in position order.
MEASUREMENTS = tuple(w.type for w in EVENTS if w.valid_time)
# Measurement → the event attribute that holds its valid time.
VALID_TIME_FIELD = {w.type: w.valid_time for w in EVENTS if w.valid_time}
# Plan events that may say when they are in force (an `effective_at` attribute, lifted into
# the envelope's effective_at; absent or null: when recorded): the plan items' additions and
# changes, and a KPI's definition (`okr kpi add --effective`, for readings back-dated before
# it was typed). A cycle's lifecycle (commit, close, reopen) takes effect when recorded.
DATED = frozenset(w.type for w in EVENTS
                  if (w.aggregate_type in ("cycle", "objective", "key_result", "initiative")
                      or w.type == "KpiAdded")
                  and not w.valid_time
                  and w.type not in ("PlanCommitted", "CycleClosed", "CycleReopened"))
