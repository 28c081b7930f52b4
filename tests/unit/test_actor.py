"""Every stored event names its actor, and a blank actor — however it is configured — is
refused in one line with exit 2 before anything is written."""

import contextlib
import getpass
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.ledger.app import OkrLedger
from okr.ledger.readings import Rejected, parse_message, record
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.fuzzing import event_count, okr


def stored_actors(home: Path) -> list[tuple[str, object]]:
    with contextlib.closing(sqlite3.connect(home / "events.sqlite")) as conn:
        rows = conn.execute("SELECT topic, state FROM stored_events").fetchall()
    return [(topic, json.loads(state).get("actor")) for topic, state in rows]


@pytest.fixture
def home(readme_home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(readme_home, copy)
    return copy


def test_every_stored_event_of_a_realistic_history_records_its_actor(home: Path,
                                                                     tmp_path: Path) -> None:
    """README's 'Using it' commands, then imports, an ingested reading, other actors."""
    checkins = tmp_path / "c.csv"
    checkins.write_text("kr,value,at\nkr-conv,2.21,2026-11-03\nkr-intl,1,2026-11-04\n")
    readings = tmp_path / "r.csv"
    readings.write_text("kpi,value,at,id\nwau,13900,2026-11-09,w45\n")
    for args in (["import", "checkins", str(checkins)], ["import", "readings", str(readings)],
                 ["--actor", " bo ", "objective", "update", "rev-2x", "--owner", "cy",
                  "--reason", "handover"],
                 ["kpi", "update", "wau", "--target", "16000", "--reason", "growth"],
                 ["initiative", "status", "live-chat", "done"]):
        result = okr(home, *args)
        assert result.code == 0, str(result)
    app = OkrLedger(load_settings({"home": home, "actor": "ingest-bot"}))
    now = datetime.now(UTC)
    msg = parse_message(json.dumps({"kpi": "wau", "value": 14100, "source": "feed",
                                    "id": "feed-1", "observed_at": now.isoformat()}).encode(),
                        now)
    assert record(app, msg, now)
    envelopes = list(chained(app))
    app.close()

    actors = stored_actors(home)
    assert len(actors) == len(envelopes) > 15
    blank = [(topic, actor) for topic, actor in actors
             if not isinstance(actor, str) or not actor.strip()]
    assert blank == []
    assert {a for _, a in actors} == {"ana", "bo", "ingest-bot"}
    assert all(e.actor.strip() for e in envelopes)


BLANK_CONFIGS = [
    pytest.param({"env": {"OKR_ACTOR": "  "}}, id="OKR_ACTOR=spaces"),
    pytest.param({"env": {"OKR_ACTOR": "\t\n"}}, id="OKR_ACTOR=whitespace"),
    pytest.param({"flag": ""}, id="--actor ''"),
    pytest.param({"flag": "   "}, id="--actor spaces"),
    pytest.param({"toml": 'actor = ""\n'}, id="okr.toml actor=''"),
    pytest.param({"toml": 'actor = "  "\n'}, id="okr.toml actor=spaces"),
]
WRITES = [["checkin", "kr-live", "2.25"], ["cycle", "add", "2027-Q1"],
          ["kpi", "record", "wau", "13000"], ["import", "checkins", "{csv}"],
          ["import", "readings", "{readings}", "--skip-invalid"]]


def write_args(args: list[str], tmp_path: Path) -> list[str]:
    csv = tmp_path / "c.csv"
    csv.write_text("kr,value\nkr-live,2.21\n")
    readings = tmp_path / "r.csv"
    readings.write_text("kpi,value\nwau,13100\n")
    return [a.format(csv=csv, readings=readings) for a in args]


@pytest.mark.parametrize("config", BLANK_CONFIGS)
@pytest.mark.parametrize("args", WRITES, ids=lambda a: " ".join(a[:2]))
def test_a_blank_configured_actor_is_refused_in_one_line_and_nothing_is_written(
        home: Path, tmp_path: Path, config: dict[str, object], args: list[str]) -> None:
    if "toml" in config:
        (home / "okr.toml").write_text(str(config["toml"]))
    env = {"OKR_ACTOR": ""} | dict(config.get("env", {}))  # type: ignore[arg-type]
    front = ["--actor", str(config["flag"])] if "flag" in config else []
    before = event_count(home)
    result = okr(home, *front, *write_args(args, tmp_path), env=env)
    assert result.code == 2, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("okr: error: "), str(result)
    assert "actor" in lines[0] and "blank" in lines[0], str(result)
    assert event_count(home) == before


@pytest.fixture
def unknown_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: no USER/LOGNAME and a uid without a passwd entry (many containers)."""
    def no_user() -> str:
        raise KeyError("getpwuid(): uid not found: 100123")
    monkeypatch.setattr(getpass, "getuser", no_user)


@pytest.mark.parametrize("args", WRITES, ids=lambda a: " ".join(a[:2]))
def test_without_okr_actor_an_unknown_os_user_is_refused_by_every_write(
        home: Path, tmp_path: Path, unknown_os_user: None, args: list[str]) -> None:
    before = event_count(home)
    result = okr(home, *write_args(args, tmp_path), env={"OKR_ACTOR": ""})
    assert result.code == 2, str(result)
    assert len(result.stderr.splitlines()) == 1 and "actor" in result.stderr, str(result)
    assert event_count(home) == before


def test_ingest_with_no_actor_stops_instead_of_dead_lettering_good_readings(
        home: Path, unknown_os_user: None) -> None:
    """A missing actor is the installation's fault, not the message's: a good reading must
    not be rejected to the dead-letter topic for it."""
    app = OkrLedger(load_settings({"home": home}, environ={}))
    assert app.settings.actor == ""
    now = datetime.now(UTC)
    msg = parse_message(json.dumps({"kpi": "wau", "value": 14100, "source": "feed",
                                    "id": "feed-2", "observed_at": now.isoformat()}).encode(),
                        now)
    before = event_count(home)
    with pytest.raises(Exception) as exc:
        record(app, msg, now)
    app.close()
    assert not isinstance(exc.value, Rejected), exc.value
    assert "actor" in str(exc.value)
    assert event_count(home) == before
