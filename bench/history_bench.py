"""Write cost against history length: one check-in, one KPI reading and one KPI reading with
an idempotency id, each on an item with 20,000 earlier events and on one with 10, as a CLI
command pays it (a fresh ledger: nothing cached, the aggregate loaded from the store).

The two items of a pair live in one store and take turns (`alternate`), so the machine's load
hits both alike; the ratio is of the median writes, short ÷ long (1.0: history costs nothing;
the target, within 1.2×, is >= 0.83). Timed: load, decide and save (`OkrLedger.check_in`,
`record_reading`); opening the ledger is the same for both and left out.
"""

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common import Result, Run, alternate, median, say

from okr.domain.periods import cycle_of
from okr.ledger.app import OkrLedger
from okr.settings import Settings, load_settings

LONG, SHORT = 20_000, 10
WITHIN = 1.2


def _history(settings: Settings) -> None:
    """Two key results and four KPIs: LONG and SHORT earlier events each."""
    app = OkrLedger(settings)
    try:
        now = datetime.now(UTC)
        cycle = cycle_of(now)
        app.add_cycle(cycle)
        app.add_objective("o", "History length", cycle=cycle, owner="bench")
        for n in (LONG, SHORT):
            app.add_key_result(f"kr-{n}", "Check-ins", objective="o", target=1e9)
            app.add_kpi(f"kpi-{n}", "Readings", green=10, red=1)
            app.add_kpi(f"ids-{n}", "Readings with ids", green=10, red=1)
        app.commit_cycle(cycle)
        for n in (LONG, SHORT):
            # Written in memory and saved in batches (the generator's path): 20,000 commits
            # one by one would take minutes and measure nothing this stage is about.
            for make in ("kr", "kpi", "ids"):
                for start in range(0, n, 2000):
                    item = (app.key_result(f"kr-{n}") if make == "kr"
                            else app.kpi(f"{make}-{n}"))
                    for i in range(start, min(n, start + 2000)):
                        t = datetime.now(UTC)
                        if make == "kr":
                            item.check_in(float(i), 0.5, "", t, t, app.cycle(cycle).window,
                                          "bench")
                        else:
                            item.record(float(i), t, "feed", f"r-{i}" if make == "ids" else None,
                                        t, "bench", earlier=app.reading_of(item))
                    app.save(item)
    finally:
        app.close()


def _pair(settings: Settings, what: str, write: Callable[[OkrLedger, str, int], None],
          key: str, rounds: int) -> Result:
    def once(n: int, r: int) -> None:
        app = OkrLedger(settings)
        try:
            start = time.perf_counter()
            write(app, f"{key}-{n}", r)
            spent[n].append((time.perf_counter() - start) * 1000)
        finally:
            app.close()

    spent: dict[int, list[float]] = {LONG: [], SHORT: []}
    alternate(rounds, lambda r: once(LONG, r), lambda r: once(SHORT, r))
    long_ms, short_ms = median(spent[LONG]), median(spent[SHORT])
    ratio = short_ms / long_ms
    say(f"write cost: {what}: median {long_ms:.2f} ms after {LONG:,} events, {short_ms:.2f} ms "
        f"after {SHORT}; ratio {ratio:.2f}")
    return Result(f"write cost, {LONG:,} vs {SHORT} earlier: {what}", "ms per write (median)",
                  long_ms, short_ms, f">= {1 / WITHIN:.2f} (within {WITHIN:g}x)",
                  ratio >= 1 / WITHIN, lower_is_better=True,
                  notes={"rounds": rounds, "long_events": LONG, "short_events": SHORT,
                         "long_mean_ms": round(sum(spent[LONG]) / rounds, 2),
                         "short_mean_ms": round(sum(spent[SHORT]) / rounds, 2)})


def run(run: Run) -> list[Result]:
    rounds = 30 if run.scale == "small" else 60
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"home": Path(tmp)}, environ={})
        say(f"write cost: writing items with {LONG:,} and {SHORT} earlier events …")
        _history(settings)
        return [
            _pair(settings, "check-in",
                  lambda app, key, r: app.check_in(key, float(r)),
                  "kr", rounds),
            _pair(settings, "KPI reading",
                  lambda app, key, r: app.record_reading(key, float(r)), "kpi", rounds),
            _pair(settings, "KPI reading with an id",
                  lambda app, key, r: app.record_reading(key, float(r),
                                                         reading_id=f"new-{r}"),
                  "ids", rounds),
        ]
