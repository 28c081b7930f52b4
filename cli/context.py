"""Per-invocation state: settings, the ledger (opened on first use) and the --json switch."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from okr.ledger.app import OkrLedger
    from okr.settings import Settings


@dataclass
class State:
    """What every command needs; heavy objects are built lazily."""

    overrides: dict[str, Any] = field(default_factory=dict)
    json: bool = False
    _settings: "Settings | None" = None
    _ledger: "OkrLedger | None" = None

    @property
    def settings(self) -> "Settings":
        if self._settings is None:
            from okr.settings import load_settings
            self._settings = load_settings(self.overrides)
        return self._settings

    @property
    def ledger(self) -> "OkrLedger":
        if self._ledger is None:
            from okr.ledger.app import OkrLedger
            self._ledger = OkrLedger(self.settings)
        return self._ledger

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def want_json(ctx: typer.Context, flag: bool) -> bool:
    return flag or state(ctx).json

