"""`--on-behalf-of NAME` records whom a write is for beside the actor, never as it: in its own
stored field, in its own envelope member (present only when someone was named, so every
earlier envelope keeps its bytes and hash), and in the projection's own column."""

import contextlib
import json
import os
import pwd
import sqlite3
import threading
from pathlib import Path

import pytest

from okr.domain.errors import DomainError
from okr.ledger.app import OkrLedger
from okr.record.envelope import Envelope, canonical_json, chained, chained_records
from okr.settings import load_settings
from tests.fuzzing import event_count, fresh_copy, okr
from tests.unit.test_actor import write_args
from tests.unit.test_event_fixtures import FILES, restore
from tests.unit.test_hostile_text import project

ME = pwd.getpwuid(os.geteuid()).pw_name


def stored(home: Path) -> list[dict[str, object]]:
    with contextlib.closing(sqlite3.connect(home / "events.sqlite")) as conn:
        rows = conn.execute("SELECT state FROM stored_events ORDER BY rowid").fetchall()
    return [json.loads(state) for (state,) in rows]


@pytest.fixture
def home(readme_home: Path, tmp_path: Path) -> Path:
    return fresh_copy(readme_home, tmp_path)


# A write of each kind: plan, measurement, import, user.
WRITES = [["checkin", "kr-live", "2.25"], ["cycle", "add", "2027-Q1"],
          ["kpi", "record", "wau", "13000"], ["import", "checkins", "{csv}"],
          ["import", "readings", "{readings}"], ["kr", "revise", "kr-live", "--weight", "2",
                                                 "--reason", "more weight"],
          ["user", "add", "erin", "--role", "viewer"]]


@pytest.mark.parametrize("args", WRITES, ids=lambda a: " ".join(a[:2]))
def test_a_write_records_whom_it_is_for_beside_the_actor(home: Path, tmp_path: Path,
                                                         args: list[str]) -> None:
    before = event_count(home)
    result = okr(home, *write_args(args, tmp_path), "--on-behalf-of", "Dana (sales)")
    assert result.code == 0, str(result)
    new = stored(home)[before:]
    assert new and {(s["actor"], s.get("on_behalf_of")) for s in new} == {(ME, "Dana (sales)")}


@pytest.mark.parametrize("name", ["", "   ", "x" * 101], ids=["empty", "blank", "101 chars"])
@pytest.mark.parametrize("args", WRITES[:4], ids=lambda a: " ".join(a[:2]))
def test_a_blank_or_overlong_name_is_refused_in_one_line_and_nothing_is_written(
        home: Path, tmp_path: Path, args: list[str], name: str) -> None:
    before = event_count(home)
    result = okr(home, *write_args(args, tmp_path), f"--on-behalf-of={name}")
    assert result.code == 2, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("okr: error: "), str(result)
    assert "--on-behalf-of" in lines[0]
    assert event_count(home) == before


def test_the_refused_actor_option_points_to_on_behalf_of(home: Path) -> None:
    result = okr(home, "--actor", "the-ceo", "checkin", "kr-live", "2.25")
    assert result.code == 2 and "--on-behalf-of" in result.stderr, str(result)


def test_reads_do_not_take_it(home: Path) -> None:
    result = okr(home, "scorecard", "--on-behalf-of", "bob")
    assert result.code == 2 and "--on-behalf-of" in result.stderr, str(result)


def test_the_python_api_names_someone_per_ledger_or_per_block(home: Path) -> None:
    settings = load_settings({"home": home}, environ={})
    with pytest.raises(DomainError, match="cannot be blank"):
        OkrLedger(settings, on_behalf_of=" ")
    app = OkrLedger(settings, on_behalf_of="ops team")
    try:
        app.check_in("kr-live", 2.3)
        with app.acting_for("erin"):
            app.check_in("kr-live", 2.31)
            others: list[str | None] = []
            # another thread (a web request) is not inside this block
            t = threading.Thread(target=lambda: others.append(app.on_behalf_of))
            t.start()
            t.join()
            assert others == ["ops team"]
        with app.acting_for(None):
            app.check_in("kr-live", 2.32)
        before = event_count(home)
        with pytest.raises(DomainError, match="at most 100"), app.acting_for("y" * 101):
            app.check_in("kr-live", 2.33)
        assert event_count(home) == before
        app.check_in("kr-live", 2.34)
    finally:
        app.close()
    assert [(s["actor"], s.get("on_behalf_of")) for s in stored(home)[-4:]] == [
        (ME, "ops team"), (ME, "erin"), (ME, None), (ME, "ops team")]


def test_an_envelope_carries_it_only_when_someone_was_named(home: Path) -> None:
    assert okr(home, "checkin", "kr-live", "2.4", "--on-behalf-of", "bob").code == 0
    assert okr(home, "checkin", "kr-live", "2.5").code == 0
    app = OkrLedger(load_settings({"home": home}, environ={}))
    try:
        records = list(chained_records(app))
    finally:
        app.close()
    named, plain = records[-2].value, records[-1].value
    assert b'"on_behalf_of":"bob"' in named and b"on_behalf_of" not in plain
    for raw in (named, plain):
        env = Envelope.from_bytes(raw)
        # the relay's bytes are the canonical form, and the hash holds over both
        assert env.to_bytes() == raw and env.hash_ok(raw) and env.hash_ok()
    assert Envelope.from_bytes(named).on_behalf_of == "bob"
    assert Envelope.from_bytes(plain).on_behalf_of is None
    assert Envelope.from_bytes(named).fact().on_behalf_of == "bob"


