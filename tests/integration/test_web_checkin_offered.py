"""The key-result page offers its check-in form only where a check-in can be recorded. A trial:
the page of a key result in a closed cycle, and of one measured by a KPI, showed the form to a
member of its team, and the form's check-in was then refused ("cycle … is closed", "measured by
KPI …") — a form that cannot work. The page says why there is none instead, in the words the
refusal uses, and the form stays where it works."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from okr.ledger.app import OkrLedger
from okr.web.app import create_app
from tests.integration.conftest import Broker
from tests.support.web import seeded_home

pytestmark = pytest.mark.integration


@dataclass
class Site:
    app: TestClient
    ledger: OkrLedger
    tokens: dict[str, str]

    def page(self, name: str, path: str) -> str:
        c = TestClient(self.app.app, follow_redirects=False)
        assert c.post("/signin", data={"token": self.tokens[name], "next": "/"}).status_code == 303
        r = c.get(path)
        assert r.status_code == 200, r.text[:300]
        return r.text


@pytest.fixture(scope="module")
def site(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    _, settings, ledger, tokens = seeded_home(tmp_path_factory.mktemp("offered") / "home",
                                              broker.bootstrap)
    ledger.add_kpi("wau", "Weekly users", green=100, red=50)
    ledger.add_key_result("k-wau", "Users", objective="o-sales", start=0, target=150, kpi="wau",
                          reason="measured by the KPI")
    past = datetime(2026, 7, 1, tzinfo=UTC)
    ledger.add_cycle("old", past, past + timedelta(days=30))
    ledger.add_objective("o-old", "Old", cycle="old", owner="mia", team="sales")
    ledger.add_key_result("k-old", "Old deals", objective="o-old", start=0, target=5)
    ledger.close_cycle("old", reason="over")
    app = create_app(settings)
    yield Site(TestClient(app), ledger, tokens)
    app.state.site.close()
    ledger.close()


def hint(html: str) -> str:
    found = re.search(r'id="no-checkin">(.*?)</p>', html, re.S)
    assert found, "no word on why there is no check-in form"
    return found.group(1)


def test_a_member_gets_the_form_where_a_check_in_can_be_recorded(site: Site) -> None:
    html = site.page("mia", "/kr/k-sales")
    assert 'id="checkin"' in html and 'id="no-checkin"' not in html


def test_no_form_for_a_key_result_of_a_closed_cycle(site: Site) -> None:
    html = site.page("mia", "/kr/k-old")
    assert 'id="checkin"' not in html
    assert "cycle old is closed" in hint(html)


def test_no_form_for_a_key_result_a_kpi_measures(site: Site) -> None:
    html = site.page("mia", "/kr/k-wau")
    assert 'id="checkin"' not in html
    said = hint(html)
    assert "measured by KPI" in said and 'href="/kpi/wau"' in said
