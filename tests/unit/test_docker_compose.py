"""docker/compose.yaml is read, not run, here (no Docker engine): it must parse, name every
service the README table lists, and give each okr service the Kafka user kafka-init.sh grants.
kafka-init.sh is run, with stand-ins for the Kafka tools that only note what they were asked."""

import dataclasses
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from okr.settings import Settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_parses_and_has_every_service_once() -> None:
    text = (DOCKER / "compose.yaml").read_text()
    assert text.count("\n  kafka:\n") == 1  # a service block written twice once made 8 MB
    services = _compose()["services"]
    assert set(services) == {"kafka", "kafka-init", "postgres", "keys", "relay", "consume",
                             "ingest", "notify", "cli", "web"}
    readme = (DOCKER / "README.md").read_text()
    for name in services:
        assert f"| `{name}` |" in readme


def test_each_okr_service_authenticates_as_the_user_its_acls_name() -> None:
    services = _compose()["services"]
    users = {"relay": "okr-relay", "consume": "okr-reader", "ingest": "okr-ingest",
             "notify": "okr-notify", "cli": "okr-reader", "web": "okr-reader"}
    init = (DOCKER / "kafka-init.sh").read_text()
    for name, user in users.items():
        env = services[name]["environment"]
        assert env["KAFKA_SASL_USERNAME"] == user
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["OKR_STORE"] == "postgres"
        assert f"User:{user}" in init or user.removeprefix("okr-") in init
    # only the relay holds the signing key's volume for writing the log
    assert "okr-keys:/data" in services["relay"]["volumes"]


def test_the_sasl_listener_has_the_jaas_login_the_image_requires() -> None:
    """apache/kafka's start script exits when a SASL listener is advertised without
    KAFKA_OPTS, and the broker cannot start SCRAM without a KafkaServer login context."""
    kafka = _compose()["services"]["kafka"]
    opts = kafka["environment"]["KAFKA_OPTS"]
    assert opts.startswith("-Djava.security.auth.login.config=")
    inside = opts.split("=", 1)[1]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in kafka["volumes"] if m.startswith("./")}
    jaas = (DOCKER / mounts[inside]).read_text()
    assert "KafkaServer {" in jaas
    assert "org.apache.kafka.common.security.scram.ScramLoginModule required;" in jaas
    assert "SASL_PLAINTEXT://" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_readers_verify_checkpoints_with_the_public_key_and_never_hold_the_private_one() -> None:
    """The projection applies only records a verified checkpoint covers: without the relay's
    public key the consume service would apply nothing. Only the relay (and the one-shot
    service that exports the public half) may mount the signing key's volume."""
    services = _compose()["services"]
    holders = {name for name, svc in services.items()
               if any(str(v).startswith("okr-keys:") for v in svc.get("volumes", []))}
    assert holders == {"relay", "keys"}
    written = [v for v in services["keys"]["volumes"] if v.startswith("okr-public:")]
    assert written == ["okr-public:/public"]
    assert "/public/relay.pem" in " ".join(services["keys"]["entrypoint"])
    for name in ("consume", "cli"):
        svc = services[name]
        assert svc["environment"]["OKR_PUBLIC_KEY"] == "/public/relay.pem"
        assert "okr-public:/public:ro" in svc["volumes"]
        assert svc["depends_on"]["keys"]["condition"] == "service_completed_successfully"


def test_no_service_claims_an_actor() -> None:
    """The recorded actor is the authenticated principal (the PostgreSQL role here), never a
    setting a service could name."""
    assert "OKR_ACTOR" not in (DOCKER / "compose.yaml").read_text()


def test_every_service_has_a_healthcheck() -> None:
    services = _compose()["services"]
    missing = [name for name, svc in services.items()
               if not svc.get("healthcheck", {}).get("test")]
    assert missing == []


