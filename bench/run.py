"""`make bench [SCALE=small|full|0.3]`: every benchmark, each against a raw baseline measured
in the same run; prints the table and writes bench/results/<time>-<scale>.json.

Stages run in order and hand each other the history, the broker and the topics; `--only`
picks some (the history and the broker are always prepared). The history is generated once
per scale and reused from bench/work/<scale>/ while the code that writes it is unchanged.
"""

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench modules, nothing else

import dataset
import freshness_bench
import ledger_bench
import memory_bench
import pipeline_bench
import query_bench
from common import WORK, Result, Run, report, say

from okr.ledger import local_broker
from okr.ledger.generator import Shape
from okr.ledger.settings import load_settings

STAGES: dict[str, Callable[[Run], list[Result]]] = {
    "writes": ledger_bench.run,
    "relay": pipeline_bench.relay,
    "projection": pipeline_bench.projection,
    "point-in-time": query_bench.point_in_time,
    "review": query_bench.review,
    "memory": memory_bench.run,
    "freshness": freshness_bench.run,
}


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
    shape = Shape.scaled(args.scale)
    work = WORK / args.scale
    tag = uuid.uuid4().hex[:8]
    settings = load_settings({"home": work / "home", "actor": "bench", "partitions": 6,
                              "topic_ledger": f"bench-{tag}.ledger",
                              "topic_checkpoints": f"bench-{tag}.checkpoints",
                              "topic_dead_letter": f"bench-{tag}.dead-letter",
                              "topic_kpi_readings": f"bench-{tag}.kpi-readings",
                              "duckdb_path": work / "okr.duckdb"}, environ={})
    run = Run(args.scale, work, settings)
    results = dataset.prepare(run, shape)

    port = local_broker.free_port()
    broker = local_broker.spawn(port, work / "broker.log")
    local_broker.wait_ready(port, broker)
    run.servers = f"127.0.0.1:{port}"
    say(f"broker (Tansu, memory) on {run.servers}; topics bench-{tag}.*")
    started = time.monotonic()
    try:
        for name in stages:
            if name in ("projection", "point-in-time", "review", "memory", "freshness") \
                    and "relay" not in stages and "relay" not in run.facts:
                results += pipeline_bench.relay(run)  # later stages read the relayed topic
                run.facts["relay"] = True
            if name in ("point-in-time", "review", "memory", "freshness") \
                    and "projection" not in stages and "projection" not in run.facts:
                results += pipeline_bench.projection(run)
                run.facts["projection"] = True
            say(f"— {name}")
            results += STAGES[name](run)
            run.facts[name] = True
    finally:
        broker.terminate()
        broker.wait(timeout=10)
    report(results, args.scale, {"dataset": run.facts.get("dataset"),
                                 "minutes": round((time.monotonic() - started) / 60, 1)})


if __name__ == "__main__":
    main()
