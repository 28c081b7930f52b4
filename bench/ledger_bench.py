"""Ledger write throughput against raw eventsourcing on the same SQLite disk, same run.

- one command per commit: `OkrLedger.check_in` vs saving one-event aggregates one by one;
- bulk import: `okr import checkins` (ledger.imports) vs saving 100 events per commit.
"""

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import Result, Run, alternate
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from okr.domain.periods import cycle_of
from okr.ledger.app import OkrLedger
from okr.ledger.imports import import_csv
from okr.settings import load_settings


class Tick(Aggregate):
    """The smallest aggregate: created with one event carrying a value."""

    @event("Ticked")
    def __init__(self, value: float) -> None:
        self.value = value


class Raw(Application[object]):
    name = "raw"


def raw_app(home: Path) -> Raw:
    return Raw(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(home / "raw.sqlite")})


def ledger(home: Path, krs: int) -> tuple[OkrLedger, list[str], datetime]:
    """A ledger with one objective of `krs` key results in the current quarter, committed."""
    app = OkrLedger(load_settings({"home": home}))
    now = datetime.now(UTC)
    cycle = cycle_of(now)
    app.add_cycle(cycle)
    app.add_objective("bench", "Benchmark objective", cycle=cycle, owner="bench")
    keys = [f"kr-{i}" for i in range(krs)]
    for key in keys:
        app.add_key_result(key, key, objective="bench", start=0, target=1_000_000)
    app.commit_cycle(cycle)
    start = app.cycle(cycle).start
    return app, keys, start


def one_per_commit(n: int, rounds: int = 5) -> Result:
    """`OkrLedger.check_in` (load, decide, one commit) vs saving one-event aggregates."""
    with tempfile.TemporaryDirectory() as tmp:
        base = raw_app(Path(tmp))
        app, keys, _ = ledger(Path(tmp) / "okr", 50)
        per = n // rounds
        ours, baseline = alternate(
            rounds,
            lambda r: [app.check_in(keys[i % len(keys)], float(i))
                       for i in range(r * per, (r + 1) * per)],
            lambda r: [base.save(Tick(float(i))) for i in range(r * per, (r + 1) * per)])
    ratio = baseline / ours  # seconds: the raw one is the faster
    return Result("ledger writes, one per commit", "check-ins/s", per * rounds / ours,
                  per * rounds / baseline, ">= 0.7", ratio >= 0.7,
                  notes={"n": per * rounds, "rounds": rounds})


def bulk_import(n: int, rounds: int = 5) -> Result:
    """`okr import checkins` (ledger.imports.import_csv: every line decided, then one
    transaction per file) vs saving 100 one-event aggregates per commit."""
    with tempfile.TemporaryDirectory() as tmp:
        base = raw_app(Path(tmp))
        app, keys, start = ledger(Path(tmp) / "okr", 200)
        per = n // rounds
        now = datetime.now(UTC)
        step = min(timedelta(seconds=1), (now - start) / (n + 1))  # all inside the cycle, past
        files = []
        for r in range(rounds):
            path = Path(tmp) / f"checkins-{r}.csv"
            with path.open("w", encoding="utf-8") as f:
                f.write("kr,value,confidence,at\n")
                for i in range(r * per, (r + 1) * per):
                    f.write(f"{keys[i % len(keys)]},{i},0.5,"
                            f"{(start + step * (i + 1)).isoformat()}\n")
            files.append(path)
        parse: Callable[[str], datetime] = datetime.fromisoformat

        def raw_batches(r: int) -> None:
            for i in range(r * per, (r + 1) * per, 100):
                base.save(*[Tick(float(j)) for j in range(i, min((r + 1) * per, i + 100))])

        ours, baseline = alternate(
            rounds, lambda r: import_csv(app, files[r], "checkins", parse), raw_batches)
    ratio = baseline / ours
    return Result("bulk import (okr import)", "check-ins/s", per * rounds / ours,
                  per * rounds / baseline, ">= 0.5", ratio >= 0.5,
                  notes={"n": per * rounds, "rounds": rounds, "lines_per_file": per})


def run(run: Run) -> list[Result]:
    n_single, n_bulk = (2_000, 20_000) if run.scale == "small" else (10_000, 200_000)
    return [one_per_commit(n_single), bulk_import(n_bulk)]