def test_the_cli_reads_the_consumers_projection_instead_of_building_its_own() -> None:
    """Sharing the consumer's data directory shares its projection.lock: a read sees that
    `consume` owns the projection and opens its files (cli/reads.py) instead of catching up."""
    services = _compose()["services"]
    data = {name: [v for v in services[name]["volumes"] if v.endswith(":/data")]
            for name in ("consume", "cli")}
    assert data["cli"] == data["consume"] == ["okr-projection:/data"]
    assert "okr-cli" not in _compose()["volumes"]


def _serve_exists() -> bool:
    import typer

    from okr.cli.main import app
    group = typer.main.get_command(app)
    return "serve" in getattr(group, "commands", {})


def test_published_ports_bind_the_hosts_loopback_and_kafka_is_reachable_from_the_host() -> None:
    services = _compose()["services"]
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert all(p.startswith("127.0.0.1:") for ports in published.values() for p in ports)
    assert published["kafka"] == ["127.0.0.1:29092:29092"]
    env = services["kafka"]["environment"]
    assert "HOST://:29092" in env["KAFKA_LISTENERS"]
    assert "HOST://localhost:29092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "HOST:SASL_PLAINTEXT" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    readme = (DOCKER / "README.md").read_text()
    assert "## From the host" in readme and "KAFKA_BOOTSTRAP_SERVERS=localhost:29092" in readme
    # The web app's port only once there is a web app (`okr serve`) to publish.
    web = [name for name, ports in published.items() if any(":8000" in p for p in ports)]
    assert web == (["web"] if _serve_exists() else []), (
        "`okr serve` exists: give compose a `web` service running it, published on "
        "127.0.0.1:8000, with a healthcheck, and say so in docker/README.md" if _serve_exists()
        else "nothing serves port 8000 until `okr serve` exists")


def test_the_build_context_leaves_out_environments_data_and_history() -> None:
    """compose builds from the repository root: .dockerignore must sit there, keep out what
    is local (a venv, a data directory with its signing key, demo output, .git, benchmark
    results) and keep in what the Dockerfile copies."""
    okr = _compose()["x-okr"]["build"]
    root = (DOCKER / okr["context"]).resolve()
    ignore = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert {".venv", ".okr", "demo-out", ".git", "bench/results"} <= set(ignore)
    copied = {source for line in (root / okr["dockerfile"]).read_text().splitlines()
              if line.startswith("COPY ") for source in line.split()[1:-1]}
    assert {"pyproject.toml", "README.md", "okr", "cli"} <= copied
    assert not copied & set(ignore)


def test_the_image_copies_every_package_and_installs_what_its_services_run() -> None:
    """`pip install .` in the image fails on a package folder the Dockerfile did not copy (the
    web app's once did), and `okr serve` needs the web extra."""
    import tomllib

    root = DOCKER.parent
    folders = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
                  ["package-dir"].values())
    dockerfile = (DOCKER / "Dockerfile").read_text()
    copied = {source for line in dockerfile.splitlines()
              if line.startswith("COPY ") for source in line.split()[1:-1]}
    assert folders <= copied, f"the Dockerfile does not copy {sorted(folders - copied)}"
    install = next(line for line in dockerfile.splitlines() if "pip install" in line)
    assert "postgres" in install and "web" in install, install
    assert _compose()["services"]["web"]["command"][0] == "serve"


# ---- every process `okr up` runs has its service; every topic okr uses is created -----------

def _okr_up_services() -> list[str]:
    """What `okr up` runs (cli/kafka_cmds.up_cmd): every loop of cli/services.SERVICES (the
    local broker's watch only when the broker is the embedded one: compose runs Kafka)."""
    from okr.cli.services import SERVICES

    return list(SERVICES)


