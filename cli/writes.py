"""What the write commands share: reading a person's input, and reporting a write.

Every write goes through the ledger Application (validated, one event or more, or nothing),
then is published to Kafka best effort; the write never fails because Kafka is away.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from okr.cli.context import State, state, want_json
from okr.cli.errors import UserError
from okr.cli.output import emit, visible

if TYPE_CHECKING:
    from okr.domain.notices import Notice
    from okr.domain.shapes import Phase

JSON = typer.Option(False, "--json", help="Print JSON.")
REASON = typer.Option(None, "--reason", "-r", help="Why (required for plan revisions).")


# ---- input parsing ----------------------------------------------------------------------

def number(text: str, what: str) -> float:
    """A finite number typed by a person in ASCII decimal (domain/numbers.py), or a one-line
    error."""
    from okr.domain.numbers import parse_number
    return parse_number(text, what)


def opt_number(text: str | None, what: str) -> float | None:
    return None if text is None else number(text, what)


def when(st: State, text: str | None) -> datetime | None:
    """A person's time in their zone (None stays None)."""
    from okr.cli.times import parse_when
    return None if text is None else parse_when(text, st.settings.timezone)


def phases(st: State, items: list[str]) -> "list[Phase]":
    """Parse `--phase 2026-10-31=2.1` items into phased targets."""
    out: list[Phase] = []
    for item in items:
        at, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"phase {item!r} should look like 2026-10-31=2.1 (date=value)")
        t = when(st, at)
        assert t is not None  # `at` is text: when() said it back as a time
        out.append({"at": t, "value": number(value, "phased target")})
    return out


def not_both(first: bool, second: bool, first_name: str, second_name: str) -> None:
    """Two options that undo each other, given together: one line."""
    if first and second:
        raise UserError(f"give {first_name} or {second_name}, not both")


def kpi_changes(*, tags: list[str], **fields: Any) -> dict[str, Any]:
    """What `okr kpi update` changes: the fields given (tags when any), or a one-line error."""
    changes = {k: v for k, v in fields.items() if v is not None}
    if tags:
        changes["tags"] = tags
    if not changes:
        raise UserError("nothing to update: give at least one of --name, --unit, --direction, "
                        "--target, --green, --red, --cadence, --tag, --owner")
    return changes


# ---- output -----------------------------------------------------------------------------

def done(ctx: typer.Context, as_json: bool, message: str, data: dict[str, Any],
         then: Sequence[str] = (), *, in_force: datetime | None = None) -> None:
    """Report a successful write, then publish it to Kafka best effort (or leave that to a
    running relay). `message` is one line (a newline in it is shown as ␊: it may hold stored
    text); `then` are lines of their own after it; `in_force`: when a write given
    --effective took effect, said back."""
    st = state(ctx)
    if in_force is not None:
        message = f"{message}, in force from {said(st, in_force)}"
        data = {**data, "effective_at": in_force}
    if st.settings.inline_publish:
        from okr.cli.publish import after_write_unless_relaying
        published = after_write_unless_relaying(st)
    else:
        published = "not published now (OKR_INLINE_PUBLISH is off): run 'okr relay --once'"
    lines = [visible(line) for line in (message, *then)]
    emit({**data, "published": published}, want_json(ctx, as_json),
         "\n".join([*lines, published] if published else lines))


def said(st: State, t: datetime) -> str:
    """A time said back in the person's zone, with UTC beside it."""
    from okr.cli.times import say
    return say(t, st.settings.timezone)


def warn(st: State, notice: "Notice") -> None:
    """Say a write's warning (domain/notices.py) in one line on stderr, its times in the
    person's zone with UTC beside them."""
    import sys
    print(visible(f"okr: warning: {notice.said(lambda t: said(st, t))}"), file=sys.stderr)


def phases_said(phases: Sequence[Mapping[str, Any]], zone: str | None) -> str:
    """Phased targets in a sentence or a table's cell, each instant said back in the
    person's `zone` with UTC beside it: `50 by 2026-11-15T00:00:00+09:00
    (2026-11-14T15:00:00Z), 60 by …` ('none' for none)."""
    from okr.cli.times import say
    from okr.domain.numbers import figure

    def when(at: Any) -> str:
        if isinstance(at, str):  # a record's JSON: ISO 8601
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        return say(at, zone) if isinstance(at, datetime) else str(at)

    return ", ".join(f"{figure(p['value'])} by {when(p['at'])}" for p in phases) or "none"


def in_force(item: Any, effective: str | None) -> datetime | None:
    """When a write given --effective took effect (the item's latest change), else None."""
    return None if effective is None else item.in_force_from
