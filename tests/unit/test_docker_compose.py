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
    assert set(services) == {"kafka", "kafka-init", "postgres", "keys", "relay", "consume",
                             "ingest", "cli", "web"}
    readme = (DOCKER / "README.md").read_text()
    for name in services:
        assert f"| `{name}` |" in readme


def test_each_okr_service_authenticates_as_the_user_its_acls_name() -> None:
    services = _compose()["services"]
    users = {"relay": "okr-relay", "consume": "okr-reader", "ingest": "okr-ingest",
             "cli": "okr-reader", "web": "okr-reader"}
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
