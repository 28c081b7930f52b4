"""A cycle around the real now, for CLI tests that write "now" (a check-in or a KPI reading
without `--at`, a plan added after a commit without `--effective`).

A fixed cycle such as 2026-Q4 holds "now" only until its last day: from then on such a write
is refused ("check-in time … is outside the cycle") and the test fails, a date bomb. A test
that writes at fixed instants keeps its fixed cycle and says `--at`; one that writes "now"
adds this cycle instead. It runs from 60 days before today to 60 days after (whole UTC days,
`tests.fuzzing.live_window`), so it holds every instant of a test run, also one started at a
quarter's last second or under faketime (`make test-dates`), and no test straddles its end.
"""

from datetime import datetime

from tests.fuzzing import live_window

NOW_CYCLE = "now-cycle"


def cycle_around_now(key: str = NOW_CYCLE, now: datetime | None = None) -> tuple[str, ...]:
    """Arguments of `okr cycle add KEY --start … --end …` for a cycle around `now` (default:
    the real clock), e.g. `env.ok(*cycle_around_now())`."""
    start, end = live_window(now)
    return ("cycle", "add", key, "--start", start.date().isoformat(),
            "--end", end.date().isoformat())
