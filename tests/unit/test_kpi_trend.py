"""`okr kpi list`'s trend: the arrow is the way the value moved, the word whether that is
better for the KPI's direction (a trial saw a lower-is-better KPI that fell from 1.5 to 0.8
drawn as '↗ better', an arrow against the numbers)."""

from pathlib import Path

import pytest

from tests.fuzzing import okr


@pytest.mark.parametrize(("direction", "first", "then", "said"), [
    ("down", "1.5", "0.8", "↘ better"), ("down", "0.8", "1.5", "↗ worse"),
    ("up", "1.5", "0.8", "↘ worse"), ("up", "0.8", "1.5", "↗ better"),
    ("up", "1.5", "1.5", "→ flat")])
def test_the_arrow_follows_the_value_and_the_word_the_direction(
        tmp_path: Path, direction: str, first: str, then: str, said: str) -> None:
    home = tmp_path / "home"
    add = okr(home, "kpi", "add", "err", "Error rate", "--direction", direction,
              "--green", "1" if direction == "down" else "2",
              "--red", "2" if direction == "down" else "1",
              # in force before its readings were observed: a reading observed before counts
              # in no view, and so makes no trend (tests/unit/test_kpi_trend_readings.py)
              "--effective", "2026-10-01", "--reason", "history")
    assert add.code == 0, add
    for value, at in ((first, "2026-11-01"), (then, "2026-11-02")):
        rec = okr(home, "kpi", "record", "err", value, "--at", at)
        assert rec.code == 0, rec
    out = okr(home, "kpi", "list", "--format", "tsv")
    assert out.code == 0, out
    header, row = out.stdout.splitlines()[:2]
    assert dict(zip(header.split("\t"), row.split("\t"), strict=True))["trend"] == said
