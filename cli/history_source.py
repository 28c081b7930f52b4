"""Where the CLI's history reads come from: the DuckDB projection's `events` table.

The projection is brought up to date from okr.ledger first (when no consumer runs), so a
review reads the same log an auditor replays.
"""

from typing import TYPE_CHECKING

from okr.cli.context import State

if TYPE_CHECKING:
    from okr.domain.history import Fact


def load_facts(st: State) -> "list[Fact]":
    """Every fact of the ledger, in position order, from the projection."""
    from okr.cli.reads import open_projection

    with open_projection(st) as proj:
        return list(proj.facts())
