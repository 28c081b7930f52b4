"""okr serve, the restatement (`/restatement`, `GET /api/v1/restatement`): what the ledger
believed at an instant against what it knows now about that instant, worked out by the one
rule `okr review --compare-known-at` uses (domain/review.restatements) — a re-alignment and a
key result moved, recorded late, are said with the roll-ups they moved, as the review says
them. The web kept a copy of its own that filed a moved key result under its new objective
only and said nothing of parents or roll-ups."""

import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from okr.web.app import create_app
from tests.integration.conftest import OKR, Broker
from tests.support.web import seeded_home

pytestmark = pytest.mark.integration


@dataclass
class Moved:
    environ: dict[str, str]
    tokens: dict[str, str]
    client: TestClient
    at: str  # after the plan, before the late move and re-alignment were recorded


@pytest.fixture(scope="module")
def moved(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moved]:
    environ, settings, ledger, tokens = seeded_home(
        tmp_path_factory.mktemp("restated") / "home", broker.bootstrap)
    ledger.add_objective("o-co", "Company", cycle="live", owner="ana", level="company",
                         reason="the company's own")
    ledger.add_key_result("k-co", "Revenue", "o-co", target=100, reason="the company's own")
    ledger.update_objective("o-eng", parent="o-co", reason="aligned")
    ledger.check_in("k-co", 50)
    ledger.check_in("k-eng", 4, confidence=0.5)
    ledger.check_in("k-sales", 10)
    agreed = datetime.now(UTC)  # when the move and the re-alignment took effect
    time.sleep(0.01)
    at = datetime.now(UTC)
    time.sleep(0.01)
    # Recorded after `at`, in force before it: at `at` the ledger did not know them yet.
    ledger.update_objective("o-sales", parent="o-co", reason="agreed on Monday",
                            effective=agreed)
    ledger.move_key_result("k-eng", "o-sales", reason="agreed on Monday", effective=agreed)
    app = create_app(settings)
    yield Moved(environ, tokens, TestClient(app, follow_redirects=False), at.isoformat())
    app.state.site.close()
    ledger.close()


def api(moved: Moved) -> dict[str, Any]:
    r = moved.client.get("/api/v1/restatement", params={"at": moved.at},
                         headers={"Authorization": f"Bearer {moved.tokens['vic']}"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_the_api_restates_as_okr_review_compare_known_at_does(moved: Moved) -> None:
    proc = subprocess.run([OKR, "review", "live", "--as-of", moved.at, "--compare-known-at",
                           moved.at, "--json"], text=True, capture_output=True,
                          env=moved.environ, timeout=120)
    assert proc.returncode == 0, proc.stderr
    review = json.loads(proc.stdout)["restatements"]
    body = api(moved)
    assert body["restatements"] == review
    said = {(x["kind"], x["key"], x["field"]): (x["before"], x["after"]) for x in review}
    assert said[("objective", "o-sales", "parent")] == (None, "o-co")
    assert said[("key_result", "k-eng", "objective")] == ("o-eng", "o-sales")
    assert ("objective", "o-co", "rollup") in said  # o-sales came under it, k-eng with it


def test_the_api_files_a_moved_key_result_then_and_now_and_lists_objectives(
        moved: Moved) -> None:
    body = api(moved)
    krs = {r["key"]: r for r in body["key_results"]}
    eng = krs["k-eng"]
    assert (eng["then"]["objective"], eng["now"]["objective"]) == ("o-eng", "o-sales")
    assert "objective" in eng["changed"] and eng["objective"] == "o-sales"
    assert krs["k-co"]["changed"] == []  # nothing about it was restated
    objectives = {r["key"]: r for r in body["objectives"]}
    assert objectives["o-sales"]["changed"] == ["parent", "score"]  # nothing below it
    assert (objectives["o-sales"]["then"]["parent"], objectives["o-sales"]["now"]["parent"]) \
        == (None, "o-co")
    assert "rollup" in objectives["o-co"]["changed"]


def test_the_page_highlights_the_realignment_the_move_and_the_rollups(moved: Moved) -> None:
    c = moved.client
    r = c.post("/signin", data={"token": moved.tokens["vic"], "next": "/restatement"})
    assert r.status_code == 303, r.text
    html = c.get("/restatement", params={"at": moved.at}).text
    row = re.search(r'<tr class="restated" id="restated-k-eng">(.*?)</tr>', html, re.S)
    assert row, html
    assert '<td class="changed">o-eng<br>o-sales</td>' in row.group(1)
    objective = re.search(r'<tr class="restated" id="restated-objective-o-sales">(.*?)</tr>',
                          html, re.S)
    assert objective, html
    assert '<td class="changed">–<br>o-co</td>' in objective.group(1)
    assert re.search(r'<tr class="restated" id="restated-objective-o-co">', html)
