"""The read commands README promises, through `okr` with a real broker: the scorecard at a past
instant (`--as-of`, valid time) and as it was known (`--known-at`, recording time), the HTML
review written with `--out`, and `okr retro` comparing two cycles."""

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fuzzing import live_window
from tests.integration.conftest import Env

pytestmark = pytest.mark.integration


def live_cycles(env: Env) -> dict[str, datetime]:
    """Two cycles around today (plans cannot be back-dated, so a past view needs a plan made
    before it), check-ins at the real now, one back-dated; returns the instants in between."""
    start, end = live_window()
    for cycle, obj, kr, title in (("live-a", "oa", "ka", "Signed pilots"),
                                  ("live-b", "ob", "kb", "Open incidents")):
        env.ok("cycle", "add", cycle, "--start", start.isoformat(), "--end", end.isoformat())
        env.ok("objective", "add", obj, f"Goal of {cycle}", "--cycle", cycle)
        env.ok("kr", "add", kr, title, "--objective", obj, "--start", "0", "--target", "10")
        env.ok("cycle", "commit", cycle)
    t: dict[str, datetime] = {}
    env.ok("checkin", "ka", "3")
    env.ok("checkin", "kb", "5")
    env.ok("kr", "revise", "kb", "--target", "8", "--reason", "scope cut")
    t["between"] = later()
    env.ok("checkin", "ka", "6")
    t["before_backdated"] = later()
    env.ok("checkin", "ka", "9", "--at", t["between"].isoformat())  # effective before the 6
    return t


def later() -> datetime:
    """An instant strictly after the last write and before the next one."""
    time.sleep(0.02)
    now = datetime.now(UTC)
    time.sleep(0.02)
    return now


def value_of(card: dict[str, Any], kr: str) -> float | None:
    found = [k["value"] for o in card["objectives"] for k in o["key_results"] if k["key"] == kr]
    assert len(found) == 1, card
    return found[0]  # type: ignore[no-any-return]


def test_scorecard_as_of_and_known_at_through_the_cli(env: Env) -> None:
    t = live_cycles(env)

    def card(*args: str) -> dict[str, Any]:
        return json.loads(env.ok("scorecard", "--cycle", "live-a", "--json", *args))  # type: ignore[no-any-return]

    between, before = t["between"].isoformat(), t["before_backdated"].isoformat()
    assert value_of(card(), "ka") == 6.0  # the latest by valid time
    # Valid time: at `between` only the 3 was in effect, then the back-dated 9 was put there.
    assert value_of(card("--as-of", between, "--known-at", before), "ka") == 3.0
    assert value_of(card("--as-of", between), "ka") == 9.0
    # Recording time alone: before the 6 was recorded, the 3 is all that was known.
    early = card("--known-at", between)
    assert value_of(early, "ka") == 3.0
    assert early["known_at"] == t["between"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    proc = env.run("scorecard", "--as-of", "someday")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_review_html_out_and_retro_through_the_cli(env: Env, tmp_path: Path) -> None:
    live_cycles(env)
    out = tmp_path / "review.html"
    env.ok("review", "live-a", "--format", "html", "--out", str(out))
    page = out.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "<title>Review of live-a</title>" in page
    # Plan vs actual: objective, type, key result, planned and final target, value, progress.
    assert "<tr><td>oa Goal of live-a</td><td>committed</td><td>ka Signed pilots" in page
    assert "</td><td>10</td><td>10</td><td>6</td><td>60%</td>" in page
    assert "<figcaption>ka — Signed pilots</figcaption>" in page
    assert "<td>kb</td>" not in page and "Open incidents" not in page  # the other cycle's
    assert "http://" not in page and "https://" not in page  # self-contained
    retro = json.loads(env.ok("retro", "live-a", "live-b", "--json"))
    a, b = retro["a"], retro["b"]
    assert (a["cycle"], a["objectives"], a["key_results"], a["revisions"]) == ("live-a", 1, 1, 0)
    assert (b["cycle"], b["objectives"], b["key_results"], b["revisions"]) == ("live-b", 1, 1, 1)
    assert a["mean_score"] == pytest.approx(6 / 10)
    assert b["mean_score"] == pytest.approx(5 / 8)  # scored against the revised target
    assert retro["change"]["mean_score"] == pytest.approx(5 / 8 - 6 / 10)
    assert retro["change"]["revisions"] == 1
