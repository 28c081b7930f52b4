"""`make bench [SCALE=small|full|0.3]`: every benchmark, each against a raw baseline measured
in the same run; prints the table and writes bench/results/<time>-<scale>.json.

Stages run in order and hand each other the history, the broker and the topics; `--only`
picks some (the history and the broker are always prepared). The history is generated once
per scale and reused from bench/work/<scale>/ while the code that writes it is unchanged.
"""

import argparse
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the generator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench modules

import bundle_bench
import cli_bench
import dataset
import freshness_bench
import history_bench
import ledger_bench
import memory_bench
import pipeline_bench
import query_bench
import web_bench
from common import Result, Run, load_now, report, say

from okr.adapters import local_broker
from tests.support.generator import Shape

STAGES: dict[str, Callable[[Run], list[Result]]] = {
    "writes": ledger_bench.run,
    "write-history": history_bench.run,
    "relay": pipeline_bench.relay,
    "projection": pipeline_bench.projection,
    "point-in-time": query_bench.point_in_time,
    "review": query_bench.review,
    "memory": memory_bench.run,
    "freshness": freshness_bench.run,
    "cli": cli_bench.run,
    "bundle": bundle_bench.run,
    "web": web_bench.run,
}
NEEDS = {"projection": ("relay",), "point-in-time": ("relay", "projection"),
         "review": ("relay", "projection"), "memory": ("relay",),
         "freshness": ("relay", "projection"), "cli": ("relay", "projection"),
         "web": ("relay", "projection")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small",
                        help="small (a few minutes), full (~1M events), or a factor of full")
    parser.add_argument("--only", default=",".join(STAGES),
                        help=f"comma-separated stages: {', '.join(STAGES)}")
    args = parser.parse_args()
    stages = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    if args.scale not in ("small", "full"):
        try:
            float(args.scale)
        except ValueError:
            parser.error(f"--scale {args.scale!r}: say small, full or a number like 0.3")
    load_start = load_now()
    say(f"load average at start: {load_start['1m']:.2f} (1 min) on {load_start['cpus']} CPUs")
    shape = Shape.scaled(args.scale)
    run = Run.at_scale(args.scale, "bench")
    work = run.work
    results = dataset.prepare(run, shape)

    port = local_broker.free_port()
    broker = local_broker.spawn(port, work / "broker.log")
    local_broker.wait_ready(port, broker)
    run.servers = f"127.0.0.1:{port}"
    say(f"broker (Tansu, memory) on {run.servers}; topics {run.settings.topic_ledger}, …")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the broker on the way out
    started = time.monotonic()
    done: set[str] = set()
    try:
        for name in stages:
            # Later stages read the relayed topic and the projection: make them if skipped.
            for needed in NEEDS.get(name, ()):
                if needed not in done and needed not in stages[stages.index(name):]:
                    say(f"— {needed} (needed by {name})")
                    results += STAGES[needed](run)
                    done.add(needed)
            say(f"— {name}")
            results += STAGES[name](run)
            done.add(name)
    finally:
        broker.terminate()
        broker.wait(timeout=10)
    report(results, args.scale, {"dataset": run.dataset,
                                 "minutes": round((time.monotonic() - started) / 60, 1)},
           load_start=load_start)


if __name__ == "__main__":
    main()
