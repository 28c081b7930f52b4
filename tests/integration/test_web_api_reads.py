"""okr serve, JSON API: the CLI's reads (`okr list …`, `okr show`, `okr history`, `okr due`,
`okr review`, `okr retro`, `okr audit trail`) answer what the command's `--json` prints, for
every role; bad input is the CLI's line as a 400 problem, no token a 401."""

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from okr.web.app import create_app
from tests.integration.conftest import OKR, Broker
from tests.support.web import seeded_home

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


@dataclass
class Api:
    environ: dict[str, str]
    tokens: dict[str, str]
    client: TestClient
    at: str  # an instant after the seed: the as-of and known-at of both sides

    def get(self, path: str, name: str | None = "vic", **params: str) -> Any:
        headers = {} if name is None else {"Authorization": f"Bearer {self.tokens[name]}"}
        return self.client.get(f"/api/v1{path}", headers=headers, params=params)

    def cli(self, *args: str) -> Any:
        proc = subprocess.run([OKR, *args, "--json"], text=True, capture_output=True,
                              env=self.environ, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def api(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    environ, settings, ledger, tokens = seeded_home(
        tmp_path_factory.mktemp("api-reads") / "home", broker.bootstrap)
    ledger.add_kpi("nps", "NPS", green=40, red=20, owner="mia")
    ledger.record_reading("nps", 35)
    ledger.link_kpi("k-sales", "nps", reason="from the survey")
    ledger.add_initiative("i-1", "Outbound", "k-sales")
    ledger.check_in("k-eng", 4, note="first")
    ledger.revise_key_result("k-eng", target=8, reason="scope cut")
    at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    app = create_app(settings)
    yield Api(environ, tokens, TestClient(app), at)
    app.state.site.close()
    ledger.close()


# Read from the ledger at the moment of asking (okr show and okr retro have no --as-of): what
# moves with it (a running cycle's retro is as of the moment: `evaluated_at`).
MOVING = {"expected", "status", "stale", "overdue_seconds", "evaluated_at"}


def _same(api_body: Any, cli_body: Any, now: bool = False) -> None:
    """Equal as JSON, times spelled alike (one serializer; `now`: both read now, a moment
    apart, so what moves with the clock is left out)."""
    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items() if not (now and k in MOVING)}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v
    assert norm(api_body) == norm(cli_body)


@pytest.mark.parametrize(("path", "params", "cli"), [
    ("/cycles", {}, ["list", "cycles"]),
    ("/objectives", {"team": "eng"}, ["list", "objectives", "--team", "eng"]),
    ("/key-results", {"cycle": "live"}, ["list", "krs", "--cycle", "live"]),
    ("/initiatives", {}, ["list", "initiatives"]),
    ("/kpis", {"all": "true"}, ["list", "kpis", "--all"]),
])
def test_a_listing_answers_what_okr_list_json_prints(api: Api, path: str,
                                                     params: dict[str, str],
                                                     cli: list[str]) -> None:
    r = api.get(path, **params, as_of=api.at, known_at=api.at)
    assert r.status_code == 200, r.text
    assert r.json()["items"], "the seed has something to list"
    _same(r.json(), api.cli(*cli, "--as-of", api.at, "--known-at", api.at))


@pytest.mark.parametrize(("path", "cli"), [
    ("/items/k-eng", ["show", "k-eng"]),
    ("/items/nps", ["show", "nps"]),
    ("/key-results/k-eng/history", ["history", "k-eng"]),
    ("/trail/k-sales", ["audit", "trail", "k-sales"]),
    ("/reviews/live", ["review", "live"]),
    ("/retro", ["retro", "live", "live"]),
])
def test_a_read_answers_what_the_cli_json_prints(api: Api, path: str, cli: list[str]) -> None:
    params = {"a": "live", "b": "live"} if path == "/retro" else {}
    if path.startswith("/reviews"):
        params = {"as_of": api.at, "known_at": api.at}
        cli = [*cli, "--as-of", api.at, "--known-at", api.at]
    r = api.get(path, "aud", **params)
    assert r.status_code == 200, r.text
    _same(r.json(), api.cli(*cli), now=path.startswith(("/items", "/retro")))


def test_due_lists_what_okr_due_lists(api: Api) -> None:
    r = api.get("/due", "mia", team="sales")
    assert r.status_code == 200, r.text
    cli = api.cli("due", "--team", "sales")
    assert [(i["kind"], i["key"]) for i in r.json()["items"]] == [
        (i["kind"], i["key"]) for i in cli["items"]]


def test_the_trail_keeps_to_since_and_until(api: Api) -> None:
    every = api.get("/trail/k-eng").json()
    assert len(every) >= 3
    since = api.get("/trail/k-eng", since=every[-1]["recorded_at"]).json()
    until = api.get("/trail/k-eng", until=every[0]["recorded_at"]).json()
    assert since == every[-1:] and until == every[:1]


@pytest.mark.parametrize(("path", "params", "says"), [
    ("/key-results", {"status": "late"}, "--status 'late' is not one of: on-track"),
    ("/kpis", {"status": "blue"}, "--status 'blue' is not one of: green"),
    ("/cycles", {"as_of": "soon"}, "cannot read time 'soon'"),
    ("/reviews/live", {"known_at": "soon"}, "cannot read time 'soon'"),
    ("/trail/k-eng", {"since": "soon"}, "cannot read time 'soon'"),
])
def test_bad_read_input_is_a_400_problem_with_the_clis_line(api: Api, path: str,
                                                            params: dict[str, str],
                                                            says: str) -> None:
    r = api.get(path, **params)
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    assert says in r.json()["detail"]


@pytest.mark.parametrize("path", ["/objectives", "/key-results", "/scorecard"])
def test_an_unknown_cycle_filter_is_a_404_problem_with_the_clis_line(api: Api,
                                                                      path: str) -> None:
    r = api.get(path, cycle="nope")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert r.json()["detail"] == ("cycle 'nope' not found (at that time); "
                                  "'okr list cycles' lists them")


@pytest.mark.parametrize("path", ["/items/nope", "/key-results/nope/history", "/reviews/nope"])
def test_unknown_items_are_problems_in_one_line(api: Api, path: str) -> None:
    r = api.get(path)
    assert r.status_code in (400, 404) and r.headers["content-type"] == PROBLEM
    assert "nope" in r.json()["detail"] and "\n" not in r.json()["detail"]


@pytest.mark.parametrize("path", ["/cycles", "/objectives", "/key-results", "/initiatives",
                                  "/kpis", "/items/k-eng", "/key-results/k-eng/history", "/due",
                                  "/reviews/live", "/retro?a=live&b=live"])
def test_every_read_needs_a_token(api: Api, path: str) -> None:
    r = api.client.get(f"/api/v1{path}")
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM


def test_a_cycles_audit_bundle_is_for_auditors_and_admins(api: Api) -> None:
    import io
    import tarfile

    api.get("/cycles")  # publish what waits, so the bundle has signed tree heads to cite
    for name, role in (("vic", "viewer"), ("mia", "member"), ("pat", "planner")):
        r = api.get("/bundles/live", name)
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
        assert r.json()["detail"] == (f"{name} is a {role}: exporting an audit bundle is for "
                                      "auditors and admins")
    assert api.get("/bundles/live", None).status_code == 401
    assert "nope" in api.get("/bundles/nope", "aud").json()["detail"]
    r = api.get("/bundles/live", "aud")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        names = tar.getnames()
    assert "okr-bundle-live/events.jsonl" in names
