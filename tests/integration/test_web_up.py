"""`okr up --web`: the web app runs beside relay and consumer (as a child `okr serve`); a
check-in posted to it reaches its own scorecard through relay → Kafka → consumer, and SIGTERM
stops everything, the web server too; a SIGKILL of `okr up` takes the web server with it; a web
port another program holds is said to be taken, in one line, and nothing starts."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

from okr.errors import UNAVAILABLE
from okr.settings import load_settings
from tests.integration.conftest import (
    OKR,
    Broker,
    Env,
    okr_environ,
    pids_running,
    running,
    until,
)
from tests.support.web import seed

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_with_web_serves_the_app_and_its_writes_reach_the_scorecard(
        broker: Broker, tmp_path: Path) -> None:
    environ = {**okr_environ(tmp_path / "home", broker.bootstrap), "OKR_INLINE_PUBLISH": "off"}
    ledger, tokens = seed(load_settings(environ=environ))
    ledger.close()
    port = _free_port()
    up = subprocess.Popen([OKR, "up", "--json", "--web", "--port", str(port)], text=True,
                          env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(up.stdout or ()), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {tokens['mia']}"}
    web_pid = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/signin", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"okr up --web never served {base}: {lines}")
        web_pid = next(json.loads(x)["pid"] for x in lines if '"service": "web"' in x)
        r = httpx.post(f"{base}/api/v1/key-results/k-sales/check-ins", headers=auth,
                       json={"value": 9}, timeout=30)
        assert r.status_code == 201 and r.json()["actor"] == "web:mia", r.text

        def shown() -> float | None:
            card = httpx.get(f"{base}/api/v1/key-results/k-sales", headers=auth,
                             timeout=30).json()
            return card["key_result"]["value"]

        deadline = time.monotonic() + 60
        while shown() != 9 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert shown() == 9, "the check-in never reached the web app's scorecard"
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=60)
        reader.join(timeout=10)
    assert up.returncode == 0, (lines, up.stderr.read() if up.stderr else "")
    assert web_pid is not None
    try:
        os.kill(web_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the web server outlived okr up"


def test_up_with_web_a_read_after_an_accepted_check_in_shows_it(
        broker: Broker, tmp_path: Path) -> None:
    """Read your writes beside a consumer: once the server has answered 201 to a user's
    check-in, that user's next read (API or page) shows it — it does not read the projection
    as it stood before the consumer applied it."""
    environ = {**okr_environ(tmp_path / "home", broker.bootstrap), "OKR_INLINE_PUBLISH": "off"}
    ledger, tokens = seed(load_settings(environ=environ))
    ledger.close()
    port = _free_port()
    up = subprocess.Popen([OKR, "up", "--web", "--port", str(port)], env=environ,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {tokens['mia']}"}
    try:
        api = httpx.Client(base_url=base, timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # served, and the seeded items projected
            try:
                if api.get("/api/v1/key-results/k-sales", headers=auth).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"okr up --web never served {base}")
        browser = httpx.Client(base_url=base, timeout=30)
        assert browser.post("/signin", data={"token": tokens["mia"]}).status_code == 303
        for i in range(6):
            value = 11 + i
            r = api.post("/api/v1/key-results/k-sales/check-ins", headers=auth,
                         json={"value": value, "note": f"mine-{i}"})
            assert r.status_code == 201, r.text
            if i % 2:
                page = browser.get("/kr/k-sales")
                assert page.status_code == 200
                assert f"mine-{i}" in page.text, f"round {i}: the page missed the check-in"
            else:
                card = api.get("/api/v1/key-results/k-sales", headers=auth).json()
                assert card["key_result"]["value"] == value, f"round {i}: {card['key_result']}"
        api.close()
        browser.close()
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=60)


def _read_lines(stream: IO[str] | None, into: list[str]) -> None:
    """Collect a child's output lines in the background (a full pipe would stall it)."""
    threading.Thread(target=lambda: into.extend(stream or ()), daemon=True).start()


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _end_all(proc: subprocess.Popen[str], port: int) -> list[int]:
    """SIGKILL `okr up`'s process group (its web server is in it) and any `okr serve` on the
    port; returns the web servers that were still running."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    left = pids_running("serve", "--port", str(port))
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def test_up_with_web_killed_takes_its_web_server_with_it(env: Env) -> None:
    """SIGKILL of `okr up --web` (its process alone, as `kill -9 PID` does) leaves no `okr
    serve` behind holding the port; and the log says "serving" only once the port is bound."""
    ledger, _ = seed(env.settings)
    ledger.close()
    port = _free_port()
    up = env.spawn("up", "--json", "--web", "--port", str(port))
    lines: list[str] = []
    errors: list[str] = []
    _read_lines(up.stdout, lines)
    _read_lines(up.stderr, errors)
    try:
        def web_said() -> list[dict[str, object]]:
            return [e for e in map(json.loads, list(lines)) if e["service"] == "web"]

        assert until(lambda: bool(web_said()) or up.poll() is not None, 60), (lines, errors)
        said = web_said()
        assert said, (lines, errors)
        assert _accepting(port), f"said {said[0]['message']!r} before the port was bound"
        web_pid = int(str(said[0]["pid"]))
        assert running(web_pid)
        os.kill(up.pid, signal.SIGKILL)
        assert until(lambda: not running(web_pid), 30), \
            "the web server outlived okr up (SIGKILL)"
    finally:
        left = _end_all(up, port)
    assert left == [], f"okr serve left running: {left}"


def test_up_with_web_on_a_port_another_program_holds_says_so_and_starts_nothing(
        env: Env) -> None:
    ledger, _ = seed(env.settings)
    ledger.close()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        up = env.spawn("up", "--web", "--port", str(port))
        try:
            out, err = up.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            _end_all(up, port)
            out, err = up.communicate()
            pytest.fail(f"okr up --web kept running on a taken port: {err}")
        finally:
            left = _end_all(up, port)
    assert (up.returncode, out) == (UNAVAILABLE, ""), (up.returncode, out, err)
    assert err.splitlines() == [f"okr: error: port {port} on 127.0.0.1 is in use by another "
                                "program; choose another with --port"], err
    assert left == []


def test_serve_on_a_port_another_program_holds_says_so_and_never_says_serving(
        env: Env) -> None:
    ledger, _ = seed(env.settings)
    ledger.close()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = env.run("serve", "--port", str(port), timeout=60)
    assert (proc.returncode, proc.stdout) == (UNAVAILABLE, ""), proc
    assert proc.stderr.splitlines() == [f"okr: error: port {port} on 127.0.0.1 is in use by "
                                        "another program; choose another with --port"], proc


def test_serve_with_a_listen_fd_that_is_no_socket_is_one_line_and_exit_2(env: Env) -> None:
    """The hidden option okr up passes its bound port with: a wrong one (typed by hand) was a
    traceback (Bad file descriptor)."""
    ledger, _ = seed(env.settings)
    ledger.close()
    proc = env.run("serve", "--listen-fd", "999", timeout=60)
    assert proc.returncode == 2, proc
    assert proc.stderr.splitlines() == [
        "okr: error: --listen-fd 999 is not an open socket (Bad file descriptor); it is for okr "
        "up, which passes the port it bound"], proc.stderr


def test_serve_counts_failed_sign_ins_by_the_connection_not_a_forwarded_header(
        env: Env) -> None:
    """The sign-in limit (ten failures a minute per address) holds against a client that names
    another address in each request's X-Forwarded-For. Until 2026-12-04 `okr serve` took the
    address from that header for any client on 127.0.0.1 (uvicorn's default trust) — every
    client of the default --host — so a guesser picking a new one each time was never
    stopped."""
    ledger, _ = seed(env.settings)
    ledger.close()
    port = _free_port()
    serve = env.spawn("serve", "--port", str(port))
    try:
        base = f"http://127.0.0.1:{port}"
        assert until(lambda: _answers(base), 60), "okr serve did not answer"
        codes = [httpx.post(f"{base}/signin", data={"token": "mia:" + "x" * 43},
                            headers={"X-Forwarded-For": f"203.0.113.{i}",
                                     "X-Real-IP": f"203.0.113.{i}"},
                            timeout=30).status_code for i in range(12)]
    finally:
        _end_all(serve, port)
    assert codes == [401] * 10 + [429] * 2, codes


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/signin", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
