"""`python bench/profile.py --scale small relay projection review`: where a stage's time goes.

Runs stages of the benchmark (same history, same broker set-up as `bench/run.py`) under
pyinstrument and prints each profile (also written to bench/results/profile-<stage>.txt).
pyinstrument samples wall time in the calling thread: Kafka's sender/fetcher threads and
DuckDB's own threads show up as the time the stage waits for them.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the generator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench modules

import dataset
import pipeline_bench
import query_bench
from common import RESULTS, Run, say
from pyinstrument import Profiler
from run import NEEDS
from run import STAGES as ALL

from okr.adapters import local_broker
from tests.support.generator import Shape

STAGES = {"relay": pipeline_bench.relay, "projection": pipeline_bench.projection,
          "point-in-time": query_bench.point_in_time, "review": query_bench.review}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small")
    parser.add_argument("stages", nargs="+", choices=list(STAGES))
    args = parser.parse_args()
    run = Run.at_scale(args.scale, "prof")
    work = run.work
    dataset.prepare(run, Shape.scaled(args.scale))
    port = local_broker.free_port()
    broker = local_broker.spawn(port, work / "broker.log")
    local_broker.wait_ready(port, broker)
    run.servers = f"127.0.0.1:{port}"
    RESULTS.mkdir(exist_ok=True)
    done: set[str] = set()
    try:
        for name in args.stages:
            for needed in NEEDS.get(name, ()):
                if needed not in done:
                    ALL[needed](run)
                    done.add(needed)
            profiler = Profiler()
            profiler.start()
            STAGES[name](run)
            profiler.stop()
            text = profiler.output_text(unicode=False, color=False)
            (RESULTS / f"profile-{name}.txt").write_text(text, encoding="utf-8")
            say(f"profile of {name}:")
            print(text)
            done.add(name)
    finally:
        broker.terminate()
        broker.wait(timeout=10)


if __name__ == "__main__":
    main()
