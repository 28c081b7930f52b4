"""okr serve, pages: sign-in, the scorecard and key-result pages, the check-in form — with the
signed-in user as the actor, CSRF on every form, roles, and stored text shown as data.

One ledger and one app for the module (the projection is brought up to date through the
session's broker, as `okr scorecard` does)."""

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from okr.ledger.app import OkrLedger
from okr.settings import Settings
from okr.web.app import create_app
from tests.fuzzing import live_window
from tests.integration.conftest import Broker
from tests.support.hostile_text import CORPUS, raw_controls
from tests.support.web import HOSTILE_NOTE, recorded_check_ins, seeded_home

pytestmark = pytest.mark.integration


@dataclass
class Web:
    settings: Settings
    ledger: OkrLedger
    tokens: dict[str, str]

    def client(self) -> TestClient:
        return TestClient(create_app(self.settings), follow_redirects=False)

    def signed_in(self, name: str) -> TestClient:
        c = self.client()
        r = c.post("/signin", data={"token": self.tokens[name], "next": "/scorecard"})
        assert r.status_code == 303, r.text
        return c

    def check_ins(self, key: str = "k-sales") -> list[dict[str, object]]:
        return recorded_check_ins(self.settings, key)


@pytest.fixture(scope="module")
def web(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    _, settings, ledger, tokens = seeded_home(tmp_path_factory.mktemp("web") / "home",
                                              broker.bootstrap)
    yield Web(settings, ledger, tokens)
    ledger.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_pages_need_a_signed_in_user(web: Web) -> None:
    c = web.client()
    r = c.get("/scorecard")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/scorecard"
    assert c.get("/kr/k-sales").status_code == 303


def test_a_wrong_token_is_refused_and_a_right_one_gives_a_strict_httponly_session(
        web: Web) -> None:
    c = web.client()
    bad = c.post("/signin", data={"token": web.tokens["mia"][:-2] + "xx"})
    assert bad.status_code == 401 and "not valid" in bad.text
    assert "okr_session" not in bad.headers.get("set-cookie", "")
    good = c.post("/signin", data={"token": web.tokens["mia"], "next": "//evil.example/"})
    cookie = good.headers["set-cookie"]
    assert good.status_code == 303 and good.headers["location"] == "/"  # never off-site
    assert "okr_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert c.get("/scorecard").status_code == 200


def test_a_forged_session_cookie_is_not_a_session(web: Web) -> None:
    c = web.client()
    c.cookies.set("okr_session", "ana|99999999999|00|" + "0" * 64)
    assert c.get("/scorecard").status_code == 303


def test_every_page_sends_the_security_headers(web: Web) -> None:
    c = web.signed_in("vic")
    for path in ("/scorecard", "/kr/k-sales", "/signin", "/static/okr.css"):
        h = c.get(path).headers
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        csp = h["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert "script-src" not in csp and "default-src 'none'" in csp  # no script at all


def test_the_scorecard_shows_objectives_key_results_and_filters_by_team(web: Web) -> None:
    c = web.signed_in("vic")
    page = c.get("/scorecard").text
    assert 'id="objective-o-sales"' in page and 'id="kr-k-eng"' in page
    only_eng = c.get("/scorecard", params={"team": "eng"}).text
    assert 'id="objective-o-eng"' in only_eng and 'id="objective-o-sales"' not in only_eng


def test_hostile_titles_and_notes_render_as_text(web: Web) -> None:
    mia = web.signed_in("mia")
    page = mia.get("/kr/k-sales").text
    hostile_name = CORPUS["html"][:60] + CORPUS["ansi colour"] + CORPUS["bidi override"]
    r = mia.post("/kr/k-sales/checkin", data={"csrf": csrf_of(page), "value": "1",
                                              "note": HOSTILE_NOTE,
                                              "on_behalf_of": hostile_name})
    assert r.status_code == 303
    assert web.check_ins()[-1]["on_behalf_of"] == hostile_name  # kept exactly, as data
    for html in (mia.get("/scorecard").text, mia.get("/kr/k-sales").text,
                 web.signed_in("vic").get("/trail/k-sales").text):
        assert "<script>" not in html and "<b>bold</b>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert raw_controls(html.replace("\n", "")) == []  # ESC and U+202E made visible
    assert "[link=https://evil.example/]click me[/link]" in mia.get("/kr/k-sales").text


def test_a_member_checks_in_on_their_team_and_is_the_recorded_actor(web: Web) -> None:
    mia = web.signed_in("mia")
    page = mia.get("/kr/k-sales").text
    assert 'id="checkin"' in page
    r = mia.post("/kr/k-sales/checkin",
                 data={"csrf": csrf_of(page), "value": "17", "confidence": "0.6",
                       "note": "from the form", "actor": "ana", "on_behalf_of": "ana"})
    assert r.status_code == 303 and r.headers["location"] == "/kr/k-sales"
    last = web.check_ins()[-1]
    assert (last["value"], last["confidence"], last["note"], last["actor"], last["source"]) \
        == (17.0, 0.6, "from the form", "web:mia", "web")
    shown = mia.get("/kr/k-sales").text
    assert re.search(r'id="kr-value">17 deals<', shown)  # the projection caught up
    assert "web:mia" in shown and "from the form" in shown


def test_a_back_dated_check_in_shows_its_effective_and_recorded_times(web: Web) -> None:
    ana = web.signed_in("ana")
    page = ana.get("/kr/k-sales").text
    day = (live_window()[0] + timedelta(days=1)).date().isoformat()
    r = ana.post("/kr/k-sales/checkin", data={"csrf": csrf_of(page), "value": "3",
                                              "at": f"{day}T12:00"})
    assert r.status_code == 303
    rows = ana.get("/kr/k-sales").text
    assert f"{day}T12:00:00" in rows  # effective, said back in the zone (UTC here)


def test_a_form_without_the_csrf_token_records_nothing(web: Web) -> None:
    mia = web.signed_in("mia")
    before = len(web.check_ins())
    for data in ({"value": "5"}, {"value": "5", "csrf": "0" * 64}):
        r = mia.post("/kr/k-sales/checkin", data=data)
        assert r.status_code == 403 and "reload the page" in r.text
    assert len(web.check_ins()) == before


def test_viewers_auditors_and_other_teams_members_cannot_check_in(web: Web) -> None:
    before = len(web.check_ins())
    for name in ("vic", "aud", "ben"):
        c = web.signed_in(name)
        page = c.get("/kr/k-sales").text
        assert 'id="checkin"' not in page and 'id="read-only"' in page
        r = c.post("/kr/k-sales/checkin", data={"csrf": csrf_of(page), "value": "9"})
        assert r.status_code == 403, name
    assert len(web.check_ins()) == before


def test_bad_input_answers_the_clis_one_line_and_records_nothing(web: Web) -> None:
    mia = web.signed_in("mia")
    page = mia.get("/kr/k-sales").text
    before = len(web.check_ins())
    r = mia.post("/kr/k-sales/checkin", data={"csrf": csrf_of(page), "value": "1_000"})
    assert r.status_code == 400 and 'id="error"' in r.text and "1_000" in r.text
    r = mia.post("/kr/k-sales/checkin", data={"csrf": csrf_of(page), "value": "2",
                                              "confidence": "7"})
    assert r.status_code == 400 and "between 0 and 1" in r.text
    assert len(web.check_ins()) == before


def test_an_unknown_key_result_is_404(web: Web) -> None:
    r = web.signed_in("vic").get(f"/kr/nope-{uuid.uuid4().hex[:6]}")
    assert r.status_code == 404 and "not found" in r.text


def test_a_role_is_a_ledger_event_with_its_actor(web: Web, tmp_path: Path) -> None:
    ana = OkrLedger(web.settings).user("ana")
    assert (ana.role, ana.team, len(ana.token_hashes)) == ("admin", "", 1)
    assert all(t not in str(ana.token_hashes) for t in web.tokens.values())


def test_time_travel_shows_what_was_known_before_a_check_in(web: Web) -> None:
    ana = web.signed_in("ana")
    page = ana.get("/kr/k-eng").text
    before = datetime.now(UTC).isoformat()
    assert ana.post("/kr/k-eng/checkin", data={"csrf": csrf_of(page),
                                               "value": "8"}).status_code == 303
    now = ana.get("/kr/k-eng").text
    then = ana.get("/kr/k-eng", params={"known_at": before}).text
    assert re.search(r'id="kr-value">8 <', now)
    assert not re.search(r'id="kr-value">8 <', then)
    assert 'id="past-view"' in then and 'id="checkin"' not in then  # no form in the past
    card = ana.get("/scorecard", params={"known_at": before}).text
    assert 'id="as-of-said"' in card and "8 → 10" not in card
    assert "8 → 10" in ana.get("/scorecard").text
    bad = ana.get("/scorecard", params={"as_of": "someday"})
    assert bad.status_code == 400 and "cannot read time &#39;someday&#39;" in bad.text


def test_the_restatement_highlights_a_late_correction(web: Web) -> None:
    ana = web.signed_in("ana")
    day = (live_window()[0] + timedelta(days=2)).date().isoformat()
    page = ana.get("/kr/k-eng").text
    # A value for that day recorded now: the ledger did not know it on that day.
    assert ana.post("/kr/k-eng/checkin", data={"csrf": csrf_of(page), "value": "2",
                                               "at": day}).status_code == 303
    html = ana.get("/restatement", params={"at": day}).text
    row = re.search(r'<tr class="restated" id="restated-k-eng">(.*?)</tr>', html, re.S)
    assert row, "k-eng should be restated"
    assert '<td class="changed">–<br>2</td>' in row.group(1)
    assert 'id="restated-k-sales"' in html


def test_the_audit_trail_names_the_web_user_and_what_changed(web: Web) -> None:
    mia = web.signed_in("mia")
    page = mia.get("/kr/k-sales").text
    assert mia.post("/kr/k-sales/checkin", data={"csrf": csrf_of(page), "value": "4",
                                                 "on_behalf_of": "Dana"}).status_code == 303
    html = web.signed_in("vic").get("/trail/k-sales").text
    assert "KeyResultAdded" in html and "CheckInRecorded" in html and "web:mia" in html
    assert "(on behalf of Dana)" in html  # beside the actor, who stays the signed-in user
    assert web.signed_in("vic").get("/trail/nothing-here").status_code == 404


def test_the_verify_page_is_for_auditors_and_admins(web: Web) -> None:
    assert web.signed_in("vic").get("/verify").status_code == 403
    web.signed_in("aud").get("/scorecard")  # a read publishes what waits, as the CLI's does
    html = web.signed_in("aud").get("/verify").text
    assert re.search(r'id="verdict">VERIFIED<', html), html


def test_the_verify_page_right_after_a_write_publishes_what_waits_first(web: Web) -> None:
    """`okr serve` alone publishes what waits when a page reads (no relay runs): the verify
    verdict did not, and said "incomplete (run okr relay)" after a check-in made through the
    server itself (a new user's trial)."""
    mia = web.signed_in("mia")
    page = mia.get("/kr/k-sales").text
    assert mia.post("/kr/k-sales/checkin",
                    data={"csrf": csrf_of(page), "value": "5"}).status_code == 303
    verdict = web.signed_in("aud").get("/verify").text  # no read in between
    assert re.search(r'id="verdict">VERIFIED<', verdict), verdict


def test_a_password_signs_in_like_a_token_and_a_wrong_one_is_refused_in_the_same_words(
        web: Web) -> None:
    from okr.web.passwords import hash_password

    web.ledger.set_password("ben", hash_password("correct horse battery"))
    c = web.client()
    wrong_token = c.post("/signin", data={"token": web.tokens["ben"][:-2] + "xx"})
    refusals = [c.post("/signin", data={"name": name, "password": password})
                for name, password in (("ben", "correct horse batterY"), ("nobody", "x" * 20),
                                       ("mia", "correct horse battery"),  # mia has none
                                       ("", "x" * 20), ("b\u202een", "x" * 20),
                                       ("ben", "y" * 5000))]
    for r in [wrong_token, *refusals]:
        assert r.status_code == 401 and "okr_session" not in r.headers.get("set-cookie", "")
    said = {re.search(r'id="error">([^<]*)<', r.text).group(1)  # type: ignore[union-attr]
            for r in [wrong_token, *refusals]}
    assert len(said) == 1  # one refusal for all: a name cannot be told apart
    good = c.post("/signin", data={"name": "ben", "password": "correct horse battery",
                                   "next": "/kr/k-eng"})
    cookie = good.headers["set-cookie"]
    assert good.status_code == 303 and good.headers["location"] == "/kr/k-eng"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert c.get("/scorecard").status_code == 200


def test_wrong_passwords_count_towards_the_sign_in_rate_limit(web: Web) -> None:
    c = TestClient(create_app(web.settings), follow_redirects=False,
                   client=("198.51.100.7", 50000))
    answers = [c.post("/signin", data={"name": "ana", "password": f"guess number {i}"})
               .status_code for i in range(11)]
    assert answers == [401] * 10 + [429]


def test_every_password_sign_in_costs_one_argon2_verification_whoever_is_named(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """Known name or not, a password of normal length or over the bound: one verification
    each and no hashing, so the time an answer takes tells no names apart (the dummy hash an
    unknown name is checked against is made when the server starts, not at its first use)."""
    from argon2 import PasswordHasher

    from okr.web import passwords

    web.ledger.set_password("ben", passwords.hash_password("correct horse battery"))
    calls = {"verify": 0, "hash": 0}

    def counted(name: str) -> object:
        real = getattr(PasswordHasher, name)

        def spy(self: PasswordHasher, *args: object, **kwargs: object) -> object:
            calls[name] += 1
            return real(self, *args, **kwargs)
        return spy

    monkeypatch.setattr(passwords, "_DUMMY", None)  # as in a server process just started
    monkeypatch.setattr(PasswordHasher, "verify", counted("verify"))
    monkeypatch.setattr(PasswordHasher, "hash", counted("hash"))
    c = TestClient(create_app(web.settings), follow_redirects=False,
                   client=("198.51.100.9", 50000))
    calls.update(verify=0, hash=0)
    for name in ("ben", "nobody"):
        for password in ("correct horse batterY", "y" * (passwords.MAX_LENGTH + 1)):
            r = c.post("/signin", data={"name": name, "password": password})
            assert r.status_code == 401
            assert calls == {"verify": 1, "hash": 0}, (name, len(password))
            calls.update(verify=0, hash=0)


def _counting_verify(monkeypatch: pytest.MonkeyPatch, hold: threading.Event | None = None,
                     began: threading.Event | None = None) -> list[int]:
    """Count argon2 verifications; given `hold`, each says it `began` and waits until `hold`
    is set (fault injection: a check that takes as long as the test wants)."""
    from argon2 import PasswordHasher

    real = PasswordHasher.verify
    seen: list[int] = []

    def spy(self: PasswordHasher, *args: object) -> object:
        seen.append(1)
        if hold is not None and began is not None:
            began.set()
            hold.wait(60)
        return real(self, *args)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    return seen


def test_parallel_wrong_passwords_from_one_address_get_no_more_checks_than_the_limit(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    from okr.web.site import SIGNIN_FAILURES

    checks = _counting_verify(monkeypatch)
    # Without `with`, the test client runs each request on its own event loop and thread:
    # the attempts are checked truly at once.
    c = TestClient(create_app(web.settings), follow_redirects=False,
                   client=("198.51.100.11", 50000))
    answers: list[int] = []

    def attempt(i: int) -> None:
        answers.append(c.post("/signin", data={"name": "ana", "password": f"guess {i:08}"})
                       .status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(2 * SIGNIN_FAILURES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [401] * SIGNIN_FAILURES + [429] * SIGNIN_FAILURES
    assert len(checks) == SIGNIN_FAILURES


def test_a_page_is_answered_while_a_password_is_being_checked(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """One event loop, as under uvicorn: the slow argon2 check runs beside it, not in it."""
    hold, began = threading.Event(), threading.Event()
    checks = _counting_verify(monkeypatch, hold, began)
    with TestClient(create_app(web.settings), follow_redirects=False,
                    client=("198.51.100.12", 50000)) as c:
        answered_meanwhile, signin = _meanwhile(c, lambda: c.post(
            "/signin", data={"name": "ana", "password": "a wrong password"}), began, hold, 30)
    assert checks and answered_meanwhile == [200] and signin == 401


def test_a_page_is_answered_while_a_refused_check_in_reads_its_page(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """One event loop, as under uvicorn: the read behind a refused form check-in's page (one
    that may wait up to own_writes.WAIT s for the user's own writes) runs beside the loop."""
    hold, began = threading.Event(), threading.Event()
    app = create_app(web.settings)
    site = app.state.site
    real = site.key_result_view

    def slow(*args: object, **kwargs: object) -> object:  # a read that waits
        began.set()
        hold.wait(60)
        return real(*args, **kwargs)

    with TestClient(app, follow_redirects=False) as c:
        assert c.post("/signin", data={"token": web.tokens["mia"], "next": "/"}
                      ).status_code == 303
        csrf = csrf_of(c.get("/kr/k-sales").text)
        monkeypatch.setattr(site, "key_result_view", slow)
        answered_meanwhile, refused = _meanwhile(c, lambda: c.post(
            "/kr/k-sales/checkin", data={"csrf": csrf, "value": "1_000"}), began, hold, 10)
    assert answered_meanwhile == [200] and refused == 400


def _meanwhile(c: TestClient, slow: Callable[[], Any], began: threading.Event,
               hold: threading.Event, wait: float) -> tuple[list[int], int]:
    """Send `slow` (held at `hold` once it `began`), then GET /signin: the statuses answered
    within `wait` seconds while it was held, and `slow`'s own status once let go."""
    held: list[int] = []
    page: list[int] = []
    t = threading.Thread(target=lambda: held.append(slow().status_code))
    t.start()
    assert began.wait(60)
    reader = threading.Thread(target=lambda: page.append(c.get("/signin").status_code))
    reader.start()
    reader.join(wait)
    answered = list(page)
    hold.set()
    t.join()
    reader.join()
    return answered, held[0]


def test_a_new_password_ends_the_sessions_signed_in_before_it(web: Web) -> None:
    from okr.web.passwords import hash_password

    web.ledger.set_password("pat", hash_password("the first password"))
    before = web.client()
    assert before.post("/signin", data={"name": "pat", "password": "the first password"}
                       ).status_code == 303
    other = web.signed_in("mia")
    assert before.get("/scorecard").status_code == 200
    web.ledger.set_password("pat", hash_password("the second password"))  # okr user password
    r = before.get("/scorecard")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert other.get("/scorecard").status_code == 200  # another user's session stays
    after = web.client()
    assert after.post("/signin", data={"name": "pat", "password": "the second password"}
                      ).status_code == 303
    assert after.get("/scorecard").status_code == 200


def test_signing_out_ends_the_session_not_only_the_cookie(web: Web) -> None:
    """A session cookie copied before its user signed out (a shared computer's browser
    profile, a proxy's log) is no session afterwards — in this server and in one started
    later over the same data directory. Until 2026-12-04 sign-out only asked the browser to
    forget the cookie: the copy stayed good for its 12 hours."""
    c = web.signed_in("ben")
    elsewhere = web.signed_in("ben")  # another browser of the same user
    other = web.signed_in("vic")
    copied = c.cookies.get("okr_session")
    assert copied
    r = c.post("/signout", data={"csrf": csrf_of(c.get("/scorecard").text)})
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    for replay in (web.client(), c):  # a server started later; the same one
        replay.cookies.set("okr_session", copied)
        r = replay.get("/scorecard")
        assert r.status_code == 303 and r.headers["location"].startswith("/signin"), r.text
    r = elsewhere.get("/scorecard")  # sign-out ends every session the user had made before
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert other.get("/scorecard").status_code == 200  # another user's session stays
    again = web.signed_in("ben")  # and the user signs in again
    assert again.get("/scorecard").status_code == 200
    api = again.get("/api/v1/me", headers={"Authorization": f"Bearer {web.tokens['ben']}"})
    assert api.status_code == 200  # a token is no session: it stays valid


def test_the_trail_says_a_password_was_set_and_never_shows_its_hash(web: Web) -> None:
    from okr.web.passwords import hash_password

    web.ledger.set_password("vic", hash_password("another long password"))
    c = web.signed_in("aud")
    page = c.get("/trail/vic")
    api = c.get("/api/v1/trail/vic", headers={"Authorization": f"Bearer {web.tokens['aud']}"})
    assert page.status_code == api.status_code == 200
    (row,) = [r for r in api.json() if r["event"] == "UserPasswordSet"]
    assert row["changes"] == {"password": {"before": None, "after": "set"}}
    for text in (page.text, api.text):
        assert "argon2" not in text and "UserPasswordSet" in text


def test_a_sign_in_form_posted_from_another_site_signs_nobody_in(web: Web) -> None:
    """Login CSRF: an attacker's page must not sign the victim's browser in as the attacker."""
    c = web.client()
    for headers in ({"Origin": "https://evil.example"},
                    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}):  # a sibling subdomain is another site
        r = c.post("/signin", data={"token": web.tokens["mia"]}, headers=headers)
        assert r.status_code == 403 and "okr_session" not in r.headers.get("set-cookie", "")
        assert "another site" in r.text
    for headers in ({"Origin": "http://testserver"},
                    {"Origin": "null", "Sec-Fetch-Site": "same-origin"}):  # our no-referrer page
        ours = c.post("/signin", data={"token": web.tokens["mia"]}, headers=headers)
        assert ours.status_code == 303 and "okr_session=" in ours.headers["set-cookie"]