def test_every_process_okr_up_runs_has_a_service_running_it_as_documented() -> None:
    """Run apart, each of `okr up`'s loops is the documented command of the same name
    (docs/cli.md), following (no --once), restarted and started after what it needs like the
    other okr services."""
    import typer.main

    from okr.cli.main import app

    compose = _compose()
    services, okr = compose["services"], compose["x-okr"]
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    documented = (DOCKER.parent / "docs" / "cli.md").read_text()
    runs = {svc["command"][0]: name for name, svc in services.items()
            if svc.get("image") == okr["image"] and name != "cli" and "command" in svc}
    for loop in [*_okr_up_services(), "serve"]:  # `okr up --web` serves beside them
        assert loop in runs, f"`okr up` runs {loop!r}, but no compose service runs `okr {loop}`"
        svc = services[runs[loop]]
        command = svc["command"]
        assert f"## `okr {loop}`" in documented, f"`okr {loop}` is not in docs/cli.md"
        commands[loop].make_context(loop, list(command[1:]))  # its options, as documented
        assert "--once" not in command
        assert svc["restart"] == "unless-stopped"
        assert svc["depends_on"] == okr["depends_on"]
        assert svc["environment"]["OKR_STORE"] == "postgres"
        readme = (DOCKER / "README.md").read_text()
        assert f"| `{runs[loop]}` |" in readme and f"`okr {loop}" in readme


def _topic_settings() -> dict[str, str]:
    """Every Kafka topic okr uses: the topic_* settings, by their defaults."""
    return {f.name: f.default for f in dataclasses.fields(Settings)
            if f.name.startswith("topic_")}


