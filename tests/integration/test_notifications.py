"""While `okr up` runs, the reminders `okr due` lists are published on okr.notifications:
read back from the suite's broker, each message matches the committed JSON Schema, and a
reminder goes out once per item per overdue period — not again on every round."""

import json
import os
import signal
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from okr.adapters import kafka_client
from okr.domain.base import utc_now
from okr.ledger.app import OkrLedger
from tests.fuzzing import LIVE_CYCLE, live_window
from tests.integration.conftest import OKR, Env

pytestmark = pytest.mark.integration

SCHEMA = Path(__file__).resolve().parents[2] / "consumers" / "notification.schema.json"


def read(env: Env, topic: str) -> list[dict[str, object]]:
    settings = env.settings
    return [json.loads(m.value or b"") for m in
            kafka_client.read_topic(settings, settings.kafka_bootstrap_servers or "", topic,
                                    idle=1.0)]


@pytest.mark.real_clock  # okr up's notifier paces its rounds with threading.Event.wait
def test_up_publishes_each_reminder_once_as_the_schema_says(env: Env) -> None:
    topic = f"{env.environ['OKR_TOPIC_LEDGER']}.notifications"
    env.environ.update({"OKR_TOPIC_NOTIFICATIONS": topic, "OKR_NOTIFY_SECONDS": "1",
                        "OKR_INLINE_PUBLISH": "off"})
    app = OkrLedger(env.settings)  # the plan through the API: `okr up` is what is tested
    now = utc_now()
    cycle = app.add_cycle(LIVE_CYCLE, *live_window(now))
    app.add_objective("o1", "Grow", cycle=cycle.key, owner="ana", team="web")
    app.add_key_result("k1", "Signups", objective="o1", start=0, target=10)
    app.add_key_result("k2", "Trials", objective="o1", start=0, target=10)
    app.check_in("k1", 3, at=now - timedelta(days=10))  # weekly cadence: 3 days overdue
    app.check_in("k2", 4)  # fresh: not due
    app.close()
    up = subprocess.Popen([OKR, "up", "--json"], text=True, env=env.environ,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(up.stdout or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        got: list[dict[str, object]] = []
        while not got and time.monotonic() < deadline:
            time.sleep(0.5)
            got = read(env, topic)
        assert got, f"no reminder on {topic}: {lines}"
        time.sleep(2.5)  # two more rounds (OKR_NOTIFY_SECONDS=1): nothing new to say
        got = read(env, topic)
        assert up.poll() is None, lines
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=60)
        reader.join(timeout=10)
    assert up.returncode == 0, (lines, up.stderr.read() if up.stderr else "")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()),
                                                format_checker=jsonschema.FormatChecker())
    for m in got:
        validator.validate(m)
    assert [(m["kind"], m["key"], m["owner"], m["team"], m["reasons"]) for m in got] == [
        ("key_result", "k1", "ana", "web", ["no-check-in"])]
    assert got[0]["due_at"] == (now - timedelta(days=3)).isoformat(timespec="seconds") \
        .replace("+00:00", "Z")
    assert any('"service": "notify"' in line and "sent 1 reminders" in line for line in lines)


def test_notify_alone_publishes_from_the_snapshot_a_consumer_keeps(env: Env) -> None:
    """`okr notify` is `okr up`'s notify loop on its own (the docker `notify` service): it
    reads the snapshot `okr consume` published and publishes the reminder, then stops cleanly
    on SIGTERM."""
    topic = f"{env.environ['OKR_TOPIC_LEDGER']}.notifications"
    env.environ.update({"OKR_TOPIC_NOTIFICATIONS": topic, "OKR_NOTIFY_SECONDS": "1",
                        "OKR_INLINE_PUBLISH": "off"})
    app = OkrLedger(env.settings)
    now = utc_now()
    cycle = app.add_cycle(LIVE_CYCLE, *live_window(now))
    app.add_objective("o1", "Grow", cycle=cycle.key, owner="ana", team="web")
    app.add_key_result("k1", "Signups", objective="o1", start=0, target=10)
    app.check_in("k1", 3, at=now - timedelta(days=10))
    app.close()
    env.ok("relay", "--once")
    env.ok("consume", "--once")  # the snapshot a running consumer keeps
    # Two at once (a second terminal, a docker `run`): one sends, the other waits (a review:
    # both sent every reminder and overwrote each other's record of what was sent).
    notifiers = [env.spawn("notify", "--json") for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        got: list[dict[str, object]] = []
        while not got and time.monotonic() < deadline and notifiers[0].poll() is None:
            time.sleep(0.5)
            got = read(env, topic)
        time.sleep(3)  # three more rounds of a notifier that would send again
        got = read(env, topic)
    finally:
        for notify in notifiers:
            os.killpg(notify.pid, signal.SIGTERM)
        outs = [notify.communicate(timeout=60) for notify in notifiers]
    assert [n.returncode for n in notifiers] == [0, 0], outs
    assert [(m["kind"], m["key"]) for m in got] == [("key_result", "k1")], outs
    sent = [out for out, _ in outs if "sent 1 reminders" in out]
    waited = [out for out, _ in outs if "waiting for it" in out]
    assert len(sent) == 1 and len(waited) == 1, outs
    assert '"service": "notify"' in sent[0]