def refused(raw: bytes) -> str:
    with pytest.raises(ValueError) as caught:
        Envelope.from_bytes(raw)
    return str(caught.value)


def test_a_null_empty_overlong_or_repeated_on_behalf_of_is_refused(home: Path) -> None:
    app = OkrLedger(load_settings({"home": home}, environ={}))
    try:
        body = next(iter(chained(app))).to_dict()
    finally:
        app.close()
    assert "never null" in refused(canonical_json({**body, "on_behalf_of": None}))
    assert "on_behalf_of" in refused(canonical_json({**body, "on_behalf_of": ""}))
    assert "on_behalf_of" in refused(canonical_json({**body, "on_behalf_of": "z" * 101}))
    twice = canonical_json({**body, "on_behalf_of": "a"}).replace(
        b'"on_behalf_of":"a"', b'"on_behalf_of":"a","on_behalf_of":"b"')
    assert "more than once" in refused(twice)


# v6 on holds a check-in named on behalf of someone (test_event_fixtures checks it).
@pytest.mark.parametrize("name", [f for f in FILES if int(f.split("-v")[1].split(".")[0]) < 6])
def test_events_stored_before_it_read_back_with_nobody_named(tmp_path: Path,
                                                            name: str) -> None:
    app = restore(tmp_path, name)
    try:
        records = list(chained_records(app))
        assert records and not [r for r in records if b"on_behalf_of" in r.value]
        assert {Envelope.from_bytes(r.value).on_behalf_of for r in records} == {None}
        events = [e for n in app.recorder.select_notifications(None, 1000)
                  for e in [app.mapper.to_domain_event(n)]]
        assert events and {e.on_behalf_of for e in events} == {None}  # type: ignore[attr-defined]
    finally:
        app.close()


def test_the_projection_trail_history_and_review_show_it_beside_the_actor(
        home: Path) -> None:
    assert okr(home, "kr", "revise", "kr-live", "--weight", "3", "--reason", "focus",
               "--on-behalf-of", "the CFO").code == 0
    assert okr(home, "checkin", "kr-live", "2.6", "--on-behalf-of", "Dana").code == 0
    project(home)
    rows = json.loads(okr(home, "sql", "SELECT type, actor, on_behalf_of FROM events "
                                       "WHERE on_behalf_of IS NOT NULL ORDER BY position",
                          "--json").stdout)
    assert rows == [{"type": "KeyResultRevised", "actor": ME, "on_behalf_of": "the CFO"},
                    {"type": "CheckInRecorded", "actor": ME, "on_behalf_of": "Dana"}]
    trail = json.loads(okr(home, "audit", "trail", "kr-live", "--json").stdout)
    assert [(r["actor"], r["on_behalf_of"]) for r in trail[-2:]] == [(ME, "the CFO"),
                                                                    (ME, "Dana")]
    assert trail[0]["on_behalf_of"] is None
    csv_out = okr(home, "audit", "trail", "kr-live", "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("position,recorded_at,effective_at,actor,"
                                              "on_behalf_of,")
    assert f",{ME},the CFO,KeyResultRevised," in csv_out
    assert f"{ME} (on behalf of the CFO)" in okr(home, "audit", "trail", "kr-live",
                                                 "--format", "table").stdout
    history = json.loads(okr(home, "history", "kr-live", "--json").stdout)
    assert history["revisions"][-1]["on_behalf_of"] == "the CFO"
    assert history["check_ins"][-1]["on_behalf_of"] == "Dana"
    shown = okr(home, "history", "kr-live", "--format", "table").stdout
    assert f"{ME} (on behalf of the CFO)" in shown and f"{ME} (on behalf of Dana)" in shown
    show = okr(home, "show", "kr-live", "--format", "table").stdout
    assert f"{ME} (on behalf of Dana)" in show


def test_a_projection_file_of_the_layout_before_it_is_rebuilt_with_the_column(
        tmp_path: Path) -> None:
    import duckdb

    from okr.projections.store import Projection

    path = tmp_path / "p.duckdb"
    with Projection(path):
        pass
    con = duckdb.connect(str(path))  # the layout before on_behalf_of, as its code left it
    for table in ("events", "check_ins", "kpi_readings", "key_result_versions"):
        con.execute(f"ALTER TABLE {table} DROP COLUMN on_behalf_of")
    con.execute("UPDATE projection_meta SET schema_version = 3, digest = 'older'")
    con.close()
    with Projection(path) as proj:
        cols = proj.query("SELECT table_name FROM duckdb_columns() WHERE column_name = "
                          "'on_behalf_of' ORDER BY ALL")[1]
    assert {"events", "check_ins", "kpi_readings", "key_result_versions"} <= {c for (c,) in cols}