@pytest.fixture
def kafka_init(tmp_path: Path) -> Callable[..., list[list[str]]]:
    """Run kafka-init.sh with stand-ins for /opt/kafka/bin's tools that write down their
    arguments; returns the calls, one list of arguments each (tool name first)."""
    script = (DOCKER / "kafka-init.sh").read_text()
    assert script.count("BIN=/opt/kafka/bin\n") == 1
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    calls = tmp_path / "calls"
    for tool in ("kafka-configs.sh", "kafka-topics.sh", "kafka-acls.sh"):
        (bin_ / tool).write_text(f'#!/bin/sh\nprintf "%s\\0" {tool} "$@" >> {calls}\n'
                                 f'printf "\\n" >> {calls}\n')
        (bin_ / tool).chmod(0o755)
    copy = tmp_path / "kafka-init.sh"
    copy.write_text(script.replace("BIN=/opt/kafka/bin\n", f"BIN={bin_}\n"))
    passwords = {k: "secret" for k in _compose()["services"]["kafka-init"]["environment"]
                 if k.endswith("_PASSWORD")}

    def run(**environ: str) -> list[list[str]]:
        calls.write_text("")
        subprocess.run(["bash", str(copy)], check=True, capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"], **passwords, **environ})
        return [line.rstrip("\0").split("\0") for line in calls.read_text().splitlines()]
    return run


def _created(calls: list[list[str]]) -> dict[str, int]:
    """Topic → partitions, of the `kafka-topics.sh --create` calls."""
    out = {}
    for call in calls:
        if call[0] == "kafka-topics.sh" and "--create" in call:
            out[call[call.index("--topic") + 1]] = int(call[call.index("--partitions") + 1])
    return out


def test_kafka_init_creates_every_topic_okr_uses_with_the_partitions_okr_gives_them(
        kafka_init: Callable[..., list[list[str]]]) -> None:
    """Kafka does not create topics here (KAFKA_AUTO_CREATE_TOPICS_ENABLE false), so a topic
    kafka-init.sh leaves out is one okr's clients cannot use. okr creates each of its topics
    with `partitions` (adapters/kafka_client.py); kafka-init must give them that count, the
    one compose gives the okr services."""
    compose = _compose()
    kafka_client = (DOCKER.parent / "adapters" / "kafka_client.py").read_text()
    counts = re.findall(r"NewTopic\(\w+, ([\w.]+),", kafka_client)
    assert counts and set(counts) == {"settings.partitions"}  # one count for every topic
    default = next(f.default for f in dataclasses.fields(Settings) if f.name == "partitions")
    partitions = compose["services"]["kafka-init"]["environment"]["OKR_PARTITIONS"]
    assert partitions == compose["x-okr-env"]["OKR_PARTITIONS"] == f"${{OKR_PARTITIONS:-{default}}}"
    topics = _topic_settings()
    assert _created(kafka_init()) == {t: default for t in topics.values()}
    assert _created(kafka_init(OKR_PARTITIONS="3")) == {t: 3 for t in topics.values()}


def test_the_notify_service_may_publish_reminders_and_readers_may_read_them(
        kafka_init: Callable[..., list[list[str]]]) -> None:
    """The reminders' topic is written by the notify service's own user (it may do nothing
    else) and read by okr-reader (a chat or mail bridge on the host, docker/README.md)."""
    topic = _topic_settings()["topic_notifications"]
    grants: dict[str, set[tuple[str, str]]] = {}
    for call in kafka_init():
        if call[0] != "kafka-acls.sh":
            continue
        ops = [call[i + 1] for i, a in enumerate(call) if a == "--operation"]
        where = call[call.index("--topic") + 1]
        for i, a in enumerate(call):
            if a == "--allow-principal":
                grants.setdefault(call[i + 1], set()).update((op, where) for op in ops)
    user = _compose()["services"]["notify"]["environment"]["KAFKA_SASL_USERNAME"]
    assert grants[f"User:{user}"] == {("Write", topic), ("Describe", topic)}
    assert {("Read", topic), ("Describe", topic)} <= grants["User:okr-reader"]
    assert not any(op == "Write" and where == topic for principal, ops in grants.items()
                   if principal != f"User:{user}" for op, where in ops)


def _compose_tool() -> list[str] | None:
    """`docker compose` (v2) where installed, else Debian's `docker-compose` 1.29 (.ci/run
    installs it), which checks the same schema, interpolation and references but predates the
    top-level `name:`."""
    for tool in (["docker", "compose"], ["docker-compose"]):
        try:
            if subprocess.run([*tool, "version"], capture_output=True, timeout=60).returncode == 0:
                return tool
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def test_compose_config_accepts_the_file_with_the_passwords_docker_readme_says_to_set(
        tmp_path: Path) -> None:
    """What `docker compose config` says of the file, run where a compose tool is installed:
    every `${VAR:?…}` the README tells the user to set, set; nothing else."""
    tool = _compose_tool()
    if tool is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    text = (DOCKER / "compose.yaml").read_text()
    required = sorted(set(re.findall(r"\$\{([A-Z_]+):\?", text)))
    # docker/README.md's one line that writes docker/.env sets each of them
    users = re.search(r'for u in ([A-Z ]+); do echo "OKR_\$\{u\}_PASSWORD=',
                      (DOCKER / "README.md").read_text())
    assert users is not None
    assert required == sorted(f"OKR_{u}_PASSWORD" for u in users.group(1).split()), required
    compose = DOCKER / "compose.yaml"
    if tool == ["docker-compose"]:  # 1.29 refuses `name:`, which Compose v2 reads
        compose = tmp_path / "compose.yaml"
        compose.write_text(re.sub(r"(?m)^name: .*\n", "", text))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "POSTGRES_"))}
    proc = subprocess.run([*tool, "--project-directory", str(DOCKER), "-f", str(compose),
                           "config", "-q"], capture_output=True, text=True, timeout=120,
                          env={**env, **{name: "secret" for name in required}})
    assert proc.returncode == 0, proc.stderr
    missing = subprocess.run([*tool, "--project-directory", str(DOCKER), "-f", str(compose),
                              "config", "-q"], capture_output=True, text=True, timeout=120,
                             env=env)
    assert missing.returncode != 0 and required[0] in missing.stderr + missing.stdout, missing
