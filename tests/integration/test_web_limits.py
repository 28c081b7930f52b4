"""okr serve under hostile bodies: a body over the bound is refused as soon as it is known to be
(by its Content-Length, or once more than the bound has arrived) — before the token is known
good too, so nobody without one makes the server hold a body of any size; a JSON body nested
too deeply or with a number too long is a one-line problem after the token is checked, as any
body that is not JSON. Until 2026-12-04 a 200 MB body without a token was read whole (the
server grew by 400 MB) before its 401, and a sign-in form of 300 fields of 900 KB was held
whole; deep nesting answered `{"detail": "There was an error parsing the body"}` whatever
the token."""

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from okr.settings import Settings
from okr.web.app import create_app
from okr.web.limits import MAX_BODY
from tests.integration.conftest import Broker
from tests.support.web import asgi_post, recorded_check_ins, seeded_home

pytestmark = pytest.mark.integration

PIECE = 2 ** 20  # bytes the hostile client sends at a time
MOST = MAX_BODY // PIECE + 1  # pieces the server may read before it knows the body too big
CHECK_IN = "/api/v1/key-results/k-sales/check-ins"


@dataclass
class Site:
    settings: Settings
    tokens: dict[str, str]
    client: TestClient

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def check_ins(self) -> int:
        return len(recorded_check_ins(self.settings, "k-sales"))


@pytest.fixture(scope="module")
def site(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    _, settings, ledger, tokens = seeded_home(tmp_path_factory.mktemp("limits") / "home",
                                              broker.bootstrap)
    app = create_app(settings)
    yield Site(settings, tokens, TestClient(app, follow_redirects=False))
    app.state.site.close()
    ledger.close()


def raw_post(site: Site, path: str, pieces: int, piece: bytes, token: str | None,
             content_type: str, length: int | None = None) -> tuple[int, int, str, str]:
    """POST `pieces` × `piece` straight into the ASGI app: (status, pieces the app read,
    content type, body)."""
    headers = [(b"content-type", content_type.encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    status, read, kind, body = asgi_post(site.client.app, path, pieces, piece, headers)
    return status, read, kind, body.decode()


NOTE = b'{"value": 3, "note": "' + b"x" * (PIECE - 22)  # a JSON body that never ends


@pytest.mark.parametrize("length", [None, 64 * PIECE])
def test_a_huge_api_body_without_a_token_is_refused_before_it_is_held(
        site: Site, length: int | None) -> None:
    before = site.check_ins()
    status, read, kind, body = raw_post(site, CHECK_IN, 64, NOTE, None, "application/json",
                                        length)
    assert status == 401 and kind == "application/problem+json", (status, body[:200])
    assert read <= (0 if length else MOST), read
    assert site.check_ins() == before


@pytest.mark.parametrize("length", [None, 64 * PIECE])
def test_a_huge_api_body_with_a_token_is_413_in_one_line(site: Site,
                                                          length: int | None) -> None:
    before = site.check_ins()
    status, read, kind, body = raw_post(site, CHECK_IN, 64, NOTE, site.tokens["ana"],
                                        "application/json", length)
    assert status == 413 and kind == "application/problem+json", (status, body[:200])
    detail = json.loads(body)["detail"]
    assert f"at most {MAX_BODY:,} bytes" in detail and "\n" not in detail, detail
    assert read <= (0 if length else MOST), read
    assert site.check_ins() == before


@pytest.mark.parametrize("path", ["/signin", "/signout", "/kr/k-sales/checkin"])
def test_a_huge_form_is_refused_before_it_is_held(site: Site, path: str) -> None:
    field = b"f=" + b"x" * (PIECE - 3) + b"&"  # fields under the parser's own 1 MB bound
    status, read, kind, body = raw_post(site, path, 64, field, None,
                                        "application/x-www-form-urlencoded")
    # the check-in form of nobody signed in is sent to sign in before its form is read
    assert status in (303, 413) and read <= MOST, (status, read)
    if status == 413:
        assert kind.startswith("text/html") and "at most" in body, body[:300]


def test_the_bound_leaves_imports_to_their_own(site: Site) -> None:
    """An import's body is a file (up to 20,000,000 bytes: test_web_api_writes.py)."""
    r = site.client.post("/api/v1/imports/plan?name=plan.yaml",
                         content=b"#" + b"x" * (MAX_BODY + 10) + b"\n[",
                         headers={**site.auth("ana"), "Content-Type": "application/yaml"})
    assert r.status_code == 400, r.text[:300]


def test_a_body_just_under_the_bound_is_read(site: Site) -> None:
    body = json.dumps({"value": 3, "note": "x" * (MAX_BODY - 100)})
    r = site.client.post(CHECK_IN, content=body,
                         headers={**site.auth("ana"), "Content-Type": "application/json"})
    assert r.status_code == 400 and "at most 2000 allowed" in r.json()["detail"], r.text[:300]


@pytest.mark.parametrize(("body", "says"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"value": 1' + "0" * 5000 + "}", "a number of more than 4300 digits"),
])
def test_json_okr_cannot_read_is_a_one_line_problem_after_the_token(
        site: Site, body: str, says: str) -> None:
    before = site.check_ins()
    json_type = {"Content-Type": "application/json"}
    r = site.client.post(CHECK_IN, content=body, headers=json_type)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = site.client.post(CHECK_IN, content=body, headers={**site.auth("ana"), **json_type})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    detail = r.json()["detail"]
    assert detail.startswith("the body is not JSON okr can read: ") and says in detail, detail
    assert "\n" not in detail and site.check_ins() == before
