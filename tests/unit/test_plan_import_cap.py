"""A plan import stops looking after 200 problems; it said "200 problem(s)" of a file with
202, as if that were all of them (a trial). It says it stopped."""

from pathlib import Path

from okr.ledger.plan_import import MAX_ERRORS
from tests.fuzzing import event_count, okr


def test_a_file_with_more_problems_than_are_listed_says_it_stopped_looking(
        tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("section,key,title,cycle\n"
                    + "".join(f"objectives,o{i},Title {i},NOPE-{i}\n"
                              for i in range(MAX_ERRORS + 2)))
    home = tmp_path / "home"
    result = okr(home, "import", "plan", str(plan))
    assert result.code == 2, result
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"okr: error: {MAX_ERRORS} problem(s) in {plan} (it stopped looking "
                    f"after the first {MAX_ERRORS}); nothing was written"), last
    assert event_count(home) == 0
    shown = okr(home, "import", "plan", str(plan), "--json")
    assert shown.code == 2, shown


def test_exactly_as_many_problems_as_are_listed_are_all_of_them(tmp_path: Path) -> None:
    """A review: a file with exactly 200 problems also said it stopped looking."""
    plan = tmp_path / "plan.csv"
    plan.write_text("section,key,title,cycle\n"
                    + "".join(f"objectives,o{i},Title {i},NOPE-{i}\n"
                              for i in range(MAX_ERRORS)))
    result = okr(tmp_path / "home", "import", "plan", str(plan))
    assert result.code == 2, result
    assert result.stderr.strip().splitlines()[-1] == (
        f"okr: error: {MAX_ERRORS} problem(s) in {plan}; nothing was written"), result.stderr


def test_fewer_problems_are_all_listed_without_that_remark(tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("section,key,title,cycle\nobjectives,o1,Title,NOPE\n")
    result = okr(tmp_path / "home", "import", "plan", str(plan))
    assert result.code == 2, result
    assert result.stderr.strip().splitlines()[-1] == (
        f"okr: error: 1 problem(s) in {plan}; nothing was written"), result.stderr
