"""Small findings of the web app's security review, each held here: the failed-sign-in count
forgets addresses (it kept one entry per address forever), a 500 carries the security headers,
a refusal says "an auditor", and `next=` refuses paths a browser would read as another host."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from okr.settings import Settings
from okr.web import site as site_module
from okr.web.app import HEADERS, _local, create_app
from tests.integration.conftest import Broker
from tests.support.web import seeded_home

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(broker: Broker, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Settings, dict[str, str]]]:
    _, settings, ledger, tokens = seeded_home(tmp_path_factory.mktemp("review") / "home",
                                              broker.bootstrap)
    ledger.close()
    yield settings, tokens


def test_the_failed_sign_in_count_forgets_addresses_once_their_window_passed(
        home: tuple[Settings, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """One wrong guess from each of 5,000 addresses (a botnet, or IPv6 privacy addresses)
    must not stay in memory for the server's life: an address is kept while its failures
    can still count, no longer."""
    settings, _ = home
    site = create_app(settings).state.site
    now = [1000.0]
    monkeypatch.setattr(site_module.time, "monotonic", lambda: now[0])  # a clock we move
    for i in range(5000):
        assert site.signin_admitted(f"2001:db8::{i:x}")
    assert site.signin_addresses_kept() == 5000
    now[0] += site_module.SIGNIN_WINDOW + 1
    assert site.signin_admitted("198.51.100.7")
    assert site.signin_addresses_kept() == 1
    for _ in range(site_module.SIGNIN_FAILURES - 1):  # the limit itself still holds
        assert site.signin_admitted("198.51.100.7")
    assert not site.signin_admitted("198.51.100.7")


def test_a_500_carries_the_security_headers(home: tuple[Settings, dict[str, str]],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    settings, tokens = home
    app = create_app(settings)

    def broken(*_: object, **__: object) -> None:  # fault injection: a bug in a read
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.site, "instants", broken)
    c = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    assert c.post("/signin", data={"token": tokens["vic"]}).status_code == 303
    for r in (c.get("/scorecard"),
              c.get("/api/v1/scorecard", headers={"Authorization": f"Bearer {tokens['vic']}"})):
        assert r.status_code == 500, r.text
        for name, value in HEADERS.items():
            assert r.headers.get(name) == value, (r.request.url, name, dict(r.headers))
        assert r.headers.get("cache-control") == "no-store"
        assert "a bug" not in r.text  # no details of the bug


def test_a_refusal_says_an_auditor_and_an_admin(home: tuple[Settings, dict[str, str]]) -> None:
    settings, tokens = home
    c = TestClient(create_app(settings))
    r = c.post("/api/v1/key-results/k-sales/check-ins", json={"value": 1},
               headers={"Authorization": f"Bearer {tokens['aud']}"})
    assert r.status_code == 403
    assert r.json()["detail"] == ("aud is an auditor: an auditor reads but does not check in "
                                  "on key results")


@pytest.mark.parametrize("path", ["/\t/evil.example", "/\n/evil.example", "/\r/evil.example",
                                  "/ /evil.example", "/\\evil.example", "//evil.example",
                                  "/\x00/evil.example", "https://evil.example/",
                                  "/\u3000/evil.example"])
def test_next_never_leads_off_site(path: str, home: tuple[Settings, dict[str, str]]) -> None:
    """Browsers drop tabs and line breaks from a URL, so `/\\t/evil.example` is
    `//evil.example`, another host: the check itself refuses it, whatever the framework then
    encodes."""
    assert _local(path) == "/"
    settings, tokens = home
    c = TestClient(create_app(settings), follow_redirects=False)
    r = c.post("/signin", data={"token": tokens["vic"], "next": path})
    assert r.status_code == 303 and r.headers["location"] == "/", r.headers["location"]


def test_next_keeps_a_path_of_this_site(home: tuple[Settings, dict[str, str]]) -> None:
    assert _local("/kr/k-sales?as_of=2026-11-10") == "/kr/k-sales?as_of=2026-11-10"
    assert _local("/scorecard") == "/scorecard"
