"""Keys match their pattern in full, and alignment links stay a forest of bounded depth
(issue 18): `okr kr add $'kr1\\n'` made a second key that displays as "kr1"; `o1` under `o2`
under `o1` printed a scorecard of only its header; a 1,100-deep chain crashed the scorecard
with RecursionError."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.cli.scorecard import print_scorecard
from okr.domain.errors import DomainError
from okr.domain.objective import MAX_ALIGNMENT_DEPTH
from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from tests.fuzzing import event_count, okr

CYCLE = "2026-Q4"


def refused(home: Path, *args: str) -> str:
    """`okr ARGS` must fail in one line, exit 2, with no event written."""
    before = event_count(home)
    result = okr(home, *args)
    assert result.crash is None and result.code == 2, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("okr: error: "), str(result)
    assert event_count(home) == before
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for args in (["cycle", "add", CYCLE],
                 ["objective", "add", "o1", "One", "--cycle", CYCLE, "--owner", "ana"],
                 ["kr", "add", "kr1", "K", "--objective", "o1", "--kind", "increase",
                  "--start", "0", "--target", "1"]):
        assert okr(home, *args).code == 0
    return home


@pytest.mark.parametrize("key", ["kr1\n", "kr1\r\n", "kr2\n", "\nkr2", "kr 2", "kr2\x00",
                                 "k" * 65, "kr2\u200b", "кr2"])
def test_a_key_must_match_its_pattern_in_full(home: Path, key: str) -> None:
    line = refused(home, "kr", "add", key, "K", "--objective", "o1", "--kind", "increase",
                   "--start", "0", "--target", "1")
    assert "is not valid" in line


@pytest.mark.parametrize("key", ["launch\n", "2027-Q1\n", "2027\n"])
def test_a_cycle_key_must_match_in_full(home: Path, key: str) -> None:
    result = okr(home, "cycle", "add", key, "--start", "2027-01-01", "--end", "2027-02-01")
    if result.code == 0:  # a named period is stripped to its canonical key, never kept raw
        assert key.strip() in result.stdout and "\n" not in key.strip()
    else:
        assert result.code == 2 and result.crash is None, str(result)


def test_an_alignment_cycle_is_refused_in_one_line(home: Path) -> None:
    assert okr(home, "objective", "add", "o2", "Two", "--cycle", CYCLE, "--owner", "ana",
               "--parent", "o1").code == 0
    assert okr(home, "objective", "add", "o3", "Three", "--cycle", CYCLE, "--owner", "ana",
               "--parent", "o2").code == 0
    line = refused(home, "objective", "update", "o1", "--parent", "o3")
    assert "cycle (o1 → o3 → o2 → o1)" in line
    assert "its own parent" in refused(home, "objective", "update", "o1", "--parent", "o1")


def test_a_chain_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    settings = load_settings({"home": tmp_path / "home"}, environ={})
    app = OkrLedger(settings)
    try:
        app.add_cycle(CYCLE)
        app.add_objective("d0", "top", cycle=CYCLE, owner="ana")
        for i in range(1, MAX_ALIGNMENT_DEPTH + 1):  # d_i has i objectives above it
            app.add_objective(f"d{i}", "t", cycle=CYCLE, owner="ana", parent=f"d{i - 1}")
        with pytest.raises(DomainError, match=f"deeper than {MAX_ALIGNMENT_DEPTH}"):
            app.add_objective("too-deep", "t", cycle=CYCLE, owner="ana",
                              parent=f"d{MAX_ALIGNMENT_DEPTH}")
        app.add_objective("side", "t", cycle=CYCLE, owner="ana")
        with pytest.raises(DomainError, match=f"deeper than {MAX_ALIGNMENT_DEPTH}"):
            app.update_objective("side", parent=f"d{MAX_ALIGNMENT_DEPTH}")
    finally:
        app.close()


def card(key: str, parent: str | None) -> dict[str, object]:
    return {"key": key, "title": f"title of {key}", "cycle": CYCLE, "okr_type": "committed",
            "owner": "ana", "team": "", "parent": parent, "status": "active", "score": 0.5,
            "expected": 0.5, "track": "on-track", "key_results": []}


def test_the_scorecard_tree_shows_a_deep_chain_and_a_stored_cycle_without_recursion(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Ledgers written before the checks may hold both: every card is still shown once."""
    chain = [card("c0", None), *(card(f"c{i}", f"c{i - 1}") for i in range(1, 1100))]
    loop = [card("x1", "x2"), card("x2", "x1")]
    now = datetime(2026, 12, 1, tzinfo=UTC).isoformat()
    print_scorecard(chain + loop, now, now)
    out = capsys.readouterr().out
    assert all(f"c{i} title of c{i}" in out for i in range(1100))
    assert out.count("x1 title of x1") == 1 and out.count("x2 title of x2") == 1
