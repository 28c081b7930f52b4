"""What the hostile-input tests share: the hypothesis profile (OKR_SOAK=1 for long runs), an
in-process `okr` that behaves like the console script, and the README scenario to start from.

Running `okr` in-process keeps a fuzzed example at ~15 ms instead of ~400 ms for a subprocess.
It is faithful where it matters: the console script is `sys.exit(run())`, so an exception that
escapes `run()` is exactly what would print a traceback and exit 1; stdout and stderr are
UTF-8 streams with the same error handlers as a real process (strict / backslashreplace).
"""

import contextlib
import io
import os
import shlex
import shutil
import sqlite3
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SOAK = os.environ.get("OKR_SOAK") == "1"
SOAK_FACTOR = 25  # OKR_SOAK=1 runs every fuzz test this many times longer
# OKR_FUZZ_QUICK=1 (make test-dates) runs a tenth of the examples: there the subject is the
# date the suite runs on, not the inputs, and the suite runs once per hard instant.
QUICK = os.environ.get("OKR_FUZZ_QUICK") == "1" and not SOAK
QUICK_DIVISOR = 10

settings.register_profile(
    "okr", deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])
settings.register_profile("okr-soak", parent=settings.get_profile("okr"),
                          max_examples=100 * SOAK_FACTOR)
settings.register_profile("okr-quick", parent=settings.get_profile("okr"),
                          max_examples=100 // QUICK_DIVISOR)
settings.load_profile("okr-soak" if SOAK else "okr-quick" if QUICK else "okr")


def fuzz(examples: int) -> settings:
    """Hypothesis settings for a fuzz test: `examples` by default, SOAK_FACTOR times more
    under OKR_SOAK=1, a tenth (at least 5) under OKR_FUZZ_QUICK=1."""
    if QUICK:
        return settings(max_examples=max(5, examples // QUICK_DIVISOR))
    return settings(max_examples=examples * (SOAK_FACTOR if SOAK else 1))


# Environment variables a test process may carry that would change what `okr` talks to.
_FOREIGN = ("OKR_", "KAFKA_", "POSTGRES_", "PERSISTENCE_MODULE", "SQLITE_")


@dataclass(frozen=True)
class Result:
    """What one `okr` invocation did."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    crash: str | None  # the traceback, when an exception escaped run()

    def __str__(self) -> str:
        shown = shlex.join(a.encode("utf-8", "backslashreplace").decode() for a in self.args)
        return (f"okr {shown[:2000]}\nexit {self.code}\nstdout: {self.stdout[:2000]!r}\n"
                f"stderr: {self.stderr[:4000]!r}")


def okr(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run `okr ARGS` in this process, like the console script, with a private data directory
    and no inline publishing (no broker needed). It runs in the data directory's parent, so a
    relative path (say `--home --json`) lands there, not in the repository."""
    from okr.cli.main import run

    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    home.parent.mkdir(parents=True, exist_ok=True)
    os.chdir(home.parent)
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace",
                           write_through=True)
    for name in [n for n in os.environ if n.startswith(_FOREIGN)]:
        del os.environ[name]
    os.environ.update({"OKR_HOME": str(home), "OKR_INLINE_PUBLISH": "off",
                       "OKR_TZ": "Europe/Berlin", "COLUMNS": "120", **(env or {})})
    sys.argv = ["okr", *args]
    code, crash = 0, None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # what the interpreter would print as a traceback
                crash = traceback.format_exc()
                code = 1
                print(crash, file=sys.stderr, end="")
    finally:
        sys.argv = saved_argv
        _restore_environ(saved_env)
        os.chdir(saved_cwd)
    return Result(tuple(args), code, out_bytes.getvalue().decode("utf-8"),
                  err_bytes.getvalue().decode("utf-8"), crash)


def _restore_environ(saved: dict[str, str]) -> None:
    """Put the environment back as `saved`, touching only the variables that differ.

    Never clear it and refill it: libfaketime (make test-dates) re-reads FAKETIME from the
    environment every few seconds from whichever thread asks the time, and a clear leaves a
    window in which the clock goes real (tests/unit/test_fuzz_cli.py says how it showed).
    """
    for name in [n for n in os.environ if n not in saved]:
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def event_count(home: Path) -> int:
    """Events in the data directory's SQLite event store."""
    db = home / "events.sqlite"
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])


def readme_commands() -> list[list[str]]:
    """The okr commands of README's 'Using it' block, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Using it", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("  #")[0])[1:] for line in block.splitlines()
            if line.startswith("okr ")]


def build_readme_scenario(home: Path) -> Path:
    """Run README's 'Using it' commands in `home`; every one must succeed."""
    for args in readme_commands():
        result = okr(home, *args)
        assert result.code == 0, str(result)
    return home


# ---- a live cycle: scenarios relative to the clock ---------------------------------------------
# README's scenario is fixed in 2026-Q4, so a check-in "now" fits it only until 2026-12-31. A test
# that records something at the real now uses the live cycle instead: a custom cycle from 60 days
# before today to 60 days after, which holds every instant of a test run, also one started at a
# quarter's last second or under `faketime` (scripts/test_dates.sh). Recording time stays real.
LIVE_CYCLE = "live"
LIVE_OBJECTIVE = "live-obj"
LIVE_KRS = ("kr-live", "kr-live2")
LIVE_MARGIN = timedelta(days=60)


def live_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) of a cycle around `now` (default: the real clock), whole UTC days."""
    now = now or datetime.now(UTC)
    start = (now - LIVE_MARGIN).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + 2 * LIVE_MARGIN + timedelta(days=1)


def live_cycle_commands(now: datetime | None = None) -> list[list[str]]:
    """okr commands adding the committed live cycle with one objective and two key results."""
    start, end = live_window(now)
    return [["cycle", "add", LIVE_CYCLE, "--start", start.date().isoformat(),
             "--end", end.date().isoformat()],
            ["objective", "add", LIVE_OBJECTIVE, "Ship this season", "--cycle", LIVE_CYCLE,
             "--owner", "ana"],
            ["kr", "add", LIVE_KRS[0], "Signed pilots", "--objective", LIVE_OBJECTIVE,
             "--kind", "increase", "--start", "0", "--target", "10"],
            ["kr", "add", LIVE_KRS[1], "Open incidents", "--objective", LIVE_OBJECTIVE,
             "--kind", "decrease", "--start", "8", "--target", "2"],
            ["cycle", "commit", LIVE_CYCLE]]


def add_live_cycle(home: Path) -> Path:
    """Add the live cycle (see live_window) to the ledger in `home`."""
    for args in live_cycle_commands():
        result = okr(home, *args)
        assert result.code == 0, str(result)
    return home


def fresh_copy(readme_home: Path, workdir: Path) -> Path:
    """A new copy of the README scenario at `workdir/home` (the previous example's removed)."""
    home = workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(readme_home, home)
    return home
