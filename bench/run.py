"""`make bench [SCALE=small|full]`: run every benchmark, print the table, write the JSON."""

import argparse
import sys

from bench import ledger_bench
from bench.common import Result, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    args = parser.parse_args()
    results: list[Result] = []
    for name, module in [("ledger", ledger_bench)]:
        print(f"running {name} benchmarks ({args.scale}) …", file=sys.stderr, flush=True)
        results.extend(module.run(args.scale))
    report(results, args.scale)


if __name__ == "__main__":
    main()
