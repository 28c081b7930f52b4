"""CLI latency with `okr up` running on the whole history, as a user types the commands:
`okr checkin` (a write) and `okr scorecard` (a read of the projection), against
`python -c pass` (the interpreter's own start, the floor of any command) in the same run.

Each round runs the baseline, a check-in and, once `okr up` has projected that check-in, a
scorecard — in turns, so the machine's load hits all alike. Wall time per command (median and
p90) and the CPU time the command used (user + system, its own and its children's), which a
busy machine inflates less than wall time. `okr --help` is timed beside them. Bytecode is
cached, as in an installed okr.
"""

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from common import OKR, Result, Run, median, percentile, say
from freshness_bench import history_home, wait_for

from okr.domain.periods import cycle_of
from okr.settings import load_settings

ROUNDS = 10
TARGET_MS = {"checkin": 300.0, "scorecard": 250.0}


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def _summary(walls: list[float], cpus: list[float]) -> dict[str, Any]:
    return {"median_ms": round(median(walls), 1), "p90_ms": round(percentile(walls, 90), 1),
            "cpu_median_ms": round(median(cpus), 1), "runs": len(walls)}


def run(run: Run) -> list[Result]:
    home, env = history_home(run, "cli")
    # As an installed okr runs: its modules compiled once (a wheel's install does that), not
    # from source on every command, as PYTHONDONTWRITEBYTECODE (set on some build machines)
    # would have it. The set-up commands below write the bytecode.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    settings = load_settings(environ=env)

    def okr(*args: str) -> None:
        proc = subprocess.run([OKR, *args], env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"okr {' '.join(args)}: {proc.stderr}"

    quarter = cycle_of(datetime.now(UTC))
    okr("cycle", "add", quarter)
    okr("objective", "add", "cli-o", "Latency", "--cycle", quarter, "--owner", "bench")
    okr("kr", "add", "cli-k", "Check-ins", "--objective", "cli-o", "--target", "100")
    log = open(os.path.join(home, "up.log"), "w")  # noqa: SIM115 - closed below
    up = subprocess.Popen([OKR, "up", "--json"], env=env, stdout=log, stderr=log,
                          start_new_session=True)
    times: dict[str, tuple[list[float], list[float]]] = {
        k: ([], []) for k in ("python -c pass", "checkin", "scorecard", "--help")}
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "--help": [OKR, "--help"], "scorecard": [OKR, "scorecard"]}
    try:
        okr("checkin", "cli-k", "0", "--note", "warm-up")
        wait_for(settings, "warm-up", timeout=900)  # okr up has caught up and is following
        load_start = os.getloadavg()
        say(f"cli: okr up is following; {ROUNDS} rounds (load average {load_start[0]:.1f})")
        for i in range(1, ROUNDS + 1):
            order = ["python -c pass", "checkin", "scorecard", "--help"]
            if i % 2 == 0:
                order.reverse()  # the write still comes before the read that shows it
                order[1], order[2] = order[2], order[1]
            for name in order:
                cmd = commands.get(name) or [OKR, "checkin", "cli-k", str(i), "--note",
                                             f"cli-{i}"]
                if name == "scorecard":
                    wait_for(settings, f"cli-{i}")  # the read shows the write before it
                wall, cpu = _timed(cmd, env)
                times[name][0].append(wall)
                times[name][1].append(cpu)
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=60)
        log.close()
    shutil.rmtree(home, ignore_errors=True)
    base = _summary(*times["python -c pass"])
    out = []
    for name in ("checkin", "scorecard"):
        s = _summary(*times[name])
        say(f"cli: okr {name}: median {s['median_ms']:.0f} ms, p90 {s['p90_ms']:.0f} ms, CPU "
            f"{s['cpu_median_ms']:.0f} ms (python -c pass: {base['median_ms']:.0f} ms)")
        target = TARGET_MS[name]
        out.append(Result(f"CLI: okr {name} median, okr up running", "ms", s["median_ms"],
                          base["median_ms"], f"<= {target:g} ms", s["median_ms"] <= target,
                          lower_is_better=True,
                          notes={**s, "baseline": "python -c pass", "baseline_summary": base,
                                 "load_average_at_start": load_start}))
    h = _summary(*times["--help"])
    out.append(Result("CLI: okr --help median", "ms", h["median_ms"], base["median_ms"], "-",
                      None, lower_is_better=True, notes=h))
    return out
