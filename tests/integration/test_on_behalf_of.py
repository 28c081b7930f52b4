"""--on-behalf-of against a real broker: recorded in the store, chained and published by the
relay, projected from Kafka, and shown beside the actor by trail, history and review; the
log still verifies, against the store and from the projection."""

import json
import os
import pwd

import pytest

from okr.adapters import kafka_client
from okr.record.envelope import Envelope
from tests.fuzzing import live_window
from tests.integration.conftest import Env

pytestmark = pytest.mark.integration

ME = pwd.getpwuid(os.geteuid()).pw_name


def test_on_behalf_of_travels_store_relay_kafka_projection_to_every_view(env: Env) -> None:
    start, end = live_window()  # the check-in below is "now": a cycle around the real clock
    env.ok("cycle", "add", "live", "--start", start.date().isoformat(), "--end",
           end.date().isoformat())
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "live")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("cycle", "commit", "live")
    env.ok("kr", "revise", "k1", "--target", "25", "--reason", "hiring freeze",
           "--on-behalf-of", "the CFO")
    env.ok("checkin", "k1", "5", "--on-behalf-of", "Dana")
    env.ok("relay", "--once")

    s = env.settings
    records = [m.value or b"" for m in kafka_client.read_topic(
        s, s.kafka_bootstrap_servers or "", s.topic_ledger, idle=2.0)]
    named = {Envelope.from_bytes(r).type: r for r in records if b"on_behalf_of" in r}
    assert sorted(named) == ["CheckInRecorded", "KeyResultRevised"]
    revised = Envelope.from_bytes(named["KeyResultRevised"])
    assert (revised.actor, revised.on_behalf_of) == (ME, "the CFO")
    assert revised.hash_ok(named["KeyResultRevised"])

    env.ok("consume", "--once")
    trail = json.loads(env.ok("audit", "trail", "k1", "--json"))
    assert [(r["event"], r["actor"], r["on_behalf_of"]) for r in trail] == [
        ("KeyResultAdded", ME, None), ("KeyResultRevised", ME, "the CFO"),
        ("CheckInRecorded", ME, "Dana")]
    assert f",{ME},the CFO,KeyResultRevised," in env.ok("audit", "trail", "k1",
                                                          "--format", "csv")
    history = json.loads(env.ok("history", "k1", "--json"))
    assert history["revisions"][-1]["on_behalf_of"] == "the CFO"
    assert history["check_ins"][-1]["on_behalf_of"] == "Dana"
    review = json.loads(env.ok("review", "live", "--json"))
    assert [(r["actor"], r["on_behalf_of"]) for r in review["revisions"]] == [(ME, "the CFO")]
    assert f"{ME} (on behalf of the CFO)" in env.ok("review", "live", "--format", "md",
                                                         "--out", "-")

    out = json.loads(env.ok("audit", "verify", "--json", "--projection"))
    assert out["ok"], out
