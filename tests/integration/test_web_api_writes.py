"""okr serve, JSON API: every CLI write as a POST — recorded through the ledger service as the
token's holder, refused with the CLI's line (400), without a token (401) and for a role that
may not (403) with nothing written, answered from what it recorded, and recorded once per
Idempotency-Key."""

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from okr.ledger.app import OkrLedger
from okr.web.app import create_app
from tests.fuzzing import live_window
from tests.integration.conftest import Broker
from tests.support.kill import die_on_answer_line, dies
from tests.support.web import asgi_post, seeded_home

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
_serial = itertools.count()


@dataclass
class Api:
    ledger: OkrLedger
    tokens: dict[str, str]
    client: TestClient

    def post(self, path: str, body: dict[str, Any], name: str | None,
             **headers: str) -> Any:
        auth = {} if name is None else {"Authorization": f"Bearer {self.tokens[name]}"}
        return self.client.post(f"/api/v1{path}", json=body, headers={**auth, **headers})

    def head(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0


@pytest.fixture(scope="module")
def api(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    _, settings, ledger, tokens = seeded_home(tmp_path_factory.mktemp("api-writes") / "home",
                                              broker.bootstrap)
    ledger.add_kpi("kpi-mia", "Mia's KPI", green=10, red=5, owner="mia")
    app = create_app(settings)
    yield Api(ledger, tokens, TestClient(app))
    app.state.site.close()
    ledger.close()


@dataclass
class Case:
    """One write: what it needs first, its POST, who may, and a bad body with its line."""

    name: str
    path: str  # with {u} for a fresh key
    body: dict[str, Any]
    events: list[str]  # the event types it records
    setup: Callable[[OkrLedger, str], None] = lambda L, u: None
    who: str = "pat"  # a planner
    refused: list[str] = field(default_factory=lambda: ["vic", "aud", "mia"])
    bad: dict[str, Any] = field(default_factory=lambda: {"effective": "next tuesday",
                                                         "reason": "r"})
    says: str = "cannot read time 'next tuesday'"


def _cycle(L: OkrLedger, u: str, month: int = 1) -> None:
    from datetime import UTC, datetime
    L.add_cycle(f"c{month}-{u}", datetime(2026, month, 1, tzinfo=UTC),
                datetime(2026, month + 1, 1, tzinfo=UTC))


def _kr(L: OkrLedger, u: str) -> None:
    L.add_key_result(f"kr-{u}", "A key result", objective="o-eng", target=5, reason="new")


CASES = [
    Case("cycle add", "/cycles", {"key": "c-{u}", "start": "2026-01-01", "end": "2026-04-01"},
         ["CycleAdded"], bad={"key": "c-{u}", "start": "soon"}, says="cannot read time 'soon'"),
    Case("cycle commit", "/cycles/c1-{u}/commit", {}, ["PlanCommitted"], _cycle,
         bad={}, says=""),
    Case("cycle close", "/cycles/c1-{u}/close", {"reason": "done"}, ["CycleClosed"], _cycle,
         bad={}, says=""),
    Case("cycle reopen", "/cycles/c1-{u}/reopen", {"reason": "one more week"},
         ["CycleReopened"], lambda L, u: (_cycle(L, u), L.close_cycle(f"c1-{u}")),
         bad={}, says="needs a reason (--reason)"),
    Case("cycle carry", "/cycles/c1-{u}/carry", {"to": "c2-{u}"},
         ["ObjectiveAdded", "KeyResultAdded"],
         lambda L, u: (_cycle(L, u), _cycle(L, u, 2),
                       L.add_objective(f"o-{u}", "Carried", cycle=f"c1-{u}", owner="ana"),
                       L.add_key_result(f"kr-{u}", "KR", objective=f"o-{u}")),
         # --effective as the CLI takes it (the rollover trial): read, not ignored
         bad={"to": "c2-{u}", "effective": "next tuesday", "reason": "r"}),
    Case("objective add", "/objectives",
         {"key": "o-{u}", "title": "New", "cycle": "live", "team": "eng", "reason": "late"},
         ["ObjectiveAdded"],
         bad={"key": "o-{u}", "title": "New", "cycle": "live"},
         says="is a plan revision and needs a reason (--reason)"),
    Case("objective update", "/objectives/o-{u}/update", {"title": "Renamed", "reason": "why"},
         ["ObjectiveRetitled"],
         lambda L, u: L.add_objective(f"o-{u}", "Old", cycle="live", owner="ana", reason="r"),
         bad={"parent": "o-eng", "no_parent": True},
         says="give --parent or --no-parent, not both"),
    Case("objective abandon", "/objectives/o-{u}/abandon", {"reason": "dropped"},
         ["ObjectiveStatusChanged"],
         lambda L, u: L.add_objective(f"o-{u}", "Old", cycle="live", owner="ana", reason="r")),
    Case("objective close", "/objectives/o-{u}/close", {"status": "achieved", "reason": "met"},
         ["ObjectiveStatusChanged"],
         lambda L, u: L.add_objective(f"o-{u}", "Old", cycle="live", owner="ana", reason="r"),
         bad={"status": "abandoned", "reason": "r"}, says="closes as 'achieved' or 'missed'"),
    Case("key result add", "/key-results",
         {"key": "kr-{u}", "title": "More", "objective": "o-eng", "target": 12,
          "phase": [f"{(live_window()[0] + timedelta(days=1)).date()}=3"], "reason": "late"},
         ["KeyResultAdded"],
         bad={"key": "kr-{u}", "title": "More", "objective": "o-eng", "target": "1_000"},
         says="1_000"),
    Case("key result revise", "/key-results/kr-{u}/revise", {"target": "8", "reason": "lower"},
         ["KeyResultRevised"], _kr,
         bad={"tolerance": 1, "clear_tolerance": True},
         says="give --tolerance or --clear-tolerance, not both"),
    Case("key result move", "/key-results/kr-{u}/move",
         {"objective": "o-sales", "reason": "belongs there"}, ["KeyResultMoved"], _kr,
         bad={"objective": "o-sales", "reason": "r", "effective": "next tuesday"}),
    Case("key result remove", "/key-results/kr-{u}/remove", {"reason": "moot"},
         ["KeyResultRemoved"], _kr),
    Case("key result link", "/key-results/kr-{u}/link", {"kpi": "kpi-mia", "reason": "auto"},
         ["KpiLinked"], _kr,
         bad={"kpi": "kpi-mia", "reason": "r", "effective": "next tuesday"}),
    Case("key result unlink", "/key-results/kr-{u}/unlink", {"reason": "manual"},
         ["KpiUnlinked"], lambda L, u: (_kr(L, u), L.link_kpi(f"kr-{u}", "kpi-mia", "r"))),
    Case("initiative add", "/initiatives", {"key": "i-{u}", "title": "Do it", "kr": "k-eng"},
         ["InitiativeAdded"], who="ben", refused=["vic", "aud", "mia"],
         bad={"key": "i-{u}", "title": "Do it", "kr": "k-eng", "effective": "next tuesday",
              "reason": "r"}),
    Case("initiative status", "/initiatives/i-{u}/status", {"status": "in-progress"},
         ["InitiativeStatusChanged"],
         lambda L, u: L.add_initiative(f"i-{u}", "Do it", "k-eng"), who="ben",
         refused=["vic", "aud", "mia"], bad={"status": "paused"}, says="paused"),
    Case("kpi add", "/kpis", {"key": "kpi-{u}", "name": "Uptime", "green": 99.9, "red": 99,
                              "tag": ["guardrail"]}, ["KpiAdded"],
         bad={"key": "kpi-{u}", "name": "Uptime", "green": "9 9", "red": 1}, says="9 9"),
    Case("kpi update", "/kpis/kpi-{u}/update", {"green": "20", "reason": "harder"},
         ["KpiUpdated"], lambda L, u: L.add_kpi(f"kpi-{u}", "K", green=10, red=5),
         bad={"reason": "r"}, says="nothing to update"),
    Case("kpi reading", "/kpis/kpi-mia/readings", {"value": 7, "id": "r-{u}"},
         ["KpiReadingRecorded"], who="mia", refused=["vic", "aud", "ben"],
         bad={"value": True}, says="value"),
    Case("kpi retire", "/kpis/kpi-{u}/retire", {"reason": "unused"}, ["KpiRetired"],
         lambda L, u: L.add_kpi(f"kpi-{u}", "K", green=10, red=5), bad={}, says=""),
]
IDS = [c.name for c in CASES]


def fresh(api: Api, case: Case) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A new key, its items set up; the path and both bodies with the key filled in."""
    u = f"{next(_serial)}-{case.name.replace(' ', '-')}"
    case.setup(api.ledger, u)

    def fill(v: Any) -> Any:
        if isinstance(v, str):
            return v.replace("{u}", u)
        if isinstance(v, list):
            return [fill(x) for x in v]
        return v

    return (case.path.replace("{u}", u), {k: fill(v) for k, v in case.body.items()},
            {k: fill(v) for k, v in case.bad.items()})


def problem(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["instance"] == r.request.url.path
    assert "\n" not in body["detail"]
    return str(body["detail"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_write_records_as_the_caller_once_per_idempotency_key(api: Api, case: Case) -> None:
    path, body, _ = fresh(api, case)
    key = f"k-{path}"
    claimed = {**body, "actor": "ana", "on_behalf_of": "Dana"}
    first = api.post(path, claimed, case.who, **{"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    recorded = first.json()["recorded"]
    assert [e["type"] for e in recorded] == case.events or set(case.events) == {
        e["type"] for e in recorded}
    # the actor is the caller; whom they named is recorded beside it, never as it
    assert {(e["actor"], e["on_behalf_of"]) for e in recorded} == {(f"web:{case.who}", "Dana")}
    head = api.head()
    again = api.post(path, claimed, case.who, **{"Idempotency-Key": key})
    assert (again.status_code, again.json()) == (201, first.json())
    assert api.head() == head


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_bad_write_is_a_400_problem_with_the_clis_line_and_nothing_recorded(
        api: Api, case: Case) -> None:
    path, body, bad = fresh(api, case)
    if not case.says:  # nothing to get wrong in the body: the second of two is refused
        assert api.post(path, body, case.who).status_code == 201
        bad = body
    before = api.head()
    detail = problem(api.post(path, bad, case.who, **{"Idempotency-Key": f"bad-{path}"}), 400)
    assert case.says in detail
    assert api.head() == before


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_write_without_a_token_is_401_and_by_a_role_that_may_not_403(api: Api,
                                                                         case: Case) -> None:
    path, body, _ = fresh(api, case)
    before = api.head()
    r = api.post(path, body, None)
    assert "okr token create" in problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    for name in case.refused:
        assert name in problem(api.post(path, body, name), 403)
    assert api.head() == before


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_body_that_is_not_json_or_not_valid_is_401_without_a_token_and_400_with_one(
        api: Api, case: Case) -> None:
    """The token is checked first: a caller without one learns nothing about the body."""
    path, _, _ = fresh(api, case)
    before = api.head()
    url, json_type = f"/api/v1{path}", {"Content-Type": "application/json"}
    for body, headers in ((b"not json", json_type), (b'{"value": [1, 2', json_type),
                          (b'{"value": {"a": 1}}', json_type)):
        r = api.client.post(url, content=body, headers=headers)
        assert "okr token create" in problem(r, 401), body
        wrong = api.client.post(url, content=body, headers={
            **headers, "Authorization": "Bearer pat:wrong"})
        assert "okr token create" in problem(wrong, 401), body
    r = api.client.post(url, content=b"not json", headers={
        **json_type, "Authorization": f"Bearer {api.tokens[case.who]}"})
    assert problem(r, 400).startswith("the body is not JSON: Expecting value at character 0")
    assert api.head() == before


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_lone_surrogate_in_any_text_of_a_write_is_a_problem_and_nothing_recorded(
        api: Api, case: Case) -> None:
    """JSON can spell half of a UTF-16 pair ("\\ud800"), which is no character: in any text
    member — a title, a reference to another item (`parent`, `kpi`), a time — it is refused in
    one line, nothing recorded. Until 2026-12-04 a stored text failed in the event store, and
    a reference failed making the item's id: tracebacks, HTTP 500."""
    path, body, _ = fresh(api, case)
    url = f"/api/v1{path}"
    headers = {"Authorization": f"Bearer {api.tokens[case.who]}",
               "Content-Type": "application/json"}
    texts = [n for n, v in body.items() if isinstance(v, str)] + ["on_behalf_of"]
    before = api.head()
    for name in texts:
        hostile = {**body, name: "x\ud800"}
        r = api.client.post(url, content=json.dumps(hostile), headers=headers)
        assert r.status_code in (400, 404), (name, r.status_code, r.text)
        assert "\\ud800" in problem(r, r.status_code), name
    assert api.head() == before


@pytest.mark.parametrize("name", ["", "  ", "x" * 101])
def test_a_blank_or_overlong_on_behalf_of_is_a_400_problem_and_nothing_recorded(
        api: Api, name: str) -> None:
    before = api.head()
    r = api.post("/kpis/kpi-mia/readings", {"value": 3, "on_behalf_of": name}, "pat")
    assert "--on-behalf-of name" in problem(r, 400)
    assert api.head() == before


def test_a_reading_with_an_id_seen_before_records_nothing_and_says_so(api: Api) -> None:
    first = api.post("/kpis/kpi-mia/readings", {"value": 3, "id": "seen"}, "pat")
    assert first.status_code == 201
    again = api.post("/kpis/kpi-mia/readings", {"value": 3, "id": "seen"}, "pat")
    assert again.status_code == 200 and again.json()["recorded"] == []


def test_an_unknown_item_is_a_404_problem(api: Api) -> None:
    assert problem(api.post("/cycles/nope/commit", {}, "pat"), 404) == "cycle 'nope' not found"


def test_these_cases_cover_every_post_of_the_api(api: Api) -> None:
    spec = api.client.get("/api/v1/openapi.json").json()
    posts = {p.removeprefix("/api/v1") for p, ops in spec["paths"].items()
             if "post" in ops and p.startswith("/api/v1/")}
    covered = {c.path.replace("kpi-mia", "{key}").replace("kpi-{u}", "{key}")
               .replace("c1-{u}", "{key}")
               .replace("o-{u}", "{key}").replace("kr-{u}", "{key}").replace("i-{u}", "{key}")
               for c in CASES}
    imports = {"/imports/plan", "/imports/checkins", "/imports/readings"}  # tested below
    assert sorted(posts) == sorted(covered | imports | {"/key-results/{key}/check-ins"})


def test_a_plan_write_retried_after_a_crash_between_recording_and_its_answer_records_once(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the fix the retry ran the command again: 'objective … already exists' (400),
    the client never learning that its first attempt was the one recorded."""
    settings = api.client.app.state.site.settings  # type: ignore[attr-defined]
    body = {"key": "o-crash", "title": "Crashed once", "cycle": "live", "reason": "late"}
    headers = {"Authorization": f"Bearer {api.tokens['pat']}", "Idempotency-Key": "o-crash"}
    crashing = create_app(settings)
    die_on_answer_line(monkeypatch)
    dies(lambda: TestClient(crashing).post("/api/v1/objectives", json=body, headers=headers))
    crashing.state.site.close()
    monkeypatch.undo()
    head = api.head()
    restarted = create_app(settings)
    try:
        again = TestClient(restarted).post("/api/v1/objectives", json=body, headers=headers)
    finally:
        restarted.state.site.close()
    assert again.status_code == 201, again.text
    assert [(e["type"], e["actor"], e["data"]["title"]) for e in again.json()["recorded"]] == [
        ("ObjectiveAdded", "web:pat", "Crashed once")]
    assert api.head() == head


# ---- okr import plan|checkins|readings as POST /imports/KIND -----------------------------

PLAN = """\
cycles:
  - {key: imp-q, start: 2026-01-01, end: 2026-04-01}
objectives:
  - {key: imp-o, title: Imported goal, cycle: imp-q, team: eng}
key_results:
  - {key: imp-k, title: Imported result, objective: imp-o, target: 10}
"""


def _import(api: Api, kind: str, body: str, who: str | None = "pat",
            headers: dict[str, str] | None = None, **params: str) -> Any:
    auth = {} if who is None else {"Authorization": f"Bearer {api.tokens[who]}"}
    return api.client.post(f"/api/v1/imports/{kind}", content=body.encode(),
                           headers={**auth, **(headers or {})}, params=params)


def test_a_plan_imported_through_the_api_is_recorded_once_as_the_caller(api: Api) -> None:
    headers = {"Idempotency-Key": "plan-1"}
    first = _import(api, "plan", PLAN, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json() == {"key": "plan.yaml", "recorded": 3, "types": {
        "CycleAdded": 1, "KeyResultAdded": 1, "ObjectiveAdded": 1},
        "before_in_force": 0, "warnings": []}
    head = api.head()
    assert _import(api, "plan", PLAN, headers=headers).json() == first.json()
    assert api.head() == head
    assert api.ledger.key_result("imp-k").objective == "imp-o"
    events = api.ledger.recorder.select_events(api.ledger.objective("imp-o").id)
    assert b'"actor":"web:pat"' in events[0].state


def test_check_ins_imported_from_csv_and_bad_lines_refused_with_every_line_listed(
        api: Api) -> None:
    good = "kr,value,note\nk-eng,2,from the sheet\nk-eng,3,\n"
    r = _import(api, "checkins", good, name="../sheet .csv")
    assert r.status_code == 201 and r.json() == {"key": "_sheet_.csv", "recorded": 2,
                                                 "types": {"CheckInRecorded": 2},
                                                 "before_in_force": 0, "warnings": []}
    before = api.head()
    bad = "kr,value\nk-eng,4\nk-eng,four\nnope,1\n"
    r = _import(api, "checkins", bad)
    detail = problem(r, 400)
    assert detail.startswith("2 of 3 lines invalid in checkins.csv, nothing was written; "
                             "first: line 3: ")
    assert [b["line"] for b in r.json()["invalid"]] == [3, 4]
    assert "okr-import-" not in r.text  # the server's temporary file stays its own
    assert api.head() == before
    skipped = _import(api, "checkins", bad, skip_invalid="true")
    assert skipped.status_code == 201 and skipped.json()["recorded"] == 1


def test_imports_are_for_planners_and_admins_and_need_a_token(api: Api) -> None:
    before = api.head()
    problem(_import(api, "readings", "kpi,value\nkpi-mia,1\n", None), 401)
    for name in ("mia", "vic", "aud"):
        assert name in problem(_import(api, "readings", "kpi,value\nkpi-mia,1\n", name), 403)
    assert "use a .yaml/.yml or .csv file" in problem(
        _import(api, "plan", PLAN, name="plan.txt"), 400)
    assert api.head() == before


def test_an_import_retried_with_another_query_parameter_is_422_and_records_nothing(
        api: Api) -> None:
    body = "kr,value\nk-eng,5\n"
    headers = {"Idempotency-Key": "import-query",
               "Authorization": f"Bearer {api.tokens['pat']}"}
    url = "/api/v1/imports/checkins"
    first = api.client.post(f"{url}?on_behalf_of=ana&name=a.csv", content=body.encode(),
                            headers=headers)
    assert first.status_code == 201, first.text
    head = api.head()
    for query in ("on_behalf_of=ben&name=a.csv", "on_behalf_of=ana&name=b.csv",
                  "on_behalf_of=ana&name=a.csv&skip_invalid=true", "name=a.csv"):
        r = api.client.post(f"{url}?{query}", content=body.encode(), headers=headers)
        assert "different request" in problem(r, 422), query
    assert api.head() == head
    # the same parameters in another order are the same request: its answer again
    again = api.client.post(f"{url}?name=a.csv&on_behalf_of=ana", content=body.encode(),
                            headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert api.head() == head


def _raw_post(api: Api, path: str, chunks: int, length: int | None = None
              ) -> tuple[int, int, dict[str, Any]]:
    """POST `chunks` pieces of 1 MiB straight into the ASGI app: its status, how many pieces
    the app read, its body. `length` is sent as Content-Length, else the body is chunked."""
    import json

    headers = [(b"authorization", f"Bearer {api.tokens['pat']}".encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    status, read, _, body = asgi_post(api.client.app, path, chunks,
                                      b"k-eng,1\n" * (2 ** 17), headers)  # 1 MiB a piece
    return status, read, json.loads(body)


def test_an_oversized_import_is_refused_before_it_is_read_whole_and_records_nothing(
        api: Api) -> None:
    from okr.ledger.plan_import import MAX_BYTES

    before = api.head()
    most = MAX_BYTES // 2 ** 20 + 1  # pieces read before the body is known to be too big
    status, read, body = _raw_post(api, "/api/v1/imports/checkins", 3 * most)
    assert status == 413 and read <= most, (status, read)
    assert body["detail"] == f"the file has more than {MAX_BYTES} bytes; split it"
    status, read, body = _raw_post(api, "/api/v1/imports/checkins", 3 * most,
                                   length=3 * most * 2 ** 20)
    assert status == 413 and read == 0, (status, read)
    assert body["detail"] == (f"the file has {3 * most * 2 ** 20} bytes; at most {MAX_BYTES}"
                              " — split it")
    status, read, body = _raw_post(api, "/api/v1/imports/checkins", 1, length=-1)
    assert status == 400 and body["detail"] == "Content-Length must be a number of bytes"
    assert api.head() == before


# ---- what counts in no as-of view is said, not refused (as `okr kpi record` says it) -------

def test_a_reading_observed_before_its_kpi_was_in_force_is_answered_with_a_warning(
        api: Api) -> None:
    """Before: 201 with the events only; the caller never learned that the reading shows in
    no as-of view (the CLI said so in a warning line)."""
    from datetime import UTC, datetime
    api.ledger.add_kpi("kpi-oct", "Since mid-October", green=10, red=5,
                       effective=datetime(2026, 10, 15, tzinfo=UTC), reason="tracked since")
    early = api.post("/kpis/kpi-oct/readings", {"value": 4, "at": "2026-10-10T12:00:00Z"}, "pat")
    assert early.status_code == 201, early.text
    assert early.json()["before_in_force"] is True
    assert early.json()["warning"].startswith("observed before KPI kpi-oct was in force (since "
                                              "2026-10-15T"), early.json()
    assert "counts in no as-of view" in early.json()["warning"]
    later = api.post("/kpis/kpi-oct/readings", {"value": 6, "at": "2026-10-20T12:00:00Z"}, "pat")
    assert later.status_code == 201, later.text
    assert (later.json()["before_in_force"], later.json()["warning"]) == (False, None)


def test_a_key_result_effective_before_its_objective_is_answered_with_a_warning(
        api: Api) -> None:
    from datetime import UTC, datetime
    api.ledger.add_objective("o-lately", "Added lately", cycle="live", owner="ben",
                             reason="late")  # committed plan: in force from now
    before = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="seconds")
    r = api.post("/key-results", {"key": "kr-early", "title": "Early", "objective": "o-lately",
                                  "effective": before, "reason": "measured before"}, "pat")
    assert r.status_code == 201, r.text
    assert r.json()["before_in_force"] is True
    assert r.json()["warning"].startswith("key result kr-early counts from "), r.json()
    assert "when its objective o-lately is in force" in r.json()["warning"]


def test_an_objective_effective_before_its_cycle_is_answered_with_a_warning(
        api: Api) -> None:
    r = api.post("/cycles", {"key": "later", "start": "2026-11-01", "end": "2026-11-30"}, "pat")
    assert r.status_code == 201, r.text
    r = api.post("/objectives", {"key": "o-early", "title": "Early", "cycle": "later",
                                 "effective": "2026-10-20T00:00:00+00:00",
                                 "reason": "planned before"}, "pat")
    assert r.status_code == 201, r.text
    assert r.json()["before_in_force"] is True
    assert r.json()["warning"].startswith("objective o-early counts from "), r.json()
    assert "when its cycle later is in force" in r.json()["warning"]


def test_an_import_of_readings_before_their_kpi_says_how_many(api: Api) -> None:
    from datetime import UTC, datetime
    api.ledger.add_kpi("kpi-imp", "Since mid-October", green=10, red=5,
                       effective=datetime(2026, 10, 15, tzinfo=UTC), reason="tracked since")
    sheet = "kpi,value,at\nkpi-imp,1,2026-10-01\nkpi-imp,2,2026-10-20\nkpi-imp,3,2026-10-02\n"
    r = _import(api, "readings", sheet)
    assert r.status_code == 201, r.text
    assert r.json()["recorded"] == 3
    assert r.json()["before_in_force"] == 2
    assert len(r.json()["warnings"]) == 2
    assert all(w.startswith("observed before KPI kpi-imp was in force")
               for w in r.json()["warnings"])
