"""Freshness: with `okr up` running on the whole history, how long from a check-in being
recorded (`okr checkin`, as a user types it) until `okr scorecard` can see it.

A poll every 50 ms opens the projection as `okr scorecard` does while a consumer runs
(`open_for_reading`: the work file when the consumer is not writing it, else the snapshot)
and asks for the check-in. Latency = first seen − the event's recorded_at.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime

import duckdb
from common import OKR, Result, Run, median, percentile, say

from okr.domain.periods import cycle_of
from okr.errors import ProjectionUnavailable
from okr.projections.access import open_for_reading
from okr.projections.store import ProjectionLocked
from okr.settings import Settings, load_settings

P95_SECONDS = 1.0


def history_home(run: Run, name: str) -> tuple[str, dict[str, str]]:
    """A fresh home `run.work/name` holding a copy of the run's history; (home, the
    environment of an okr working in it, its analysts' snapshot beside the store)."""
    home = str(run.work / name)
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(home)
    copy_history(run, home)
    return home, run.environ(OKR_HOME=home,
                             OKR_DUCKDB=os.path.join(home, run.settings.duckdb_file.name))


def copy_history(run: Run, home: str) -> None:
    """The run's store (a consistent SQLite backup) and projection files, in a new home."""
    src = sqlite3.connect(run.settings.event_store_path)
    dst = sqlite3.connect(os.path.join(home, "events.sqlite"))
    src.backup(dst)
    src.close()
    dst.close()
    s = run.settings
    work = os.path.join(home, s.projection_work_file.parent.name)
    os.makedirs(work, mode=0o700, exist_ok=True)
    shutil.copyfile(s.projection_work_file, os.path.join(work, s.projection_work_file.name))
    shutil.copyfile(s.duckdb_file, os.path.join(home, s.duckdb_file.name))


def seen_at(settings: Settings, note: str) -> datetime | None:
    """The recorded_at of the check-in with this note, if a reader can see it now."""
    try:
        proj = open_for_reading(settings)
    except (ProjectionLocked, ProjectionUnavailable, duckdb.Error):
        return None  # the snapshot is being replaced this very moment
    if proj is None:
        return None
    with proj:
        _, rows = proj.query("SELECT recorded_at FROM check_ins WHERE note = ?", [note])
    return rows[0][0] if rows else None


def wait_for(settings: Settings, note: str, timeout: float = 60
              ) -> tuple[datetime, datetime]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        recorded = seen_at(settings, note)
        if recorded is not None:
            return recorded, datetime.now(UTC)
        time.sleep(0.05)
    raise TimeoutError(f"check-in {note!r} not visible after {timeout:.0f} s")


def run(run: Run) -> list[Result]:
    n = 20 if run.scale == "small" else 30
    home, env = history_home(run, "freshness")
    settings = load_settings(environ=env)

    def okr(*args: str) -> None:
        proc = subprocess.run([OKR, *args], env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"okr {' '.join(args)}: {proc.stderr}"

    quarter = cycle_of(datetime.now(UTC))
    okr("cycle", "add", quarter)
    okr("objective", "add", "fresh-o", "Fresh numbers", "--cycle", quarter, "--owner", "bench")
    okr("kr", "add", "fresh-k", "Check-ins seen", "--objective", "fresh-o", "--target", "100")
    log = open(os.path.join(home, "up.log"), "w")  # noqa: SIM115 - closed below
    up = subprocess.Popen([OKR, "up", "--json"], env=env, stdout=log, stderr=log,
                          start_new_session=True)
    latencies, commands = [], []
    try:
        okr("checkin", "fresh-k", "0", "--note", "warm-up")
        wait_for(settings, "warm-up", timeout=900)  # okr up has caught up and is following
        say(f"freshness: okr up is following; {n} check-ins …")
        for i in range(1, n + 1):
            start = time.monotonic()
            okr("checkin", "fresh-k", str(i), "--note", f"fresh-{i}")
            commands.append(time.monotonic() - start)
            recorded, seen = wait_for(settings, f"fresh-{i}")
            latencies.append((seen - recorded).total_seconds())
            time.sleep(0.2)
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=60)
        log.close()
    p95 = percentile(latencies, 95)
    say(f"freshness: p95 {p95:.2f} s, median {median(latencies):.2f} s, max "
        f"{max(latencies):.2f} s; okr checkin itself took median {median(commands):.2f} s")
    shutil.rmtree(home, ignore_errors=True)
    return [Result("freshness: check-in visible in scorecard, p95", "s", p95, None,
                   f"<= {P95_SECONDS:g} s", p95 <= P95_SECONDS, lower_is_better=True,
                   notes={"check_ins": n, "median_s": round(median(latencies), 3),
                          "max_s": round(max(latencies), 3),
                          "okr_checkin_command_median_s": round(median(commands), 3)})]
