"""What keeps the CLI quick (issue 20): a read of a projection that is up to date loads neither
Kafka's client nor the event-sourcing library, and of DuckDB only its engine (not the duckdb
package's Python layer: projections/engine.py), and a write while a relay runs (`okr up`,
`okr relay`) leaves publishing to it and starts no Kafka client. A command imports and builds
only its own module of commands, typer builds no pydantic adapter for an option left out, and
the settings are checked without pydantic (tests/unit/test_settings_validation.py). How fast:
bench/cli_bench.py.
"""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup

from okr.adapters.event_store import sqlite_head
from okr.cli.context import State
from okr.cli.main import COMMANDS, MODULE_OF, build_app, command_named
from okr.cli.output import NOTES
from okr.cli.reads import open_projection
from okr.domain.periods import cycle_of
from okr.ledger.app import OkrLedger
from okr.projections.access import owning
from okr.projections.store import Projection
from okr.record.relay import Relay
from okr.record.running import relay_running, relaying
from okr.settings import Settings, load_settings
from tests.unit.test_read_access import project

HEAVY = ("kafka", "eventsourcing", "duckdb", "_duckdb", "pyarrow", "fastapi", "rich",
         "pydantic", "typer._adapters")  # the last: typer's pydantic adapter per parameter


def okr_in_process(home: Path, *args: str, probe: str = "") -> tuple[int, str, list[str]]:
    """Run `okr ARGS` in a fresh interpreter; (exit code, stdout, heavy modules it loaded,
    and `probe` if it loaded that module too). Its stderr, but for the last line, is left in
    `okr_in_process.stderr`."""
    code = ("import sys\n"
            f"sys.argv = ['okr', *{list(args)!r}]\n"
            "from okr.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit as e:\n    rc = e.code\n"
            f"heavy = [m for m in {(*HEAVY, probe)!r} if m in sys.modules]\n"
            "cmds = sorted(m for m in sys.modules if m.endswith('_cmds'))\n"
            "print('CMDS ' + ','.join(cmds), file=sys.stderr)\n"
            "print('HEAVY ' + ','.join(heavy), file=sys.stderr)\n"
            "sys.exit(rc)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_"))}
    env.update(OKR_HOME=str(home), OKR_TZ="UTC")
    proc = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    heavy = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY")]
    assert heavy, proc.stderr
    okr_in_process.stderr = proc.stderr.rsplit("CMDS", 1)[0]  # type: ignore[attr-defined]
    cmds = [line for line in proc.stderr.splitlines() if line.startswith("CMDS")][-1]
    okr_in_process.cmds = [m for m in cmds[5:].split(",") if m]  # type: ignore[attr-defined]
    return proc.returncode, proc.stdout, [m for m in heavy[-1][6:].split(",") if m]


@pytest.fixture
def ledger(tmp_path: Path) -> tuple[OkrLedger, Settings]:
    settings = load_settings({"home": tmp_path}, environ={})
    app = OkrLedger(settings)
    quarter = cycle_of(datetime.now(UTC))
    app.add_cycle(quarter)
    app.add_objective("o1", "Grow revenue", cycle=quarter, owner="ana")
    app.add_key_result("k1", "Signups", objective="o1", target=100)
    app.check_in("k1", 10)
    return app, settings


def test_a_scorecard_of_an_up_to_date_projection_loads_no_kafka_nor_eventsourcing(
        ledger: tuple[OkrLedger, Settings]) -> None:
    app, settings = ledger
    project(app, settings)
    code, out, heavy = okr_in_process(settings.home, "scorecard", "--json")
    assert code == 0
    assert [kr["value"] for o in json.loads(out)["objectives"] for kr in o["key_results"]] == [10]
    # what a read of the projection needs, and nothing more: DuckDB's engine without the duckdb
    # package's Python layer (~95 ms of CPU; projections/engine.py)
    assert heavy == ["_duckdb"]


@pytest.mark.parametrize("module", ["okr.cli.failures", "importlib.resources"])
def test_a_scorecard_that_succeeds_loads_neither_the_failure_table_nor_importlib_resources(
        ledger: tuple[OkrLedger, Settings], module: str) -> None:
    app, settings = ledger
    project(app, settings)
    code, out, heavy = okr_in_process(settings.home, "scorecard", probe=module)
    assert (code, heavy) == (0, ["_duckdb"])  # a failure imports the table; the SQL is files
    assert out.startswith("kind\tkey")


def test_a_review_as_json_loads_neither_the_report_writers_nor_any_other_heavy_library(
        ledger: tuple[OkrLedger, Settings]) -> None:
    app, settings = ledger
    project(app, settings)
    code, out, heavy = okr_in_process(settings.home, "review", cycle_of(datetime.now(UTC)),
                                      "--json", probe="okr.cli.report")
    assert code == 0 and json.loads(out)["summary"]["key_results"] == 1
    assert heavy == ["_duckdb"]  # and not cli/report.py: it writes csv, md, html and tables


def test_a_read_while_a_consumer_runs_neither_refreshes_nor_opens_the_ledger(
        ledger: tuple[OkrLedger, Settings]) -> None:
    app, settings = ledger
    project(app, settings)
    old = settings.duckdb_file.stat().st_mtime - 3600
    os.utime(settings.duckdb_file, (old, old))  # the analysts' snapshot is due …
    with owning(settings):  # … but a consumer runs (okr up), and publishes it itself
        code, out, heavy = okr_in_process(settings.home, "scorecard", "--json")
        assert (code, heavy, okr_in_process.stderr) == (0, ["_duckdb"], "")  # type: ignore[attr-defined]
        app.check_in("k1", 30)  # not projected yet: the consumer is a moment behind
        code, out, heavy = okr_in_process(settings.home, "scorecard", "--json")
    assert (code, heavy) == (0, ["_duckdb"])  # the last write shown late, said so, no Kafka
    assert "showing 4 of 5 events" in okr_in_process.stderr  # type: ignore[attr-defined]
    assert json.loads(out)["stale"]["missing_events"] == 1


