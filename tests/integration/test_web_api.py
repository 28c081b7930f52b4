"""okr serve, JSON API (/api/v1): bearer tokens (401), roles (403), problem+json with the
CLI's one-line messages, the actor taken from the token, time travel, and Idempotency-Key
recording a retried POST once — also across a restart and under concurrent retries."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from okr.settings import Settings
from okr.web.app import create_app
from tests.integration.conftest import Broker
from tests.support.kill import KILLS, Killed, die_on_answer_line, dies
from tests.support.web import recorded_check_ins, seeded_home

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


@dataclass
class Api:
    settings: Settings
    tokens: dict[str, str]
    client: TestClient

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def check_ins(self, key: str = "k-sales") -> list[dict[str, object]]:
        return recorded_check_ins(self.settings, key)


@pytest.fixture(scope="module")
def api(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    _, settings, ledger, tokens = seeded_home(tmp_path_factory.mktemp("api") / "home",
                                              broker.bootstrap)
    app = create_app(settings)
    yield Api(settings, tokens, TestClient(app))
    app.state.site.close()
    ledger.close()


def is_problem(r: object, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert body["status"] == status and isinstance(body["detail"], str)
    assert "\n" not in str(body["detail"])
    return body


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/scorecard",
                                  "/api/v1/key-results/k-sales"])
def test_reads_without_a_valid_token_are_401_problems(api: Api, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer ana:" + "x" * 43},
                    {"Authorization": f"Basic {api.tokens['ana']}"}):
        r = api.client.get(path, headers=headers)
        assert "okr token create" in str(is_problem(r, 401)["detail"])
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_session_cookie_is_not_an_api_credential(api: Api) -> None:
    web = TestClient(api.client.app, follow_redirects=False)
    assert web.post("/signin", data={"token": api.tokens["ana"]}).status_code == 303
    is_problem(web.get("/api/v1/me"), 401)


def test_me_names_the_caller_and_the_actor_their_writes_record(api: Api) -> None:
    assert api.client.get("/api/v1/me", headers=api.auth("mia")).json() == {
        "name": "mia", "role": "member", "team": "sales", "actor": "web:mia"}


def test_scorecard_and_key_result_reads(api: Api) -> None:
    sc = api.client.get("/api/v1/scorecard", headers=api.auth("vic"),
                        params={"team": "eng"}).json()
    assert [c["key"] for c in sc["objectives"]] == ["o-eng"]
    assert [kr["key"] for kr in sc["objectives"][0]["key_results"]] == ["k-eng"]
    kr = api.client.get("/api/v1/key-results/k-eng", headers=api.auth("aud")).json()
    assert kr["key_result"]["target"] == 10 and kr["objective"]["team"] == "eng"
    assert {"check_ins", "revisions", "as_of", "known_at"} <= set(kr)
    body = is_problem(api.client.get("/api/v1/key-results/nope", headers=api.auth("vic")), 404)
    assert body["detail"] == "key result 'nope' not found"


def test_a_check_in_records_the_token_holder_as_actor_whatever_the_body_says(api: Api) -> None:
    r = api.client.post("/api/v1/key-results/k-sales/check-ins", headers=api.auth("mia"),
                        json={"value": 7, "confidence": 0.5, "note": "api",
                              "actor": "ana", "on_behalf_of": "ana"})
    assert r.status_code == 201, r.text
    assert r.json()["actor"] == "web:mia" and r.json()["value"] == 7
    assert r.json()["on_behalf_of"] == "ana"  # a claim, recorded beside the actor
    last = api.check_ins()[-1]
    assert (last["value"], last["actor"], last["note"], last["on_behalf_of"]) == (
        7.0, "web:mia", "api", "ana")


@pytest.mark.parametrize("name", ["vic", "aud", "ben"])
def test_roles_that_may_not_check_in_here_get_403(api: Api, name: str) -> None:
    before = len(api.check_ins())
    r = api.client.post("/api/v1/key-results/k-sales/check-ins", headers=api.auth(name),
                        json={"value": 1})
    assert name in str(is_problem(r, 403)["detail"])
    assert len(api.check_ins()) == before


@pytest.mark.parametrize(("body", "says"), [
    ({"value": "1_000"}, "1_000"),
    ({"value": 3, "confidence": 2}, "between 0 and 1"),
    ({"value": 3, "at": "next tuesday"}, "cannot read time 'next tuesday'"),
    ({"value": 3, "at": "2999-01-01"}, "in the future"),
    ({"confidence": 0.5}, "value: Field required"),
    ({"value": [1]}, "value"),
    ({"value": True}, "value"),  # not 1
    ({"value": 3, "confidence": False}, "confidence"),
    ({"value": 3, "on_behalf_of": "  "}, "--on-behalf-of name cannot be blank"),
    ({"value": 3, "on_behalf_of": "x" * 101}, "at most 100 allowed"),
    ({"value": 3, "note": "a\ud800b"}, "note 'a\\ud800b' is not text"),  # was a 500
    ({"value": 3, "on_behalf_of": "\udfff"}, "lone surrogate"),
])
def test_bad_check_ins_are_400_problems_with_the_clis_line(api: Api, body: dict[str, object],
                                                           says: str) -> None:
    before = len(api.check_ins())
    r = api.client.post("/api/v1/key-results/k-sales/check-ins",  # a surrogate as \ud800
                        headers={**api.auth("ana"), "Content-Type": "application/json"},
                        content=json.dumps(body))
    assert says in str(is_problem(r, 400)["detail"])
    assert len(api.check_ins()) == before


def test_an_unknown_cycle_is_a_404_problem_and_an_unknown_team_an_empty_scorecard(
        api: Api) -> None:
    """As `okr scorecard --cycle NOPE` (exit 2) and `--team nobody` (empty) answer."""
    r = api.client.get("/api/v1/scorecard", headers=api.auth("vic"), params={"cycle": "NOPE"})
    assert is_problem(r, 404)["detail"] == ("cycle 'NOPE' not found (at that time); "
                                            "'okr list cycles' lists them")
    for name in ("team", "owner"):
        r = api.client.get("/api/v1/scorecard", headers=api.auth("vic"), params={name: "nobody"})
        assert r.status_code == 200 and r.json()["objectives"] == [], r.text
    web = TestClient(api.client.app, follow_redirects=False)
    assert web.post("/signin", data={"token": api.tokens["vic"]}).status_code == 303
    page = web.get("/scorecard", params={"cycle": "NOPE"})
    assert page.status_code == 404 and "cycle &#39;NOPE&#39; not found" in page.text, page.text


def test_a_bad_as_of_is_a_400_problem(api: Api) -> None:
    r = api.client.get("/api/v1/scorecard", headers=api.auth("vic"), params={"as_of": "soon"})
    assert "cannot read time 'soon'" in str(is_problem(r, 400)["detail"])


def test_known_at_shows_what_the_ledger_knew_before_a_check_in(api: Api) -> None:
    r = api.client.post("/api/v1/key-results/k-eng/check-ins", headers=api.auth("ben"),
                        json={"value": 4})
    assert r.status_code == 201
    recorded = datetime.fromisoformat(r.json()["recorded_at"])
    # A moment before it was recorded (not the second before: the key result itself may have
    # been recorded within that second, when this test runs first on a fresh ledger).
    before = (recorded - timedelta(microseconds=1)).isoformat()
    then = api.client.get("/api/v1/key-results/k-eng", headers=api.auth("vic"),
                          params={"known_at": before}).json()
    now = api.client.get("/api/v1/key-results/k-eng", headers=api.auth("vic")).json()
    assert now["key_result"]["value"] == 4
    assert then["key_result"]["value"] != 4
    assert all(c["value"] != 4 or c["recorded_at"] <= before for c in then["check_ins"])


def test_an_idempotency_key_records_a_retried_post_once(api: Api) -> None:
    headers = {**api.auth("mia"), "Idempotency-Key": "retry-1"}
    before = len(api.check_ins())
    first = api.client.post("/api/v1/key-results/k-sales/check-ins", headers=headers,
                            json={"value": 11})
    again = api.client.post("/api/v1/key-results/k-sales/check-ins", headers=headers,
                            json={"value": 11})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert len(api.check_ins()) == before + 1
    other = api.client.post("/api/v1/key-results/k-sales/check-ins", headers=headers,
                            json={"value": 12})
    assert "different request" in str(is_problem(other, 422)["detail"])
    # Keys are the caller's own: ana's "retry-1" is another request.
    ana = api.client.post("/api/v1/key-results/k-sales/check-ins",
                          headers={**api.auth("ana"), "Idempotency-Key": "retry-1"},
                          json={"value": 11})
    assert ana.status_code == 201 and len(api.check_ins()) == before + 2


def test_an_idempotency_key_is_kept_across_a_restart(api: Api) -> None:
    headers = {**api.auth("mia"), "Idempotency-Key": "across-restart"}
    first = api.client.post("/api/v1/key-results/k-sales/check-ins", headers=headers,
                            json={"value": 13})
    count = len(api.check_ins())
    restarted = create_app(api.settings)  # a new server process would read the same file
    try:
        again = TestClient(restarted).post("/api/v1/key-results/k-sales/check-ins",
                                           headers=headers, json={"value": 13})
    finally:
        restarted.state.site.close()
    assert again.status_code == 201 and again.json() == first.json()
    assert len(api.check_ins()) == count
    lines = (api.settings.home / "web-idempotency.jsonl").read_text().splitlines()
    assert sum(json.loads(x)["key"] == "across-restart" and "status" in json.loads(x)
               for x in lines) == 1


def test_keys_older_than_idempotency_days_leave_the_file_on_restart_and_are_recorded_anew(
        api: Api) -> None:
    path = api.settings.home / "web-idempotency.jsonl"
    post = {"url": "/api/v1/key-results/k-sales/check-ins", "json": {"value": 21}}
    for key in ("aged", "young"):
        r = api.client.post(**post, headers={**api.auth("mia"), "Idempotency-Key": key})
        assert r.status_code == 201
    young = r.json()
    # The lines of "aged" as a server wrote them a day more than idempotency_days ago.
    then = (datetime.now().astimezone() - timedelta(days=api.settings.idempotency_days + 1))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**x, "at": then.isoformat()} if x["key"] == "aged"
                                       else x) + "\n" for x in lines))
    count = len(api.check_ins())
    restarted = create_app(api.settings)
    try:
        left = [json.loads(x) for x in path.read_text().splitlines()]
        assert not [x for x in left if x["key"] == "aged"]
        assert [x["status"] for x in left if x["key"] == "young"] == [201]  # its answer only
        assert len(left) == len({(x["user"], x["key"]) for x in left})  # a line a key
        assert path.stat().st_mode & 0o777 == 0o600
        c = TestClient(restarted)
        again = c.post(**post, headers={**api.auth("mia"), "Idempotency-Key": "young"})
        assert again.status_code == 201 and again.json() == young
        assert len(api.check_ins()) == count
        anew = c.post(**post, headers={**api.auth("mia"), "Idempotency-Key": "aged"})
        assert anew.status_code == 201 and len(api.check_ins()) == count + 1
    finally:
        restarted.state.site.close()


def test_concurrent_retries_with_one_key_record_once(api: Api) -> None:
    headers = {**api.auth("ana"), "Idempotency-Key": "burst"}
    before = len(api.check_ins("k-eng"))
    answers: list[int] = []

    def post() -> None:
        answers.append(api.client.post("/api/v1/key-results/k-eng/check-ins",
                                       headers=headers, json={"value": 6}).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [201] * 8
    assert len(api.check_ins("k-eng")) == before + 1


def test_keyed_posts_of_several_users_at_once_each_record_once(api: Api) -> None:
    before = len(api.check_ins())
    answers: list[int] = []

    def post(name: str, n: int) -> None:
        headers = {**api.auth(name), "Idempotency-Key": f"many-{n}"}  # the same keys, per user
        for _ in range(2):  # and each sent twice
            answers.append(api.client.post("/api/v1/key-results/k-sales/check-ins",
                                           headers=headers, json={"value": n}).status_code)

    threads = [threading.Thread(target=post, args=(name, n))
               for name in ("ana", "mia", "pat") for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [201] * 24
    assert len(api.check_ins()) == before + 12


def test_a_bad_idempotency_key_is_a_400_problem(api: Api) -> None:
    r = api.client.post("/api/v1/key-results/k-sales/check-ins",
                        headers={**api.auth("mia"), "Idempotency-Key": "x" * 201},
                        json={"value": 1})
    assert "Idempotency-Key" in str(is_problem(r, 400)["detail"])


def test_the_api_reference_is_served_without_any_script(api: Api) -> None:
    spec = api.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/key-results/{key}/check-ins" in spec["paths"]
    page = api.client.get("/docs")
    assert page.status_code == 200 and "<script" not in page.text
    assert "/api/v1/key-results/{key}/check-ins" in page.text


def test_a_retry_after_a_crash_between_recording_and_keeping_the_key_records_once(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {**api.auth("mia"), "Idempotency-Key": "crash-after-record"}
    before = len(api.check_ins())
    crashing = create_app(api.settings)
    die_on_answer_line(monkeypatch)
    dies(lambda: TestClient(crashing).post("/api/v1/key-results/k-sales/check-ins",
                                           headers=headers, json={"value": 21, "note": "once"}))
    crashing.state.site.close()
    monkeypatch.undo()
    assert len(api.check_ins()) == before + 1  # the ledger had recorded it
    restarted = create_app(api.settings)
    try:
        client = TestClient(restarted)
        again = client.post("/api/v1/key-results/k-sales/check-ins", headers=headers,
                            json={"value": 21, "note": "once"})
        other = client.post("/api/v1/key-results/k-sales/check-ins", headers=headers,
                            json={"value": 22})
    finally:
        restarted.state.site.close()
    assert again.status_code == 201, again.text
    assert len(api.check_ins()) == before + 1
    body = again.json()
    assert (body["value"], body["note"], body["actor"]) == (21, "once", "web:mia")
    assert [e["type"] for e in body["recorded"]] == ["CheckInRecorded"]
    assert "different request" in str(is_problem(other, 422)["detail"])
    assert len(api.check_ins()) == before + 1


def test_a_retry_after_a_crash_before_recording_records_once(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from okr.ledger.app import OkrLedger

    headers = {**api.auth("mia"), "Idempotency-Key": "crash-before-record"}
    before = len(api.check_ins())
    crashing = create_app(api.settings)

    def dying(*args: object, **kwargs: object) -> None:
        KILLS.append("before recording")
        raise Killed  # the key's pending line is on disk, the ledger is not asked

    monkeypatch.setattr(OkrLedger, "check_in", dying)
    dies(lambda: TestClient(crashing).post("/api/v1/key-results/k-sales/check-ins",
                                           headers=headers, json={"value": 23}))
    crashing.state.site.close()
    monkeypatch.undo()
    restarted = create_app(api.settings)
    try:
        again = TestClient(restarted).post("/api/v1/key-results/k-sales/check-ins",
                                           headers=headers, json={"value": 23})
    finally:
        restarted.state.site.close()
    assert again.status_code == 201 and again.json()["value"] == 23
    assert len(api.check_ins()) == before + 1


def test_a_crashed_request_is_settled_before_the_users_next_write_in_the_same_server(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker dies after recording; the server lives on, the user writes something else
    first, then retries: the retry is answered from its own write, not the later one."""
    server = create_app(api.settings)
    client = TestClient(server)
    headers = {**api.auth("mia"), "Idempotency-Key": "crash-then-more"}
    before = len(api.check_ins())
    try:
        die_on_answer_line(monkeypatch)
        dies(lambda: client.post("/api/v1/key-results/k-sales/check-ins", headers=headers,
                                 json={"value": 31}))
        monkeypatch.undo()
        later = client.post("/api/v1/key-results/k-sales/check-ins", headers=api.auth("mia"),
                            json={"value": 32})
        again = client.post("/api/v1/key-results/k-sales/check-ins", headers=headers,
                            json={"value": 31})
    finally:
        server.state.site.close()
    assert later.status_code == again.status_code == 201
    assert (again.json()["value"], later.json()["value"]) == (31, 32)
    assert [c["value"] for c in api.check_ins()[before:]] == [31, 32]


