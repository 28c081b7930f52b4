"""KPI ingest against a real broker: good, bad and duplicate messages; a killed consumer."""

import json
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from okr.adapters import kafka_client
from okr.ledger import views
from okr.ledger.app import OkrLedger
from okr.record.envelope import chained
from tests.integration.conftest import Env, readings_progress, wait_for_change
from tests.integration.test_audit import produce

pytestmark = pytest.mark.integration


def readings(env: Env, kpi: str) -> list[dict]:
    app = OkrLedger(env.settings)
    try:
        return views.readings(app, app.kpi(kpi))
    finally:
        app.close()


def message(i: int, **over: object) -> bytes:
    t = datetime(2025, 10, 1, tzinfo=UTC) + timedelta(minutes=i)
    return json.dumps({"kpi": "wau", "value": 100 + i, "observed_at": t.isoformat(),
                       "source": "pipeline", "id": f"m{i}", **over}).encode()


BAD = [b"{not json", b"[]", message(1, kpi="nope"), message(2, value="12"),
       message(3, value=None), b'{"kpi":"wau","value":NaN,"observed_at":"2026-10-01T00:00:00Z",'
       b'"source":"s","id":"x"}', message(4, observed_at="2099-01-01T00:00:00Z"),
       json.dumps({"kpi": "wau", "value": 1}).encode(), message(5, observed_at="2026-10-01T00:00")]


def test_mixed_stream_records_exactly_the_good_ones(env: Env) -> None:
    env.ok("kpi", "add", "wau", "Weekly active users", "--green", "140", "--red", "110")
    good = [message(i) for i in range(10, 40)]
    stream = good + BAD + good[:10]  # the last ten are duplicates by id
    random.Random(1).shuffle(stream)
    produce(env, env.settings.topic_kpi_readings, [(b"wau", v) for v in stream])
    out = json.loads(env.ok("ingest", "--once", "--json"))
    assert (out["recorded"], out["duplicates"], out["dead_letters"]) == (30, 10, len(BAD))
    got = readings(env, "wau")
    assert sorted(r["value"] for r in got) == [100.0 + i for i in range(10, 40)]
    # recorded under the feed's principal, not the account that ran the ingest
    app = OkrLedger(env.settings)
    try:
        actors = {e.actor for e in chained(app) if e.type == "KpiReadingRecorded"}
    finally:
        app.close()
    assert actors == {f"ingest:{env.settings.topic_kpi_readings}"}
    s = env.settings
    letters = list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "",
                                           s.topic_dead_letter, idle=2.0))
    assert sorted(m.value for m in letters) == sorted(BAD)
    assert all(dict(m.headers)["reason"] for m in letters)
    assert {dict(m.headers)["consumer"] for m in letters} == {b"ingest"}
    # Readings show with both times, and a second run records nothing new.
    assert json.loads(env.ok("ingest", "--once", "--json"))["read"] == 0
    shown = json.loads(env.ok("show", "wau", "--json"))
    assert len(shown["readings"]) == 30
    assert {"value", "observed_at", "recorded_at", "source"} <= set(shown["readings"][0])


def test_killed_ingest_loses_and_duplicates_nothing(env: Env) -> None:
    """SIGKILLed right after it recorded a reading (a progress probe on the event store), so
    every kill lands mid-stream; then a last run catches up."""
    env.ok("kpi", "add", "wau", "Weekly active users", "--green", "140", "--red", "110")
    n = 1500
    produce(env, env.settings.topic_kpi_readings,
            [(b"wau", message(i)) for i in range(n)])
    probe = readings_progress(env.settings, ["wau"])  # events of the KPI: 1 + readings
    rnd, recorded_at_kill = random.Random(2), []
    for _ in range(4):
        before = probe()
        proc = env.spawn("ingest", "--json")
        moved = wait_for_change(probe, timeout=60, before=before)
        time.sleep(rnd.uniform(0, 0.05))
        alive = proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert moved and alive, "the ingest recorded nothing, or finished, before the kill"
        (count,) = probe()  # type: ignore[misc]  # the probe's row: (count(*),)
        recorded_at_kill.append(count - 1)
    # The kills landed mid-stream: each after progress, none after the end.
    assert all(0 < r < n for r in recorded_at_kill), recorded_at_kill
    assert recorded_at_kill == sorted(recorded_at_kill), recorded_at_kill
    env.ok("ingest", "--once")
    values = sorted(r["value"] for r in readings(env, "wau"))
    assert values == [100.0 + i for i in range(n)]


def test_a_conflicting_duplicate_reading_goes_to_the_dead_letter_topic(env: Env) -> None:
    env.ok("kpi", "add", "wau", "Weekly active users", "--green", "140", "--red", "110")
    first, same, other = message(7), message(7), message(7, value=999)
    moved, elsewhere = message(7, observed_at="2025-09-01T00:00:00Z"), message(7, source="x")
    produce(env, env.settings.topic_kpi_readings,
            [(b"wau", v) for v in (first, same, other, moved, elsewhere)])
    out = json.loads(env.ok("ingest", "--once", "--json"))
    assert (out["recorded"], out["duplicates"], out["dead_letters"]) == (1, 1, 3)
    assert [r["value"] for r in readings(env, "wau")] == [107.0]
    s = env.settings
    letters = list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "",
                                           s.topic_dead_letter, idle=2.0))
    assert sorted(m.value for m in letters) == sorted([other, moved, elsewhere])
    for m in letters:
        reason = dict(m.headers)["reason"].decode()
        assert reason.startswith("conflicting duplicate: reading id 'm7'"), reason
