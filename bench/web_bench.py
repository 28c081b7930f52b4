"""The web app (`okr serve`, started by `okr up --web` on the whole history): server-side p95 of
the scorecard page and a key-result page, check-in POST p95, and a bounded load of concurrent
clients (mixed reads and check-ins) with the exactly-once count.

Server-side times are the app's own `Server-Timing: app;dur=…` header. Baselines, in the same
run: the projection query the page is built from (`scorecard_at` on a read-only open, as the
page's read does) and `OkrLedger.check_in` called directly — so the ratio says what the web
layer (HTTP, auth, templates, JSON) costs on top.

Load: CLIENTS threads for at most SECONDS (bounded: each loop checks the clock and stops by
itself), each doing 3 reads then a check-in carrying an Idempotency-Key; a check-in whose
answer was lost is sent again with the same key. A request left unanswered for 30 s counts
as status 0 and fails the run like a 5xx. Afterwards every accepted check-in (201)
must be in the event store exactly once (by its unique note), and no answer may be a 5xx.

Run: `make bench SCALE=small` (stage "web"), or `python bench/run.py --only web`.
"""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from common import OKR, Result, Run, median, percentile, say
from freshness_bench import history_home

from okr.domain.periods import cycle_of
from okr.ledger.app import OkrLedger
from okr.ledger.views import check_ins
from okr.projections.access import open_for_reading
from okr.settings import load_settings
from okr.web.tokens import new_token
from tests.support.generator import Shape

SCORECARD_P95_MS = 150.0
VISIBLE_P95_S = 1.0  # a check-in posted through the web is on the scorecard page (issue 19)
CHECKIN_P95_MS = 100.0
CLIENTS = 50
SECONDS = 60.0
TEAMS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_ms(r: httpx.Response) -> float:
    timing = r.headers.get("server-timing", "")
    return float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")


def _seed(env: dict[str, str]) -> tuple[str, dict[str, str], list[str]]:
    """A live cycle with a key result per team, an admin, a member per team and a second member
    of team 0 (`w0`, who checks in while `m0` reads), in the copied history; (cycle, tokens by
    user, key results)."""
    app = OkrLedger(load_settings(environ=env))
    quarter = cycle_of(datetime.now(UTC))
    app.add_cycle(quarter)
    tokens, krs = {}, []
    for t in range(TEAMS):
        app.add_objective(f"web-o{t}", f"Team {t} goal", cycle=quarter, owner="bench",
                          team=f"team-{t}")
        app.add_key_result(f"web-k{t}", f"Team {t} result", objective=f"web-o{t}", target=1000)
        krs.append(f"web-k{t}")
        app.add_user(f"m{t}", "member", f"team-{t}")
    app.add_user("w0", "member", "team-0")
    app.add_user("boss", "admin", "")
    for name in ["boss", "w0", *(f"m{t}" for t in range(TEAMS))]:
        tok = new_token(name)
        app.issue_token(name, tok.token_id, tok.token_hash)
        tokens[name] = tok.secret
    app.close()
    return quarter, tokens, krs


