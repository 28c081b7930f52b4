"""Numbers in text are the numbers recorded: a PostgreSQL trial read 'increase 600000 →
1e+06 EUR' beside 850000, and Python's `:g` said 1,234,567.5 as '1.23457e+06' — six
significant digits, a figure an auditor cannot check against the record."""

from pathlib import Path

from tests.fuzzing import okr


def test_figures_keep_what_was_typed() -> None:
    from okr.domain.numbers import figure

    assert [figure(x) for x in (1e6, 1234567.5, 850000.0, 0.25, -0.0, 12.0)] == [
        "1000000", "1234567.5", "850000", "0.25", "-0", "12"]
    assert figure(1e300) == "1e+300" and figure(5e-324) == "4.94065645841e-324"


def test_show_and_the_scorecard_say_the_recorded_numbers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args in (("cycle", "add", "2026-Q4"),
                 ("objective", "add", "o1", "Revenue", "--cycle", "2026-Q4"),
                 ("kr", "add", "k1", "ARR", "--objective", "o1", "--start", "600000",
                  "--target", "1000000", "--unit", "EUR"),
                 ("checkin", "k1", "1234567.5", "--at", "2026-11-20")):
        done = okr(home, *args)
        assert done.code == 0, done
    shown = okr(home, "show", "k1")
    assert "increase 600000 → 1000000 EUR" in shown.stdout, shown
    assert "1234567.5" in shown.stdout and "e+06" not in shown.stdout, shown
    krs = okr(home, "list", "krs", "--format", "tsv")
    assert krs.code == 0 and "e+06" not in krs.stdout, krs
