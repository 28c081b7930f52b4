"""The retro's change of a rate is the difference of the two rates as shown (rounded down,
domain/numbers.shown), so a row reads 50%, 66%, +16 pp — not +17 pp from the raw difference
(0.1667 rounded), nor '0 pp' beside 69% and 70% (a read-only review found both)."""

from okr.cli.report import _POINTS, _retro_change, _retro_figure, _score_bar


def test_a_change_of_rates_is_the_difference_of_the_rates_as_shown() -> None:
    a, b = 0.5, 2 / 3
    assert (_retro_figure(a, _POINTS), _retro_figure(b, _POINTS)) == ("50%", "66%")
    assert _retro_change(b - a, _POINTS, a, b) == "+16 pp"
    assert _retro_change(0.7 - 0.697, _POINTS, 0.697, 0.7) == "+1 pp"  # 69% → 70%
    assert _retro_change(0.0, _POINTS, 0.5, 0.5) == "0 pp"


def test_the_html_score_bar_is_as_long_as_the_figure_beside_it_says() -> None:
    # 0.996 is shown 99%: its bar must not be drawn full (120 px is 100%)
    assert 'width="119"' in _score_bar(0.996) and "99%" in _score_bar(0.996)
