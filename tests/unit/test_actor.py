"""The recorded actor is the authenticated principal — the OS account on SQLite, the session
role on PostgreSQL, `ingest:<topic>` for feeds — and nothing a person types can name it:
`--actor`, $OKR_ACTOR, okr.toml, $USER/$LOGNAME and the Python API are each tried as an
attacker would, and nothing is recorded under the claimed name."""

import contextlib
import json
import os
import pwd
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.consumers.ingest import feed_ledger
from okr.domain.errors import DomainError
from okr.ledger import principal
from okr.ledger.app import OkrLedger
from okr.ledger.principal import NoPrincipal
from okr.ledger.readings import Rejected, parse_message, record
from okr.record.envelope import chained
from okr.settings import SettingsError, load_settings
from tests.fuzzing import event_count, okr

ME = pwd.getpwuid(os.geteuid()).pw_name  # the account running the tests: the actor of a write


def stored_actors(home: Path) -> list[tuple[str, object]]:
    with contextlib.closing(sqlite3.connect(home / "events.sqlite")) as conn:
        rows = conn.execute("SELECT topic, state FROM stored_events").fetchall()
    return [(topic, json.loads(state).get("actor")) for topic, state in rows]


@pytest.fixture
def home(readme_home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(readme_home, copy)
    return copy


WRITES = [["checkin", "kr-live", "2.25"], ["cycle", "add", "2027-Q1"],
          ["kpi", "record", "wau", "13000"], ["import", "checkins", "{csv}"],
          ["import", "readings", "{readings}", "--skip-invalid"]]


def write_args(args: list[str], tmp_path: Path) -> list[str]:
    csv = tmp_path / "c.csv"
    csv.write_text("kr,value\nkr-live,2.21\n")
    readings = tmp_path / "r.csv"
    readings.write_text("kpi,value\nwau,13100\n")
    return [a.format(csv=csv, readings=readings) for a in args]


# Each way a person could once name the actor of a write.
CLAIMS = [
    pytest.param({"flag": "the-ceo"}, id="--actor the-ceo"),
    pytest.param({"flag": ""}, id="--actor ''"),
    pytest.param({"env": {"OKR_ACTOR": "the-ceo"}}, id="OKR_ACTOR=the-ceo"),
    pytest.param({"env": {"OKR_ACTOR": "  "}}, id="OKR_ACTOR=spaces"),
    pytest.param({"toml": 'actor = "the-ceo"\n'}, id="okr.toml actor"),
    pytest.param({"toml": 'actor = ""\n'}, id="okr.toml actor=''"),
]


@pytest.mark.parametrize("claim", CLAIMS)
@pytest.mark.parametrize("args", WRITES, ids=lambda a: " ".join(a[:2]))
def test_a_claimed_actor_is_refused_in_one_line_and_nothing_is_written(
        home: Path, tmp_path: Path, claim: dict[str, object], args: list[str]) -> None:
    if "toml" in claim:
        (home / "okr.toml").write_text(str(claim["toml"]))
    front = ["--actor", str(claim["flag"])] if "flag" in claim else []
    before = event_count(home)
    result = okr(home, *front, *write_args(args, tmp_path),
                 env=dict(claim.get("env", {})))  # type: ignore[call-overload]
    assert result.code == 2, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("okr: error: "), str(result)
    assert "actor" in lines[0] and "signed in as" in lines[0], str(result)
    assert "--on-behalf-of" in lines[0], str(result)  # what to give instead
    assert event_count(home) == before
    assert "the-ceo" not in {a for _, a in stored_actors(home)}


def test_user_and_logname_do_not_name_the_actor(home: Path) -> None:
    """$USER and $LOGNAME are anyone's to set; the effective uid's account is not."""
    result = okr(home, "checkin", "kr-live", "2.25",
                 env={"USER": "the-ceo", "LOGNAME": "the-ceo", "LNAME": "the-ceo",
                      "USERNAME": "the-ceo"})
    assert result.code == 0, str(result)
    assert stored_actors(home)[-1][1] == ME


def test_the_python_api_cannot_name_the_actor(home: Path) -> None:
    with pytest.raises(SettingsError, match="signed in as"):
        load_settings({"home": home, "actor": "the-ceo"})
    app = OkrLedger(load_settings({"home": home}, environ={}))
    try:
        with pytest.raises(TypeError):
            app.check_in("kr-live", 2.25, actor="the-ceo")  # type: ignore[call-arg]
        app.check_in("kr-live", 2.25)
        assert app.principal == ME
    finally:
        app.close()
    assert stored_actors(home)[-1][1] == ME


def test_a_trusted_component_records_the_principal_it_authenticated(home: Path) -> None:
    """The one way to record another name: a server component that signed someone in opens
    the ledger service with `principal=` (docs/architecture.md)."""
    app = OkrLedger(load_settings({"home": home}, environ={}), principal="web:alice")
    try:
        app.check_in("kr-live", 2.3)
        with pytest.raises(DomainError, match="principal cannot be blank"):
            OkrLedger(app.settings, principal="  ")
    finally:
        app.close()
    assert stored_actors(home)[-1][1] == "web:alice"


def test_every_stored_event_of_a_realistic_history_records_its_principal(
        home: Path, tmp_path: Path) -> None:
    """README's 'Using it' commands, then imports, an ingested reading."""
    checkins = tmp_path / "c.csv"
    checkins.write_text("kr,value,at\nkr-conv,2.21,2026-11-03\nkr-intl,1,2026-11-04\n")
    readings = tmp_path / "r.csv"
    readings.write_text("kpi,value,at,id\nwau,13900,2026-11-09,w45\n")
    for args in (["import", "checkins", str(checkins)], ["import", "readings", str(readings)],
                 ["objective", "update", "rev-2x", "--owner", "cy", "--reason", "handover"],
                 ["kpi", "update", "wau", "--target", "16000", "--reason", "growth"],
                 ["initiative", "status", "live-chat", "done"]):
        result = okr(home, *args)
        assert result.code == 0, str(result)
    app = feed_ledger(load_settings({"home": home}, environ={}))
    now = datetime.now(UTC)
    msg = parse_message(json.dumps({"kpi": "wau", "value": 14100, "source": "feed",
                                    "id": "feed-1", "observed_at": now.isoformat()}).encode(),
                        now)
    assert record(app, msg, now)
    envelopes = list(chained(app))
    app.close()

    actors = stored_actors(home)
    assert len(actors) == len(envelopes) > 15
    assert {a for _, a in actors} == {ME, "ingest:okr.kpi-readings"}
    assert [e.actor for e in envelopes] == [a for _, a in actors]


@pytest.fixture
def unknown_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: a uid without a passwd entry (many containers)."""
    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")
    monkeypatch.setattr(principal.pwd, "getpwuid", no_entry)


@pytest.mark.parametrize("args", WRITES, ids=lambda a: " ".join(a[:2]))
def test_an_os_account_without_a_name_is_refused_by_every_write(
        home: Path, tmp_path: Path, unknown_os_user: None, args: list[str]) -> None:
    before = event_count(home)
    result = okr(home, *write_args(args, tmp_path), env={"USER": "the-ceo"})
    assert result.code == 2, str(result)
    assert len(result.stderr.splitlines()) == 1 and "actor" in result.stderr, str(result)
    assert event_count(home) == before


def test_record_with_no_actor_stops_instead_of_dead_lettering_good_readings(
        home: Path, unknown_os_user: None) -> None:
    """A missing actor is the installation's fault, not the message's: a good reading must
    not be rejected to the dead-letter topic for it."""
    app = OkrLedger(load_settings({"home": home}, environ={}))
    now = datetime.now(UTC)
    msg = parse_message(json.dumps({"kpi": "wau", "value": 14100, "source": "feed",
                                    "id": "feed-2", "observed_at": now.isoformat()}).encode(),
                        now)
    before = event_count(home)
    with pytest.raises(NoPrincipal) as exc:
        record(app, msg, now)
    app.close()
    assert not isinstance(exc.value, Rejected)
    assert event_count(home) == before


@pytest.fixture
def pg_role_env() -> Iterator[tuple[str, dict[str, str]]]:
    """A private schema and a login role of its own in the local PostgreSQL."""
    from tests.pg import DSN, private_schema

    psycopg = pytest.importorskip("psycopg")
    with private_schema("okr_actor") as env:
        role = f"okr_actor_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
            conn.execute(f'GRANT ALL ON SCHEMA "{env["POSTGRES_SCHEMA"]}" TO "{role}"')
        try:
            yield role, {**env, "POSTGRES_USER": role}
        finally:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f'DROP OWNED BY "{role}" CASCADE')
                conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.postgres
def test_on_postgres_the_actor_is_the_session_role(
        tmp_path: Path, pg_role_env: tuple[str, dict[str, str]]) -> None:
    role, env = pg_role_env
    home = tmp_path / "home"
    assert okr(home, "cycle", "add", "2027-Q1", env=env).code == 0
    refused = okr(home, "--actor", "the-ceo", "cycle", "commit", "2027-Q1", env=env)
    assert refused.code == 2, str(refused)
    app = OkrLedger(load_settings({"home": home}, environ=env))
    try:
        assert app.principal == role != ME
        assert [e.actor for e in chained(app)] == [role]
    finally:
        app.close()
