"""Mutation testing of the scoring rules (#22): `make mutate`. Slow (minutes per file on a
busy machine), so it is not part of `make test`.

Three parts, each applying one mutant at a time to the file in place (restored afterwards,
also on Ctrl-C) and running the scoring tests, which must fail:

- Python: mutmut's mutation operators (mutmut 2.5.1, pinned in the dev extra) over
  domain/scoring.py (the rules), domain/cards.py (a key result's and an objective's
  measures) and domain/history.py (the time folding). mutmut 2 because mutmut 3 mutates only inside
  functions (the status gaps and cadence periods are module constants) and runs a copy of the
  tree that the package-dir mapping of `okr.domain` never imports.
- SQL: projections/macros.sql has no mutation tool; SQL_MUTANTS lists mutations written by
  hand, one or more per comparison, constant and branch of the scoring macros.
- The four mutations of issue #22, together and one at a time.

Usage: python -P scripts/mutate.py [--only python|sql|issue] [--file PATH]
       [--functions NAME,...] [--limit N]
Prints each survivor's diff and a summary with the mutation score; exit 1 if any survived.
"""

import argparse
import ast
import difflib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = str(Path(sys.executable).parent / "pytest")
# Fast tests first: with -x the first failure ends the run, so most mutants die in seconds.
TESTS = ["tests/unit/test_scoring_doc.py", "tests/unit/test_scoring_table.py",
         "tests/unit/test_thresholds.py", "tests/unit/test_event_fixtures.py",
         "tests/unit/test_history_folds.py", "tests/unit/test_projection_differential.py"]
TIMEOUT = 900  # seconds; a mutant that hangs the tests counts as killed (by timeout)
PY_FILES = ["domain/scoring.py", "domain/cards.py", "domain/history.py"]
MACROS = "projections/macros.sql"


@dataclass(frozen=True)
class Mutant:
    name: str
    changes: tuple[tuple[str, str, str], ...]  # (path, old text, new text), each old unique


