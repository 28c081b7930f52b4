"""Revoking tokens and disabling users, against a running `okr serve`: what the CLI records
(`okr token revoke`, `okr user disable`/`enable`) is honoured by the server from its next
request — a revoked token, a disabled user's token, session or password are refused (401, one
line) and write nothing; enabling a user does not bring a revoked token back; the record
shows who did it and why, and verifies."""

import json
import subprocess
import time

import httpx
import pytest

from okr.ledger.app import OkrLedger
from okr.web.passwords import hash_password
from tests.integration.conftest import Env, audit_verifies, until
from tests.integration.test_web_up import _answers, _end_all, _free_port
from tests.support.web import seed

pytestmark = pytest.mark.integration


def _events(env: Env) -> int:
    app = OkrLedger(env.settings)
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def _sign_in(base: str, **form: str) -> httpx.Client:
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    r = c.post("/signin", data={**form, "next": "/scorecard"})
    assert r.status_code == 303, r.text
    return c


def _token_id(env: Env, name: str) -> str:
    (listed,) = json.loads(env.ok("token", "list", name, "--json"))
    assert listed["revoked"] is None and "token" not in listed and "token_hash" not in listed
    return str(listed["token_id"])


def test_a_revoked_token_and_a_disabled_user_are_refused_by_a_running_server_at_once(
        env: Env) -> None:
    ledger, tokens = seed(env.settings)
    ledger.set_password("ben", hash_password("ben's long password"))
    ledger.close()
    port = _free_port()
    serve = env.spawn("serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"

    def api(name_or_token: str, method: str = "GET", path: str = "/api/v1/me",
            **kw: object) -> httpx.Response:
        token = tokens.get(name_or_token, name_or_token)
        return httpx.request(method, base + path, timeout=30,
                             headers={"Authorization": f"Bearer {token}"}, **kw)  # type: ignore[arg-type]

    def refused(r: httpx.Response) -> None:
        assert r.status_code == 401, (r.status_code, r.text)
        assert len(r.json()["detail"].splitlines()) == 1

    def signed_out(c: httpx.Client) -> bool:
        r = c.get("/scorecard")
        return r.status_code == 303 and r.headers["location"].startswith("/signin")

    check_in = {"value": 3, "note": "with a leaked token"}
    try:
        assert until(lambda: _answers(base), 60), "okr serve did not answer"
        assert api("mia").status_code == 200
        mia_session = _sign_in(base, token=tokens["mia"])
        ben_session = _sign_in(base, name="ben", password="ben's long password")
        assert mia_session.get("/scorecard").status_code == 200

        # a leaked token, revoked by the CLI while the server runs
        mia_token = _token_id(env, "mia")
        out = json.loads(env.ok("token", "revoke", "mia", mia_token, "--reason",
                                "leaked in a build log", "--json"))
        assert out["revoked"] == [mia_token]
        began = time.monotonic()
        refused(api("mia"))  # the very next request: no wait
        written = _events(env)
        refused(api("mia", "POST", "/api/v1/key-results/k-sales/check-ins", json=check_in))
        assert _events(env) == written  # nothing recorded
        assert signed_out(mia_session)  # the session it signed in ends too
        r = httpx.post(f"{base}/signin", data={"token": tokens["mia"]}, timeout=30)
        assert r.status_code == 401 and "okr_session" not in r.headers.get("set-cookie", "")
        honoured = time.monotonic() - began
        assert api("vic").status_code == 200  # other users are untouched

        # a user locked out: token, session and password refused while disabled
        env.ok("user", "disable", "ben", "--reason", "left the company")
        refused(api("ben"))
        refused(api("ben", "POST", "/api/v1/key-results/k-eng/check-ins", json=check_in))
        assert _events(env) == written + 1  # the UserDisabled event alone
        assert signed_out(ben_session)
        r = httpx.post(f"{base}/signin", data={"name": "ben", "password": "ben's long password"},
                       timeout=30)
        assert r.status_code == 401

        # enabled again: their live token and password work; sessions from before stay ended
        env.ok("user", "enable", "ben", "--reason", "rehired")
        assert api("ben").status_code == 200
        assert signed_out(ben_session)
        assert _sign_in(base, name="ben", password="ben's long password"
                        ).get("/scorecard").status_code == 200

        # enabling a user never brings a revoked token back
        env.ok("user", "disable", "mia", "--reason", "on leave")
        env.ok("user", "enable", "mia", "--reason", "back from leave")
        refused(api("mia"))
    finally:
        _end_all(serve, port)
    assert honoured < 5, honoured

    trail = json.loads(env.ok("audit", "trail", "mia", "--json"))
    (revoked,) = [r for r in trail if r["event"] == "UserTokensRevoked"]
    assert revoked["reason"] == "leaked in a build log" and revoked["actor"]
    assert revoked["changes"] == {"revoked_tokens": {"before": [], "after": [mia_token]}}
    disabled = [(r["event"], r["reason"]) for r in trail if r["event"].startswith("UserDis")]
    assert disabled == [("UserDisabled", "on leave")]
    text = env.ok("audit", "trail", "ben")
    assert "UserDisabled" in text and "left the company" in text and "rehired" in text
    audit_verifies(env)


def test_bad_revocations_are_one_line_exit_2_and_write_nothing(env: Env) -> None:
    ledger, _ = seed(env.settings)
    ledger.close()
    mia_token = _token_id(env, "mia")
    before = _events(env)
    for args, says in [
        (("token", "revoke", "nobody", mia_token, "--reason", "x"), "user 'nobody' not found"),
        (("token", "revoke", "mia", "feedfacefeedface", "--reason", "x"),
         "user mia has no token 'feedfacefeedface'"),
        (("token", "revoke", "mia", mia_token), "needs a reason (--reason)"),
        (("token", "revoke", "mia", mia_token, "--reason", "  "), "needs a reason (--reason)"),
        (("token", "revoke", "mia", "--reason", "x"), "give a token id, or --all"),
        (("token", "revoke", "mia", mia_token, "--all", "--reason", "x"),
         "a token id or --all, not both"),
        (("user", "disable", "mia"), "needs a reason (--reason)"),
        (("user", "disable", "nobody", "--reason", "x"), "user 'nobody' not found"),
        (("user", "enable", "mia", "--reason", "x"), "user mia is not disabled"),
        (("token", "list", "nobody"), "user 'nobody' not found"),
    ]:
        proc: subprocess.CompletedProcess[str] = env.run(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and says in lines[0], (args, proc.stderr)
    assert _events(env) == before
    env.ok("token", "revoke", "mia", "--all", "--reason", "rotate everything")
    proc = env.run("token", "revoke", "mia", "--all", "--reason", "again")
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        "okr: error: user mia has no live token to revoke"], proc.stderr
    proc = env.run("token", "revoke", "mia", mia_token, "--reason", "again")
    assert proc.returncode == 2 and "already revoked" in proc.stderr
    assert _events(env) == before + 1


def test_the_trail_page_shows_who_revoked_which_token_and_why(env: Env) -> None:
    from fastapi.testclient import TestClient

    from okr.web.app import create_app
    from okr.web.tokens import new_token

    ledger, tokens = seed(env.settings)
    t = new_token("rex")
    ledger.add_user("rex", "viewer")
    ledger.issue_token("rex", t.token_id, t.token_hash)
    ledger.revoke_token("rex", t.token_id, "leaked <b>in</b> a log")
    ledger.disable_user("rex", "left")
    ledger.close()
    c = TestClient(create_app(env.settings), follow_redirects=False)
    assert c.post("/signin", data={"token": tokens["aud"]}).status_code == 303
    page = c.get("/trail/rex").text
    api = c.get("/api/v1/trail/rex", headers={"Authorization": f"Bearer {tokens['aud']}"})
    rows = {r["event"]: r for r in api.json()}
    assert rows["UserTokensRevoked"]["changes"] == {
        "revoked_tokens": {"before": [], "after": [t.token_id]}}
    assert rows["UserDisabled"]["changes"] == {"disabled": {"before": False, "after": True}}
    assert rows["UserDisabled"]["reason"] == "left"
    for shown in ("UserTokensRevoked", "UserDisabled", t.token_id,
                  "leaked &lt;b&gt;in&lt;/b&gt; a log"):
        assert shown in page, shown
    assert t.token_hash not in page and t.token_hash not in api.text
