"""When a CLI read may skip its refresh (`complete_for_reading`): only when the work file holds
every stored event, was set up by this code, and the analysts' snapshot is not due."""

import os
import shutil
from pathlib import Path

import pytest

from okr.ledger.app import OkrLedger
from okr.projections.access import complete_for_reading
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained_records
from okr.settings import Settings, load_settings

EVERY = 15.0


def project(app: OkrLedger, settings: Settings) -> None:
    """Every stored event into the work file (as the consumer would), then the snapshot."""
    with Projection(settings.projection_work_file) as proj:
        proj.apply("t", [ConsumedRecord(r.value, 0, i) for i, r in enumerate(chained_records(app))],
                   {0: app.recorder.max_notification_id() or 0})
    shutil.copyfile(settings.projection_work_file, settings.duckdb_file)


@pytest.fixture
def ledger(tmp_path: Path) -> tuple[OkrLedger, Settings]:
    settings = load_settings({"home": tmp_path / "home"}, environ={})
    app = OkrLedger(settings)
    app.add_cycle("2026-Q4")
    app.add_objective("o1", "Grow revenue", cycle="2026-Q4", owner="ana")
    project(app, settings)
    return app, settings


def complete(settings: Settings) -> bool:
    proj = complete_for_reading(settings, EVERY)
    if proj is not None:
        proj.close()
    return proj is not None


def test_a_work_file_holding_every_stored_event_is_read_as_it_is(
        ledger: tuple[OkrLedger, Settings]) -> None:
    assert complete(ledger[1])


def test_one_event_more_in_the_store_means_a_refresh(ledger: tuple[OkrLedger, Settings]) -> None:
    app, settings = ledger
    app.add_objective("o2", "Keep customers", cycle="2026-Q4", owner="ana")
    assert not complete(settings)
    project(app, settings)
    assert complete(settings)


def test_a_file_set_up_by_other_code_means_a_refresh(ledger: tuple[OkrLedger, Settings]) -> None:
    settings = ledger[1]
    with Projection(settings.projection_work_file) as proj:
        proj.con.execute("UPDATE projection_meta SET digest = 'older code'")
    shutil.copyfile(settings.projection_work_file, settings.duckdb_file)
    assert not complete(settings)


def test_a_due_snapshot_means_a_refresh(ledger: tuple[OkrLedger, Settings]) -> None:
    settings = ledger[1]
    old = settings.duckdb_file.stat().st_mtime - 2 * EVERY
    os.utime(settings.duckdb_file, (old, old))
    assert not complete(settings)


def test_a_postgresql_store_always_refreshes(ledger: tuple[OkrLedger, Settings]) -> None:
    settings = ledger[1].model_copy(update={"store": "postgres"})
    assert not complete(settings)


def test_a_read_beside_a_consumer_of_another_version_says_so_in_one_line(
        ledger: tuple[OkrLedger, Settings]) -> None:
    """A consumer of an older okr still running after an upgrade keeps its file as that
    version set it up (without this version's macros): a read opens it as it is, so it must
    refuse in one line — restart the consumer — rather than fail on a missing macro."""
    import subprocess
    import sys

    from okr.errors import ProjectionUnavailable
    from okr.projections.access import open_for_reading, owning

    settings = ledger[1]
    for path in (settings.projection_work_file, settings.duckdb_file):
        with Projection(path) as proj:
            proj.con.execute("DROP MACRO TABLE scorecard_inputs")
            proj.con.execute("UPDATE projection_meta SET digest = 'older code'")
    with owning(settings):  # the older consumer
        with pytest.raises(ProjectionUnavailable, match=r"another version of okr.*restart"):
            open_for_reading(settings)
        done = subprocess.run(
            [sys.executable, "-c", "from okr.cli.main import run; run()", "--home",
             str(settings.home), "scorecard"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "OKR_HOME": str(settings.home)})
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "another version of okr" in lines[0], done.stderr