# Hand-written mutations of the scoring macros: (name, old, new) in projections/macros.sql.
SQL_MUTANTS = [
    ("toward: not clamped below 0",
     "ELSE greatest(0e0, least(1e0, (v - s) / (g - s))) END;",
     "ELSE least(1e0, (v - s) / (g - s)) END;"),
    ("toward: not clamped above 1",
     "ELSE greatest(0e0, least(1e0, (v - s) / (g - s))) END;",
     "ELSE greatest(0e0, (v - s) / (g - s)) END;"),
    ("threshold: exactly at it is a breach",
     "CASE WHEN short <= 0e0 THEN 1e0", "CASE WHEN short < 0e0 THEN 1e0"),
    ("threshold: a breach without tolerance scores 1",
     "WHEN tol IS NULL THEN 0e0", "WHEN tol IS NULL THEN 1e0"),
    ("threshold: band twice as wide",
     "least(1e0, 1e0 - short / tol)", "least(1e0, 1e0 - short / (2e0 * tol))"),
    ("threshold: past the band not clamped to 0",
     "ELSE greatest(0e0, least(1e0, 1e0 - short / tol)) END;",
     "ELSE least(1e0, 1e0 - short / tol) END;"),
    ("stay-above: shortfall the wrong way round",
     "okr_past_threshold(t - v, tol)", "okr_past_threshold(v - t, tol)"),
    ("stay-below: shortfall the wrong way round",
     "okr_past_threshold(v - t, tol)", "okr_past_threshold(t - v, tol)"),
    ("range: nearer bound instead of the one crossed",
     "greatest(t - v, v - th)", "least(t - v, v - th)"),
    ("range: high bound ignored",
     "greatest(t - v, v - th)", "greatest(t - v, v - t)"),
    ("range: partial credit removed (issue #22)",
     "okr_past_threshold(greatest(t - v, v - th), tol)",
     "okr_past_threshold(greatest(t - v, v - th), NULL)"),
    ("stay-above: partial credit removed",
     "okr_past_threshold(t - v, tol)", "okr_past_threshold(t - v, NULL)"),
    ("no value scores 1", "CASE WHEN v IS NULL THEN 0e0", "CASE WHEN v IS NULL THEN 1e0"),
    ("elapsed: not clamped",
     "greatest(0e0, least(1e0, okr_seconds(ws, t) / okr_seconds(ws, we)))",
     "okr_seconds(ws, t) / okr_seconds(ws, we)"),
    ("phases: half the share of a segment",
     "ELSE okr_seconds(p0.at, t) / okr_seconds(p0.at, p1.at)",
     "ELSE okr_seconds(p0.at, t) / okr_seconds(p0.at, p1.at) / 2e0"),
    ("phases: after the last phase the target is never reached",
     "WHEN i IS NULL THEN pts[len(pts)].value", "WHEN i IS NULL THEN pts[1].value"),
    ("status: at-risk gap 0.1 → 0.2 (issue #22)", "0.1e0 + 1e-9", "0.2e0 + 1e-9"),
    ("status: no rounding allowance at 0.1", "0.1e0 + 1e-9", "0.1e0"),
    ("status: off-track gap 0.25 → 0.3", "0.25e0 + 1e-9", "0.3e0 + 1e-9"),
    ("status: no rounding allowance at 0.25", "0.25e0 + 1e-9", "0.25e0"),
    ("grade: committed succeeds at 0.95", "score >= 1e0 - 1e-9", "score >= 0.95e0"),
    ("grade: aspirational succeeds at 0.75", "score >= 0.7e0 - 1e-9", "score >= 0.75e0"),
    ("grade: learning graded as aspirational",
     "WHEN okr_type = 'aspirational' THEN", "WHEN okr_type <> 'committed' THEN"),
    ("health up: at red is red", "CASE WHEN v < red THEN 'red'", "CASE WHEN v <= red THEN 'red'"),
    ("health down: at green is amber",
     "WHEN v > green THEN 'amber' ELSE 'green' END END;",
     "WHEN v >= green THEN 'amber' ELSE 'green' END END;"),
    ("stale: daily period 2 days", "WHEN 'daily' THEN 1", "WHEN 'daily' THEN 2"),
    ("stale: weekly period 8 days", "WHEN 'weekly' THEN 7", "WHEN 'weekly' THEN 8"),
    ("stale: monthly period 31 → 45 days (issue #22)", "WHEN 'monthly' THEN 31",
     "WHEN 'monthly' THEN 45"),
    ("stale: quarterly period 93 days", "ELSE 92 END", "ELSE 93 END"),
    ("stale: exactly one period old is stale",
     "> kpi_period_us(kpi.cadence)", ">= kpi_period_us(kpi.cadence)"),
    ("stale: a KPI never read is not stale",
     "rd.observed_at IS NULL\n                  OR ", ""),
    ("expected: stay-below not held all cycle",
     "CASE WHEN kind IN ('stay-above', 'stay-below', 'range') THEN 1e0\n"
     "                       WHEN points IS NULL THEN okr_elapsed(ws, we, t_as_of)",
     "CASE WHEN kind IN ('stay-above', 'range') THEN 1e0\n"
     "                       WHEN points IS NULL THEN okr_elapsed(ws, we, t_as_of)"),
    ("objective score: unweighted mean",
     "THEN sum(s.progress * s.weight) OVER o / sum(s.weight) OVER o END",
     "THEN avg(s.progress) OVER o END"),
    ("latest check-in: the earliest instead",
     "arg_max({'value': c.value, 'confidence': c.confidence},",
     "arg_min({'value': c.value, 'confidence': c.confidence},"),
    ("latest reading: the earliest instead",
     "arg_max(r.value, okr_order_key(r.observed_at, r.position))",
     "arg_min(r.value, okr_order_key(r.observed_at, r.position))"),
    ("tolerance column ignored in the scorecard",
     "kr_progress_of(kind, start, target, target_high, tolerance, value) AS progress,\n"
     "                  CASE WHEN kind IN",
     "kr_progress_of(kind, start, target, target_high, NULL, value) AS progress,\n"
     "                  CASE WHEN kind IN"),
]

# Issue #22: "the at-risk gap 0.1→0.2 and the monthly stale period 31→45 days in both files,
# stay-below partial credit removed in Python only, range partial credit removed in SQL only".
ISSUE_MUTANTS = [
    Mutant("at-risk gap 0.1 → 0.2 in Python and SQL", (
        ("domain/scoring.py", "AT_RISK_GAP = 0.1\n", "AT_RISK_GAP = 0.2\n"),
        (MACROS, "0.1e0 + 1e-9", "0.2e0 + 1e-9"))),
    Mutant("monthly stale period 31 → 45 days in Python and SQL", (
        ("domain/scoring.py", "timedelta(days=31)", "timedelta(days=45)"),
        (MACROS, "WHEN 'monthly' THEN 31", "WHEN 'monthly' THEN 45"))),
    Mutant("stay-below partial credit removed in Python only", (
        ("domain/scoring.py", "return past_threshold(value - target, tolerance)",
         "return past_threshold(value - target, None)"),)),
    Mutant("range partial credit removed in SQL only", (
        (MACROS, "okr_past_threshold(greatest(t - v, v - th), tol)",
         "okr_past_threshold(greatest(t - v, v - th), NULL)"),)),
]


