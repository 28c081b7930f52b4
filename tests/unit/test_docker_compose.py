"""docker/compose.yaml is read, not run, here (no Docker engine): it must parse, name every
service the README table lists, and give each okr service the Kafka user kafka-init.sh grants."""

from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_parses_and_has_every_service_once() -> None:
    text = (DOCKER / "compose.yaml").read_text()
    assert text.count("\n  kafka:\n") == 1  # a service block written twice once made 8 MB
    services = _compose()["services"]
    assert set(services) == {"kafka", "kafka-init", "postgres", "relay", "consume", "ingest",
                             "cli"}
    readme = (DOCKER / "README.md").read_text()
    for name in services:
        assert f"| `{name}` |" in readme


def test_each_okr_service_authenticates_as_the_user_its_acls_name() -> None:
    services = _compose()["services"]
    users = {"relay": "okr-relay", "consume": "okr-reader", "ingest": "okr-ingest",
             "cli": "okr-reader"}
    init = (DOCKER / "kafka-init.sh").read_text()
    for name, user in users.items():
        env = services[name]["environment"]
        assert env["KAFKA_SASL_USERNAME"] == user
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["OKR_STORE"] == "postgres"
        assert f"User:{user}" in init or user.removeprefix("okr-") in init
    # only the relay holds the signing key's volume for writing the log
    assert "okr-keys:/data" in services["relay"]["volumes"]
