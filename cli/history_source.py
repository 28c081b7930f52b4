"""Where the CLI's history reads come from: the ledger's facts, in position order."""

from typing import TYPE_CHECKING

from okr.cli.context import State

if TYPE_CHECKING:
    from okr.domain.history import Fact


def load_facts(st: State) -> "list[Fact]":
    """Every fact the ledger holds, as its envelopes say (chained from the event store)."""
    from okr.ledger.envelope import chained

    return [env.fact() for env in chained(st.ledger)]
