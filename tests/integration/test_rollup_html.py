"""The HTML review shows the team and department summaries as a person sees them: headless
Chromium renders the page, and the roll-up bars are real pixels of the right length."""

from datetime import timedelta
from pathlib import Path

import pytest

from okr.cli.report import to_html
from okr.domain.base import utc_now
from okr.domain.review import ReviewPoint, review
from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from tests.fuzzing import LIVE_CYCLE
from tests.integration.test_review_html import PIL, count, screenshot
from tests.unit.test_rollup import build, project

pytestmark = [pytest.mark.integration, pytest.mark.chromium]

PURPLE = (0x7C, 0x3A, 0xED)  # report._ROLLUP_COLOUR


def test_review_html_draws_team_and_department_rollups(tmp_path: Path) -> None:
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    build(app)
    app.update_objective("web", team="<b>web</b>")  # stored text stays text in the page
    now = utc_now() + timedelta(seconds=1)
    with project(app, tmp_path / "p.duckdb") as proj:
        data = review(list(proj.facts()), LIVE_CYCLE, ReviewPoint(now, now))
    app.close()
    page = tmp_path / "review.html"
    text = to_html(data, "UTC")
    page.write_text(text, encoding="utf-8")
    assert "Departments (roll-ups)" in text and "&lt;b&gt;web&lt;/b&gt;" in text
    assert "<b>web</b>" not in text
    png = tmp_path / "review.png"
    screenshot(page, png, tmp_path / "profile")
    img = PIL.open(png).convert("RGB")
    purple = count(img, PURPLE, tol=30)
    # Bars 8 px high, 120 px at a score of 1. Worked by hand from docs/scoring.md's example:
    # teams "-" (co's own 0.5), eng 0.625, eng-web 0.8, sales-emea 0.4 (sales and lab have no
    # score of their own); departments co 0.52, eng 0.66, sales 0.4 — in all 3.905 × 120 × 8
    # ≈ 3,749 pixels (whole pixels and anti-aliased edges aside).
    assert 3500 < purple < 4000, f"{purple} purple pixels"