@contextmanager
def applied(changes: tuple[tuple[str, str, str], ...]) -> Iterator[None]:
    """The files changed as listed, restored on the way out whatever happens."""
    originals: dict[str, str] = {}
    try:
        for path, old, new in changes:
            file = ROOT / path
            current = file.read_text(encoding="utf-8")
            originals.setdefault(path, current)
            if current.count(old) != 1:
                raise SystemExit(f"{path}: {old!r} is not there exactly once")
            file.write_text(current.replace(old, new), encoding="utf-8")
        yield
    finally:
        for path, text in originals.items():
            (ROOT / path).write_text(text, encoding="utf-8")


def killed(tests: list[str]) -> tuple[bool, str]:
    """Run the tests (stopping at the first failure): (killed?, what killed it)."""
    try:
        # No bytecode: a mutant and its original can share a size and a second of mtime.
        proc = subprocess.run([PYTEST, "-x", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except subprocess.TimeoutExpired:
        return True, "timeout"
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in proc.stdout.splitlines()
              if line.startswith(("FAILED ", "ERROR "))]
    return proc.returncode != 0, (failed[0] if failed else f"exit {proc.returncode}")


def function_lines(path: str, names: set[str]) -> set[int]:
    """0-based line numbers of the named top-level functions and classes."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n for node in tree.body if getattr(node, "name", None) in names
            for n in range(node.lineno - 1, (node.end_lineno or node.lineno))}


def python_mutants(path: str, functions: set[str] | None) -> Iterator[tuple[str, str, str]]:
    """(description, original source, mutated source) for every mutmut mutant of the file."""
    from mutmut import Context, list_mutations, mutate

    source = (ROOT / path).read_text(encoding="utf-8")
    keep = function_lines(path, functions) if functions else None
    for mid in list_mutations(Context(source=source, filename=path)):
        if keep is not None and mid.line_number not in keep:
            continue
        mutated, _ = mutate(Context(source=source, filename=path, mutation_id=mid))
        yield f"{path}:{mid.line_number + 1} #{mid.index}", source, mutated


def diff(before: str, after: str) -> str:
    return "".join(line for line in difflib.unified_diff(
        before.splitlines(True), after.splitlines(True), n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")).rstrip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("python", "sql", "issue"))
    parser.add_argument("--file", action="append", help="Python file(s) to mutate")
    parser.add_argument("--functions", help="only mutants inside these top-level functions")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    functions = set(args.functions.split(",")) if args.functions else None
    if killed(TESTS)[0]:
        print("the tests fail without any mutant; fix that first")
        return 2
    results: dict[str, list[tuple[str, bool, str]]] = {}

    def run(part: str, name: str, changes: tuple[tuple[str, str, str], ...],
            shown: str) -> None:
        t0 = time.monotonic()
        with applied(changes):
            dead, why = killed(TESTS)
        results.setdefault(part, []).append((name, dead, why))
        print(f"{'killed  ' if dead else 'SURVIVED'} {name} ({why}, "
              f"{time.monotonic() - t0:.0f} s)", flush=True)
        if not dead:
            print("    " + shown.replace("\n", "\n    "), flush=True)

    if args.only in (None, "python"):
        for path in args.file or PY_FILES:
            for n, (name, before, after) in enumerate(python_mutants(path, functions)):
                if args.limit is not None and n >= args.limit:
                    break
                run(path, name, ((path, before, after),), diff(before, after))
    if args.only in (None, "sql"):
        for name, old, new in SQL_MUTANTS:
            run(MACROS, name, ((MACROS, old, new),), f"- {old}\n+ {new}")
    if args.only in (None, "issue"):
        every = tuple(c for m in ISSUE_MUTANTS for c in m.changes)
        run("issue #22", "all four at once", every, "")
        for m in ISSUE_MUTANTS:
            run("issue #22", m.name, m.changes, "")
    print("\nsummary")
    survivors = 0
    for part, rows in results.items():
        dead = sum(1 for _, d, _ in rows if d)
        survivors += len(rows) - dead
        print(f"  {part}: {dead}/{len(rows)} killed ({100 * dead / len(rows):.1f} %)")
        for name, d, _ in rows:
            if not d:
                print(f"    survived: {name}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
