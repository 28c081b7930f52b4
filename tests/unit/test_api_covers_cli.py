"""Every write command of the CLI has its POST under /api/v1 (or is left off on purpose), so
a write added to the CLI later cannot be forgotten by the API."""

from pathlib import Path

import typer.main

from okr.cli.main import app as cli
from okr.ledger.app import OkrLedger
from okr.settings import load_settings

# CLI write → its POST (docs/web.md, "Writes: one POST per CLI write").
POSTS = {
    "cycle add": "/cycles", "cycle commit": "/cycles/{key}/commit",
    "cycle close": "/cycles/{key}/close", "cycle reopen": "/cycles/{key}/reopen",
    "cycle carry": "/cycles/{key}/carry",
    "objective add": "/objectives", "objective update": "/objectives/{key}/update",
    "objective abandon": "/objectives/{key}/abandon",
    "objective close": "/objectives/{key}/close",
    "kr add": "/key-results", "kr revise": "/key-results/{key}/revise",
    "kr move": "/key-results/{key}/move", "kr remove": "/key-results/{key}/remove",
    "kr link": "/key-results/{key}/link", "kr unlink": "/key-results/{key}/unlink",
    "checkin": "/key-results/{key}/check-ins",
    "initiative add": "/initiatives", "initiative status": "/initiatives/{key}/status",
    "kpi add": "/kpis", "kpi update": "/kpis/{key}/update", "kpi record": "/kpis/{key}/readings",
    "kpi retire": "/kpis/{key}/retire",
    "import plan": "/imports/plan", "import checkins": "/imports/checkins",
    "import readings": "/imports/readings",
}

# Users and tokens are made, revoked and locked out by those who may write the ledger directly,
# never over the API (a stolen token must not be able to keep itself alive or lock others out).
NOT_ON_THE_API = {"user add", "user password", "user disable", "user enable", "token create",
                  "token revoke"}


def cli_writes() -> set[str]:
    """The commands that record events: those built with `.write` (they take
    --on-behalf-of)."""
    def walk(cmd: object, path: str) -> set[str]:
        found = {path} if any(p.name == "on_behalf_of" for p in getattr(cmd, "params", []))\
            else set()
        for name, sub in getattr(cmd, "commands", {}).items():
            found |= walk(sub, f"{path} {name}".strip())
        return found
    return walk(typer.main.get_command(cli), "")


def test_every_cli_write_has_a_post_under_api_v1(tmp_path: Path) -> None:
    from okr.web.app import create_app

    assert cli_writes() == set(POSTS) | NOT_ON_THE_API
    settings = load_settings({"home": tmp_path / "home"})
    OkrLedger(settings).add_user("ana", "admin")
    web = create_app(settings)
    try:
        posts = {p.removeprefix("/api/v1") for p, ops in web.openapi()["paths"].items()
                 if "post" in ops and p.startswith("/api/v1/")}
    finally:
        web.state.site.close()
    assert posts == set(POSTS.values())
