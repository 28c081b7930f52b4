"""A quarter planned late (typed in week 3, check-ins back-dated) reviews with charts that draw:
headless Chromium renders the HTML review, and the plotted lines are counted in its pixels."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.cli.report import to_html
from okr.domain.review import ReviewPoint, review
from okr.ledger.app import OkrLedger
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.integration.test_review_html import PIL, count, screenshot
from tests.support.clock import recording_at

pytestmark = pytest.mark.integration

BLUE, GREY = (0x25, 0x63, 0xEB), (0x8A, 0x8A, 0x8A)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def late_quarter() -> dict:
    app = OkrLedger(load_settings({}), env={"PERSISTENCE_MODULE":
                                                          "eventsourcing.popo"})
    clock = [t("2026-07-20T09:00+00:00")]

    def at(when: str, action: object) -> None:
        clock[0] = t(when)
        action()  # type: ignore[operator]

    with recording_at(lambda: clock[0]):
        at("2026-07-20T09:00+00:00", lambda: app.add_cycle("2026-Q3"))
        at("2026-07-20T09:01+00:00", lambda: app.add_objective("o", "Grow", "2026-Q3", "ana"))
        for key, target in (("k1", 100), ("k2", 40), ("k3", 10)):
            at("2026-07-20T09:02+00:00", lambda key=key, target=target: app.add_key_result(
                key, f"Result {key}", "o", target=target))
        for day, share in (("2026-07-06", 0.1), ("2026-07-13", 0.2)):
            for key, target in (("k1", 100), ("k2", 40), ("k3", 10)):
                at("2026-07-20T10:00+00:00", lambda key=key, v=target * share, d=day:
                   app.check_in(key, v, at=t(d + "T12:00+00:00")))
        at("2026-07-21T09:00+00:00", lambda: app.commit_cycle("2026-Q3"))
        for day, share in (("2026-08-03", 0.4), ("2026-08-31", 0.7), ("2026-09-28", 0.9)):
            for key, target in (("k1", 100), ("k2", 40), ("k3", 10)):
                at(day + "T12:00+00:00", lambda key=key, v=target * share:
                   app.check_in(key, v))
        at("2026-08-10T09:00+00:00", lambda: app.revise_key_result(
            "k2", target=30, reason="market", effective=t("2026-08-05T00:00+00:00")))
    facts = [e.fact() for e in chained(app)]
    return review(facts, "2026-Q3", ReviewPoint(t("2026-09-30T23:59+00:00"),
                                                t("2026-10-05T00:00+00:00")))


def test_a_late_plans_review_draws_actual_and_expected_for_every_key_result(
        tmp_path: Path) -> None:
    r = late_quarter()
    # every key result has a weekly series from the quarter's first week
    assert sorted(r["progress"]) == ["k1", "k2", "k3"]
    assert all(len(s) >= 13 for s in r["progress"].values())
    def pixels(review_: dict, name: str) -> tuple[int, int]:
        page = tmp_path / f"{name}.html"
        page.write_text(to_html(review_, "UTC"), encoding="utf-8")
        png = tmp_path / f"{name}.png"
        screenshot(page, png, tmp_path / f"profile-{name}")
        img = PIL.open(png).convert("RGB")
        return count(img, BLUE, tol=30), count(img, GREY, tol=2)

    blue, grey = pixels(r, "review")
    # The same page with every series cut to its first point draws no lines: what the
    # lines add is counted against it (grey text and axes are on both).
    bare_blue, bare_grey = pixels({**r, "progress": {k: s[:1] for k, s in
                                                     r["progress"].items()}}, "bare")
    assert bare_blue == 0
    assert blue > 3 * 150, f"actual-progress lines not drawn ({blue} blue pixels)"
    assert grey - bare_grey > 3 * 100, f"expected-progress lines not drawn ({grey} grey " \
        f"pixels, {bare_grey} without lines)"
