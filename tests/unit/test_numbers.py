"""A number is spelled in ASCII decimal (domain/numbers.py): what the CLI and `okr import`
store is exactly the number written, and any other spelling is refused in one line with
nothing written.

The oracle here is independent of the parser: a spelling is valid when it uses only the
characters of a decimal number, Python's Decimal reads it and it is within ±1e300; its value
is that Decimal's.
"""

import json
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from okr.domain.base import MAX_MAGNITUDE
from tests.fuzzing import LIVE_KRS, event_count, fresh_copy, fuzz, okr

KR = LIVE_KRS[0]  # a check-in "now" fits the live cycle on any date
SPELLINGS = ["12", "-0.5", ".5", "2.", "1e3", "+2.5E-2", " 7 ", "0", "-0", "4.9e-324",
             "1e-400", "1e300", "-1e301", "١٢٣", "1_000", "0x10", "½", "1,5", "nan", "-inf",
             "Infinity", "1e309",
             "", " ", ".", "e", "1e", "--1", "１２", "٣.٥", "1 000", "\u00a07", "7\u2003"]


def intended(text: str) -> float | None:
    """The number an ASCII decimal spelling means, or None when it must be refused."""
    bare = text.strip(" \t")
    if not bare or set(bare) - set("0123456789+-.eE"):
        return None
    try:
        value = float(Decimal(bare))
    except InvalidOperation:
        return None
    # Within the documented limit (domain/base.py: beyond ±1e300 scoring would overflow).
    return value if math.isfinite(value) and abs(value) <= MAX_MAGNITUDE else None


def check_number(home: Path, text: str) -> None:
    before = event_count(home)
    result = okr(home, "checkin", KR, "--json", "--", text)  # "--": "-0.5" is no option
    want = intended(text)
    if want is None:
        assert result.code == 2, f"{text!r} should be refused\n{result}"
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("okr: error: value "), str(result)
        assert event_count(home) == before
        return
    assert result.code == 0, str(result)
    assert json.loads(result.stdout)["value"] == want
    shown = json.loads(okr(home, "show", KR, "--json").stdout)
    assert shown["check_ins"][-1]["value"] == want, (text, shown["check_ins"][-1])
    assert event_count(home) == before + 1


@pytest.mark.parametrize("text", SPELLINGS)
def test_a_typed_number_is_stored_as_written_or_refused(readme_home: Path, workdir: Path,
                                                        text: str) -> None:
    check_number(fresh_copy(readme_home, workdir), text)


def test_the_oracle_refuses_the_spellings_float_reads_but_people_do_not_mean() -> None:
    assert float("١٢٣") == 123.0 and float("1_000") == 1000.0  # what float() would store
    assert [intended(t) for t in ("١٢٣", "1_000", "nan", "1e309", " 7 ", "2.")] == [
        None, None, None, None, 7.0, 2.0]


@fuzz(60)
@given(text=st.one_of(st.sampled_from(SPELLINGS), st.floats().map(repr),
                      st.integers(-10**20, 10**20).map(str),
                      st.decimals(allow_nan=False, allow_infinity=False).map(str),
                      st.from_regex(r"[ ]?[+-]?[0-9_]{0,4}\.?[0-9]{0,3}([eE][+-]?[0-9]{1,3})?[ ]?",
                                    fullmatch=True),
                      st.text(st.characters(exclude_categories=["Cs"],
                                            exclude_characters="\x00"), max_size=8)))
@example(text="٣")
def test_any_spelling_is_stored_as_the_number_it_writes_or_refused(
        readme_home: Path, workdir: Path, text: str) -> None:
    check_number(fresh_copy(readme_home, workdir), text)


@pytest.mark.parametrize("text", ["١٢٣", "1_000", "0x10", "１２"])
def test_an_import_refuses_a_number_in_another_spelling(readme_home: Path, workdir: Path,
                                                        text: str) -> None:
    home = fresh_copy(readme_home, workdir)
    path = workdir / "c.csv"
    path.write_text(f"kr,value\n{KR},2\n{KR},{text}\n", encoding="utf-8")
    before = event_count(home)
    result = okr(home, "import", "checkins", str(path))
    assert result.code == 2, str(result)
    assert f":3: value {text!r} is not a number" in result.stderr, str(result)
    assert event_count(home) == before
