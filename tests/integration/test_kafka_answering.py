"""The CLI's quick look before a read refreshes or a write publishes (kafka_client.answering):
a Kafka that refuses is said at once, and any form of KAFKA_BOOTSTRAP_SERVERS kafka-python
takes is taken — a `PLAINTEXT://` or `SASL_SSL://` prefix included (the look read
`PLAINTEXT://host` as the host's name: every write said "Kafka unreachable", every read went
stale, with a broker up)."""

import json
from pathlib import Path

import pytest

from okr.adapters.kafka_client import KafkaError, answering
from tests.integration.conftest import Broker, Env, okr_environ

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("prefix", ["", "PLAINTEXT://", "SASL_SSL://", "plaintext://"])
def test_a_listening_broker_answers_in_any_form_kafka_python_takes(
        broker: Broker, prefix: str) -> None:
    answering(f"{prefix}{broker.bootstrap}")
    answering(f" 127.0.0.1:1 , {prefix}{broker.bootstrap}")  # one answering is enough


def test_every_refusing_server_is_named() -> None:
    with pytest.raises(KafkaError) as refused:
        answering("PLAINTEXT://127.0.0.1:1,127.0.0.1:2")
    assert str(refused.value).endswith(
        "no Kafka broker answers at PLAINTEXT://127.0.0.1:1: connection refused; "
        "127.0.0.1:2: connection refused"), str(refused.value)
    with pytest.raises(KafkaError, match=r"no-such-host\.invalid:9092: unknown host"):
        answering("no-such-host.invalid:9092")


def test_a_write_and_a_read_through_a_prefixed_bootstrap_publish_and_refresh(
        broker: Broker, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = Env(home, {**okr_environ(home, broker.bootstrap),
                     "KAFKA_BOOTSTRAP_SERVERS": f"PLAINTEXT://{broker.bootstrap}"})
    added = env.run("cycle", "add", "2026-Q4")
    assert added.returncode == 0 and "published 1 event" in added.stdout, added
    card = env.run("scorecard", "--json")
    assert card.returncode == 0 and "warning" not in card.stderr, card
    assert json.loads(card.stdout)["objectives"] == []