def test_a_check_in_while_a_relay_runs_leaves_publishing_to_it(
        ledger: tuple[OkrLedger, Settings]) -> None:
    app, settings = ledger
    before = app.recorder.max_notification_id()
    with relaying(settings, settings.topic_ledger):  # as `okr up` / `okr relay` do
        code, out, heavy = okr_in_process(settings.home, "checkin", "k1", "20", "--json")
    assert code == 0
    assert json.loads(out)["published"].startswith("left to the running relay")
    assert "kafka" not in heavy
    assert app.recorder.max_notification_id() == before + 1  # recorded, for the relay to send


def test_a_relay_following_the_store_says_so_while_it_runs(
        ledger: tuple[OkrLedger, Settings]) -> None:
    app, settings = ledger
    seen: list[bool] = []
    relay = Relay(app, "127.0.0.1:9")  # never reached: the loop is stopped at once
    relay.run(lambda: seen.append(relay_running(settings, settings.topic_ledger)) or True,
              lambda _: None, lambda *_: None)
    assert seen == [True]
    assert not relay_running(settings, settings.topic_ledger)  # and no longer once it stopped
    assert not relay_running(settings, "another.topic")


def test_the_head_read_without_the_library_is_the_recorders(
        ledger: tuple[OkrLedger, Settings]) -> None:
    app, settings = ledger
    assert sqlite_head(settings) == app.recorder.max_notification_id() == 4


def test_a_command_builds_only_its_own_module_of_commands(
        ledger: tuple[OkrLedger, Settings]) -> None:
    app, settings = ledger
    project(app, settings)
    code, out, heavy = okr_in_process(settings.home, "--json", "scorecard", "--team", "")
    assert (code, heavy) == (0, ["_duckdb"])  # no pydantic adapter for the options, no rich
    assert okr_in_process.cmds == ["okr.cli.projection_cmds"]  # type: ignore[attr-defined]
    with relaying(settings, settings.topic_ledger):  # no Kafka client, no broker started
        code, out, heavy = okr_in_process(settings.home, "--json", "checkin", "k1", "-5",
                                          "--note", "n")
    assert code == 0 and json.loads(out)["value"] == -5
    assert heavy == ["eventsourcing"]  # the ledger, and no pydantic adapter for the options
    assert okr_in_process.cmds == ["okr.cli.measure_cmds"]  # type: ignore[attr-defined]


def test_help_builds_every_command_and_loads_no_heavy_library(tmp_path: Path) -> None:
    code, out, heavy = okr_in_process(tmp_path / "none", "--help")
    assert (code, heavy) == (0, ["rich"])  # typer writes its help with rich
    assert okr_in_process.cmds == sorted(  # type: ignore[attr-defined]
        f"okr.cli.{m}" for m in COMMANDS)
    for name in MODULE_OF:
        assert f" {name} " in out  # listed, with its help beside it
    assert not (tmp_path / "none").exists()


def test_the_table_of_commands_is_the_one_each_module_adds() -> None:
    whole = typer.main.get_command(build_app())
    assert isinstance(whole, TyperGroup)
    assert sorted(whole.commands) == sorted(MODULE_OF)
    for module, names in COMMANDS.items():
        alone = typer.main.get_command(build_app([module]))
        assert isinstance(alone, TyperGroup)
        assert sorted(alone.commands) == sorted(names), module
        for name in names:  # the same command as in the whole app
            a, w = alone.commands[name], whole.commands[name]
            assert (a.help, [p.name for p in a.params]) == (w.help, [p.name for p in w.params])


@pytest.mark.parametrize(("argv", "named"), [
    (["scorecard"], "scorecard"),
    (["--json", "--strict", "scorecard", "--team", "checkin"], "scorecard"),
    (["--home", "checkin", "scorecard"], "scorecard"),  # a data directory named checkin
    (["--home=/tmp/x", "--actor", "kr", "audit", "verify"], "audit"),
    (["--", "checkin", "k", "1"], "checkin"),
    (["-4", "scorecard"], None),  # a word, as the root reads it: no such command
    (["scorcard"], None),  # mistyped: the whole app, which suggests the right one
    (["--help", "scorecard"], None), (["-h"], None), (["--json"], None), ([], None),
    (["--show-completion", "bash"], None), (["--install-completion"], None),
])
def test_the_command_is_read_as_the_root_group_reads_it(argv: list[str],
                                                        named: str | None) -> None:
    assert command_named(argv) == named


def test_a_read_while_a_consumer_runs_opens_the_projection_once(
        ledger: tuple[OkrLedger, Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    app, settings = ledger
    project(app, settings)
    opened: list[str] = []
    connect = Projection.connect

    def counted(proj: Projection) -> None:
        opened.append(proj.path)
        connect(proj)

    monkeypatch.setattr(Projection, "connect", counted)
    with owning(settings):  # a consumer runs (okr up) …
        with open_projection(State(_settings=settings)) as proj:
            assert proj.event_positions() == (4, 4)
        assert opened == [str(settings.projection_work_file)]
        opened.clear()
        app.check_in("k1", 30)  # … a moment behind the store: shown late, said so
        with open_projection(State(_settings=settings)) as proj:
            assert proj.event_positions() == (4, 4)
    assert opened == [str(settings.projection_work_file)]
    assert NOTES.pop("stale")["missing_events"] == 1