@pytest.mark.real_clock
def test_a_read_that_waited_too_long_for_its_turn_is_an_honest_503(api: Api) -> None:
    """Reads take turns (web/turns.py); one that waited its longest is refused with 503 and
    Retry-After, as a problem on the API and as the error page on a page — never a 5xx bug,
    never a hang."""
    from okr.web.turns import Turns
    from tests.support.turns import one_holding

    site = api.client.app.state.site  # type: ignore[attr-defined]
    kept, site.turns = site.turns, Turns(1, longest_wait=0.05)
    try:
        with one_holding(site.turns):
            r = api.client.get("/api/v1/scorecard", headers=api.auth("vic"))
            assert "busy" in str(is_problem(r, 503)["detail"])
            assert r.headers["retry-after"] == "2"
            web = TestClient(api.client.app, follow_redirects=False)
            assert web.post("/signin", data={"token": api.tokens["vic"]}).status_code == 303
            page = web.get("/kr/k-sales")
            assert page.status_code == 503 and page.headers["retry-after"] == "2"
            assert "busy" in page.text
    finally:
        site.turns = kept
    assert api.client.get("/api/v1/scorecard", headers=api.auth("vic")).status_code == 200


@pytest.mark.real_clock
def test_a_check_in_is_answered_while_every_read_thread_waits_for_its_turn(api: Api) -> None:
    """Under load every one of the server's 40 threads for sync routes can be a read waiting
    for its turn (web/turns.py); a write runs in threads of its own, so it is not queued
    behind them."""
    import time

    from okr.web.turns import Turns
    from tests.support.turns import one_holding

    site = api.client.app.state.site  # type: ignore[attr-defined]
    # the reads give up after 20 s (503) whatever happens, so a failure cannot hang the test
    kept, site.turns = site.turns, Turns(1, longest_wait=20)
    try:
        with TestClient(api.client.app) as c:  # one event loop for every request, as uvicorn
            with one_holding(site.turns):
                readers = [threading.Thread(target=c.get, args=("/api/v1/scorecard",),
                                            kwargs={"headers": api.auth("vic")})
                           for _ in range(40)]
                for t in readers:
                    t.start()
                deadline = time.monotonic() + 30
                while site.turns.waiting() < 40:  # every one of the 40 threads waits
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                answers: list[object] = []
                writer = threading.Thread(target=lambda: answers.append(c.post(
                    "/api/v1/key-results/k-sales/check-ins", headers=api.auth("mia"),
                    json={"value": 3, "note": "while reads wait"})))
                writer.start()
                writer.join(10)
                assert answers, "the check-in waited behind the reads"
                assert answers[0].status_code == 201  # type: ignore[attr-defined]
            for t in readers:
                t.join(30)
    finally:
        site.turns = kept
