"""A ledger for the web tests: a live cycle, two teams' objectives (one titled with hostile
text), and a user of every role with a token."""

from pathlib import Path
from typing import Any

from okr.ledger.app import OkrLedger
from okr.settings import Settings, load_settings
from okr.web.tokens import new_token
from tests.fuzzing import live_window
from tests.support.hostile_text import CORPUS

HOSTILE_TITLE = CORPUS["html"] + " " + CORPUS["bidi override"] + " " + CORPUS["ansi colour"]
HOSTILE_NOTE = CORPUS["markup link"] + " " + CORPUS["html"]
USERS = [("ana", "admin", ""), ("mia", "member", "sales"), ("ben", "member", "eng"),
         ("vic", "viewer", ""), ("aud", "auditor", ""), ("pat", "planner", "")]


def seeded_home(home: Path, bootstrap: str
                ) -> tuple[dict[str, str], Settings, OkrLedger, dict[str, str]]:
    """A new data directory on the suite's broker, seeded: (its okr environment, its settings,
    the open ledger, each user's token)."""
    from tests.integration.conftest import okr_environ

    environ = okr_environ(home, bootstrap)
    settings = load_settings(environ=environ)
    return (environ, settings, *seed(settings))


def seed(settings: Settings) -> tuple[OkrLedger, dict[str, str]]:
    app = OkrLedger(settings)
    start, end = live_window()
    app.add_cycle("live", start, end)
    app.add_objective("o-sales", HOSTILE_TITLE, cycle="live", owner="ana", team="sales")
    app.add_objective("o-eng", "Ship faster", cycle="live", owner="ben", team="eng")
    app.add_key_result("k-sales", "Deals " + CORPUS["markup tags"], objective="o-sales",
                       start=0, target=40, unit="deals")
    app.add_key_result("k-eng", "Deploys", objective="o-eng", start=0, target=10)
    app.commit_cycle("live")
    tokens = {}
    for name, role, team in USERS:
        app.add_user(name, role, team)
        t = new_token(name)
        app.issue_token(name, t.token_id, t.token_hash)
        tokens[name] = t.secret
    return app, tokens


def recorded_check_ins(settings: Settings, key: str = "k-sales") -> list[dict[str, object]]:
    """A key result's check-ins read back from the store, in the order they were recorded."""
    from okr.ledger.views import check_ins

    app = OkrLedger(settings)
    try:
        return sorted(check_ins(app, app.key_result(key)), key=lambda c: c["recorded_at"])
    finally:
        app.close()


def asgi_post(app: Any, path: str, pieces: int, piece: bytes,
              headers: list[tuple[bytes, bytes]]) -> tuple[int, int, str, bytes]:
    """POST `pieces` × `piece` straight into the ASGI `app` (a test client reads a body whole
    before the app sees any), with `headers` beside Host: (status, pieces the app read,
    content type, body)."""
    import asyncio

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), *headers],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    read = 0
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < pieces:
            read += 1
            return {"type": "http.request", "body": piece, "more_body": read < pieces}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["type"] = dict(message["headers"]).get(b"content-type", b"").decode()
        else:
            answer["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return answer["status"], read, answer["type"], answer["body"]
