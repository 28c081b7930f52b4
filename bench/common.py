"""Shared benchmark plumbing: timing, machine facts, the results table and JSON file.

Every benchmark measures our figure and a raw baseline in the same run on the same machine,
and reports the ratio: absolute numbers on a shared, noisy machine mean little.
"""

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    """One benchmark line: ours, the baseline, their ratio, and whether the target is met."""

    name: str
    unit: str
    ours: float
    baseline: float | None
    target: str
    met: bool | None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.ours / self.baseline  # type: ignore[operator]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def rate(count: int, work: Callable[[], None]) -> float:
    """Items per second for `work`, which handles `count` items."""
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def machine() -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "at": datetime.now(UTC).isoformat(),
            "packages": {n: version(n) for n in ("eventsourcing", "kafka-python", "duckdb",
                                                 "pydantic", "pyarrow")}}


def report(results: list[Result], scale: str) -> Path:
    """Print the table and write bench/results/<time>.json."""
    print(f"\n{'benchmark':<34} {'ours':>12} {'baseline':>12} {'ratio':>7}  target      met")
    for r in results:
        base = "-" if r.baseline is None else f"{r.baseline:,.1f}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        print(f"{r.name:<34} {r.ours:>12,.1f} {base:>12} {ratio:>7}  {r.target:<10}  {met}"
              f"   ({r.unit})")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{scale}.json"
    path.write_text(json.dumps({"scale": scale, "machine": machine(),
                                "results": {r.name: r.as_dict() for r in results}},
                               indent=2), encoding="utf-8")
    print(f"\nresults written to {path}")
    return path