def run(run: Run) -> list[Result]:
    seconds = SECONDS if run.scale == "full" else float(os.environ.get("OKR_WEB_SECONDS", 20))
    rounds = 60 if run.scale == "full" else 30
    home, env = history_home(run, "web")
    settings = load_settings(environ=env)
    quarter, tokens, krs = _seed(env)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(home, "up.log"), "w")  # noqa: SIM115 - closed below
    up = subprocess.Popen([OKR, "up", "--web", "--port", str(port)], env=env, stdout=log,
                          stderr=log, start_new_session=True)
    boss = {"Authorization": f"Bearer {tokens['boss']}"}
    try:
        client = httpx.Client(base_url=base, timeout=60)
        _wait_until_current(client, boss, krs[0])
        say(f"web: okr up --web is serving {base} and following; measuring …")
        pages = _pages(client, tokens, quarter, krs, rounds)
        visible = _visible(str(client.base_url), tokens, quarter, krs[0], max(10, rounds // 2))
        more = _more_pages(str(client.base_url), tokens, run, max(5, rounds // 3))
        baselines = _baselines(settings, krs, rounds)
        load = _load(base, tokens, krs, seconds)
        exact = _recorded_once(env, load["accepted_notes"])
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=60)
        log.close()
    shutil.rmtree(home, ignore_errors=True)
    return [*_results(pages, baselines, load, exact, seconds), _visible_result(visible),
            *_more_results(more)]


def _wait_until_current(client: httpx.Client, auth: dict[str, str], kr: str,
                        timeout: float = 900) -> None:
    """Until the server answers and the consumer has projected the seeded key results."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(f"/api/v1/key-results/{kr}", headers=auth).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError("okr up --web did not serve the seeded key results in time")


def _signed_in(base: str, token: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    r = c.post("/signin", data={"token": token})
    assert r.status_code == 303, r.text
    return c


def _pages(client: httpx.Client, tokens: dict[str, str], quarter: str, krs: list[str],
           rounds: int) -> dict[str, list[float]]:
    """Server-side milliseconds of the team scorecard page and a key-result page read by one
    member while a teammate checks in on that key result between reads (so the consumer writes
    a batch between them), the teammate's check-in POSTs (API) without and with an
    Idempotency-Key (its pending and answer lines are two fsyncs), and the teammate's own read
    of the scorecard page right after: a user's read after their own write waits until the
    projection holds it (web/own_writes.py), so that figure is the way to the projection, held
    to the visibility target. One request at a time."""
    browser = _signed_in(str(client.base_url), tokens["m0"])
    writer = _signed_in(str(client.base_url), tokens["w0"])
    auth = {"Authorization": f"Bearer {tokens['w0']}"}
    out: dict[str, list[float]] = {"scorecard": [], "key_result": [], "check_in": [],
                                   "check_in_keyed": [], "own_read": []}
    for i in range(rounds):
        r = browser.get("/scorecard", params={"cycle": quarter, "team": "team-0"})
        assert r.status_code == 200, r.text
        out["scorecard"].append(_server_ms(r))
        r = browser.get(f"/kr/{krs[0]}")
        assert r.status_code == 200, r.text
        out["key_result"].append(_server_ms(r))
        r = client.post(f"/api/v1/key-results/{krs[0]}/check-ins", headers=auth,
                        json={"value": i, "note": f"page-{i}"})
        assert r.status_code == 201, r.text
        out["check_in"].append(_server_ms(r))
        r = client.post(f"/api/v1/key-results/{krs[0]}/check-ins",
                        headers={**auth, "Idempotency-Key": f"page-key-{i}"},
                        json={"value": i, "note": f"page-key-{i}"})
        assert r.status_code == 201, r.text
        out["check_in_keyed"].append(_server_ms(r))
        r = writer.get("/scorecard", params={"cycle": quarter, "team": "team-0"})
        assert r.status_code == 200 and f">{float(i):g} → " in r.text, "own check-in not shown"
        out["own_read"].append(_server_ms(r))
    writer.close()
    return out


def _visible(base: str, tokens: dict[str, str], quarter: str, kr: str, rounds: int
             ) -> list[float]:
    """Seconds from sending a check-in (API) until the team's scorecard page shows its value,
    the page asked again every 20 ms; one check-in at a time, each with a value of its own."""
    browser = _signed_in(base, tokens["m0"])
    api = httpx.Client(base_url=base, timeout=60)
    auth = {"Authorization": f"Bearer {tokens['m0']}"}
    out: list[float] = []
    for i in range(rounds):
        shown = f"{500 + i + 0.25:g}"  # the page writes numbers with :g
        began = time.perf_counter()
        r = api.post(f"/api/v1/key-results/{kr}/check-ins", headers=auth,
                     json={"value": float(shown), "note": f"visible-{i}"})
        assert r.status_code == 201, r.text
        while f">{shown} → " not in browser.get(
                "/scorecard", params={"cycle": quarter, "team": "team-0"}).text:
            if time.perf_counter() - began > 60:
                raise TimeoutError(f"a check-in of {shown} was not on the scorecard in 60 s")
            time.sleep(0.02)
        out.append(time.perf_counter() - began)
    api.close()
    browser.close()
    return out


def _visible_result(seconds: list[float]) -> Result:
    p95 = percentile(seconds, 95)
    say(f"web: a check-in posted is on the scorecard page after p50 {median(seconds):.2f} s, "
        f"p95 {p95:.2f} s ({len(seconds)} check-ins)")
    return Result("web: check-in visible on the scorecard page, p95", "s", p95, None,
                  f"<= {VISIBLE_P95_S:g} s", p95 <= VISIBLE_P95_S, lower_is_better=True,
                  notes={"median_s": round(median(seconds), 3), "check_ins": len(seconds),
                         "max_s": round(max(seconds), 3)})


def _more_pages(base: str, tokens: dict[str, str], run: Run, rounds: int
                ) -> dict[str, list[float]]:
    """Server-side milliseconds of the item, review and audit pages on the history's first
    quarter (the generator's keys: an objective and its key result, a KPI read daily), one
    request at a time. No target: the figures say what each costs beside the scorecard."""
    q = run.cycles[0] if run.cycles else Shape.scaled(run.scale).first_quarter
    paths = {"objective page (history)": f"/objective/{q}-team-00-o0",
             "key-result page with chart (history)": f"/kr/{q}-team-00-o0-kr0",
             "KPI page (history)": "/kpi/kpi-000",
             "review page (history quarter)": f"/review/{q}",
             "audit feed, first page": "/audit"}
    browser = _signed_in(base, tokens["boss"])
    out: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, path in paths.items():
            r = browser.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            out[name].append(_server_ms(r))
    return out


def _more_results(more: dict[str, list[float]]) -> list[Result]:
    for name, ms in more.items():
        say(f"web: {name}: server-side p50 {median(ms):.0f} ms, p95 {percentile(ms, 95):.0f} ms")
    return [Result(f"web: {name}, server-side p95", "ms", percentile(ms, 95), None, "-", None,
                   lower_is_better=True, notes={"median_ms": round(median(ms), 1),
                                                "requests": len(ms)})
            for name, ms in more.items()]


def _baselines(settings: Any, krs: list[str], rounds: int) -> dict[str, list[float]]:
    """The same work without the web: the projection query a page is built from, and the
    ledger's check_in (milliseconds)."""
    out: dict[str, list[float]] = {"scorecard": [], "check_in": []}
    app = OkrLedger(settings)
    try:
        for i in range(rounds):
            began = time.perf_counter()
            proj = open_for_reading(settings)
            assert proj is not None
            with proj:
                now = datetime.now(UTC)
                proj.scorecard_at(now, now)
            out["scorecard"].append((time.perf_counter() - began) * 1e3)
            began = time.perf_counter()
            app.check_in(krs[1], i, note=f"base-{i}")
            out["check_in"].append((time.perf_counter() - began) * 1e3)
    finally:
        app.close()
    return out


def _load(base: str, tokens: dict[str, str], krs: list[str], seconds: float
          ) -> dict[str, Any]:
    """CLIENTS clients for at most `seconds`: 3 reads, then a check-in, again and again."""
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {"scorecard": [], "key_result": [], "check_in": []}
    statuses: dict[int, int] = {}
    accepted: list[str] = []
    errors: list[str] = []

    def client(n: int) -> None:
        team = n % TEAMS
        auth = {"Authorization": f"Bearer {tokens[f'm{team}']}"}
        with httpx.Client(base_url=base, timeout=30) as c:
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                path = ("/api/v1/scorecard", f"/api/v1/key-results/{krs[team]}")[i % 2]
                kind = ("scorecard", "key_result")[i % 2]
                answers = []
                for _ in range(3):
                    try:
                        answers.append(_timed(c, "GET", path, auth))
                    except httpx.TransportError as exc:  # no answer in time: counted as 0
                        answers.append((0, 30_000.0))
                        with lock:
                            errors.append(f"GET {type(exc).__name__}")
                note = f"load-{n}-{i}-{uuid.uuid4().hex[:6]}"
                key = {"Idempotency-Key": note}
                for _attempt in range(5):  # a lost answer is asked again, same key
                    try:
                        answers.append(_timed(c, "POST", f"/api/v1/key-results/{krs[team]}"
                                              "/check-ins", {**auth, **key},
                                              {"value": i, "note": note}))
                        break
                    except httpx.TransportError as exc:
                        with lock:
                            errors.append(f"POST {type(exc).__name__}: sent again")
                with lock:
                    for j, (status, ms) in enumerate(answers):
                        statuses[status] = statuses.get(status, 0) + 1
                        latencies.append(ms)
                        by_kind["check_in" if j >= 3 else kind].append(ms)
                    if answers[-1][0] == 201:
                        accepted.append(note)

    threads = [threading.Thread(target=client, args=(n,), daemon=True)
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    return {"latencies_ms": latencies, "by_kind": by_kind, "statuses": statuses,
            "accepted_notes": accepted, "transport_errors": errors}


def _timed(c: httpx.Client, method: str, path: str, headers: dict[str, str],
           body: dict[str, Any] | None = None) -> tuple[int, float]:
    began = time.perf_counter()
    r = c.request(method, path, headers=headers, json=body)
    return r.status_code, (time.perf_counter() - began) * 1e3


def _recorded_once(env: dict[str, str], notes: list[str]) -> dict[str, int]:
    """How many accepted check-ins the store holds once, twice or not at all."""
    app = OkrLedger(load_settings(environ=env))
    try:
        seen: dict[str, int] = {}
        for t in range(TEAMS):
            for c in check_ins(app, app.key_result(f"web-k{t}")):
                if c["note"].startswith("load-"):
                    seen[c["note"]] = seen.get(c["note"], 0) + 1
    finally:
        app.close()
    return {"accepted": len(notes), "once": sum(seen.get(n) == 1 for n in notes),
            "missing": sum(n not in seen for n in notes),
            "twice_or_more": sum(seen.get(n, 0) > 1 for n in notes),
            "recorded_not_accepted": len(set(seen) - set(notes))}


def _results(pages: dict[str, list[float]], base: dict[str, list[float]],
             load: dict[str, Any], exact: dict[str, int], seconds: float) -> list[Result]:
    p95 = {k: percentile(v, 95) for k, v in pages.items()}
    lat = load["latencies_ms"]
    five = sum(n for s, n in load["statuses"].items() if s >= 500 or s == 0)
    say(f"web: server-side p95 scorecard {p95['scorecard']:.0f} ms (query alone "
        f"{percentile(base['scorecard'], 95):.0f} ms), key result {p95['key_result']:.0f} ms, "
        f"check-in POST {p95['check_in']:.0f} ms ({p95['check_in_keyed']:.0f} ms with an "
        f"Idempotency-Key; ledger alone "
        f"{percentile(base['check_in'], 95):.0f} ms)")
    kinds = {k: {"requests": len(v), "p50_ms": round(percentile(v, 50)),
                 "p95_ms": round(percentile(v, 95)), "max_ms": round(max(v))}
             for k, v in load["by_kind"].items() if v}
    say(f"web: load {CLIENTS} clients × {seconds:.0f} s: {len(lat)} requests, p50 "
        f"{percentile(lat, 50):.0f} ms, p95 {percentile(lat, 95):.0f} ms, p99 "
        f"{percentile(lat, 99):.0f} ms, max {max(lat):.0f} ms; statuses {load['statuses']}; "
        f"check-ins {exact}; by kind {kinds}")
    ok_once = exact["once"] == exact["accepted"] and not exact["recorded_not_accepted"]
    return [
        Result("web: team scorecard page, server-side p95", "ms", p95["scorecard"],
               percentile(base["scorecard"], 95), f"<= {SCORECARD_P95_MS:g} ms",
               p95["scorecard"] <= SCORECARD_P95_MS, lower_is_better=True,
               notes={"median_ms": round(median(pages["scorecard"]), 1),
                      "baseline": "open_for_reading + scorecard_at, p95"}),
        Result("web: key-result page, server-side p95", "ms", p95["key_result"],
               percentile(base["scorecard"], 95), f"<= {SCORECARD_P95_MS:g} ms",
               p95["key_result"] <= SCORECARD_P95_MS, lower_is_better=True,
               notes={"median_ms": round(median(pages["key_result"]), 1)}),
        Result("web: check-in POST (API), server-side p95", "ms", p95["check_in"],
               percentile(base["check_in"], 95), f"<= {CHECKIN_P95_MS:g} ms",
               p95["check_in"] <= CHECKIN_P95_MS, lower_is_better=True,
               notes={"median_ms": round(median(pages["check_in"]), 1),
                      "with_idempotency_key_median_ms": round(median(pages["check_in_keyed"]),
                                                              1),
                      "with_idempotency_key_p95_ms": round(percentile(pages["check_in_keyed"],
                                                                      95), 1),
                      "baseline": "OkrLedger.check_in, p95"}),
        Result("web: own check-in, then the scorecard page, server-side p95", "ms",
               p95["own_read"], None, f"<= {VISIBLE_P95_S * 1e3:g} ms (visible)",
               p95["own_read"] <= VISIBLE_P95_S * 1e3, lower_is_better=True,
               notes={"median_ms": round(median(pages["own_read"]), 1),
                      "what": "waits until the projection holds the user's own check-ins"}),
        Result(f"web: load, {CLIENTS} clients, client-side p95", "ms", percentile(lat, 95),
               None, "no 5xx (nor unanswered); every accepted check-in recorded once",
               five == 0 and ok_once, lower_is_better=True,
               notes={"seconds": seconds, "requests": len(lat),
                      "p50_ms": round(percentile(lat, 50), 1),
                      "p99_ms": round(percentile(lat, 99), 1),
                      "max_ms": round(max(lat), 1), "by_kind": kinds,
                      "refused_busy_503": load["statuses"].get(503, 0),
                      "statuses": {str(k): v for k, v in load["statuses"].items()},
                      "transport_errors": len(load["transport_errors"]), **exact}),
    ]
