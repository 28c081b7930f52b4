"""Secrets and keys: the checkpoint signing key is created 0600 in a directory nobody else can
write to and is never printed; KAFKA_SASL_PASSWORD and POSTGRES_PASSWORD never appear in
--json output, service logs, error messages or files, on the happy path or the error paths
(an unreachable Kafka, an unreachable PostgreSQL, invalid settings)."""

import base64
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from okr.record import signing
from okr.settings import SettingsError, load_settings
from tests.fuzzing import build_readme_scenario, okr

OKR = str(Path(sys.executable).parent / "okr")
SASL = "S3cr3t-SASL-5f0e9d"
PG = "S3cr3t-PG-7a1b2c"
SECRETS = {"KAFKA_SASL_PASSWORD": SASL, "POSTGRES_PASSWORD": PG,
           "KAFKA_SASL_USERNAME": "okr-user", "KAFKA_SASL_MECHANISM": "PLAIN",
           "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}


def assert_no_secret(text: str, where: str) -> None:
    for secret in (SASL, PG):
        assert secret not in text, f"{secret} leaked in {where}:\n{text[:3000]}"


@pytest.fixture
def umask() -> Iterator[None]:
    """A hostile umask (nothing masked), restored afterwards."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# ---- the signing key ----------------------------------------------------------------------

def private_material(home: Path) -> list[str]:
    """Every spelling of the private key worth grepping for: PEM body lines, raw hex, base64."""
    key = signing.private_key(home / signing.KEY_FILE)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    pem = (home / signing.KEY_FILE).read_text()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return [*body, raw.hex(), base64.b64encode(raw).decode(), "PRIVATE KEY"]


def key_modes(home: Path) -> tuple[int, int]:
    return (stat.S_IMODE((home / signing.KEY_FILE).stat().st_mode),
            stat.S_IMODE(home.stat().st_mode))


def a_ledger_in(home: Path) -> Path:
    """`home` with a ledger in it (`okr keys export` makes a key beside a ledger only)."""
    started = okr(home, "cycle", "add", "2026-Q4")
    assert started.code == 0, str(started)
    return home


def test_keys_export_creates_the_key_0600_and_prints_only_the_public_key(tmp_path: Path) -> None:
    home = a_ledger_in(tmp_path / "home")
    result = okr(home, "keys", "export")
    assert result.code == 0 and "BEGIN PUBLIC KEY" in result.stdout, str(result)
    as_json = okr(home, "keys", "export", "--json")
    assert as_json.code == 0 and "public_key_pem" in as_json.stdout
    file_mode, dir_mode = key_modes(home)
    assert file_mode == 0o600, oct(file_mode)
    assert dir_mode & 0o002 == 0, oct(dir_mode)
    for secret in private_material(home):
        for out in (result, as_json):
            assert secret not in out.stdout + out.stderr, secret


def test_the_key_is_0600_and_its_directory_private_even_with_a_permissive_umask(
        tmp_path: Path, umask: None) -> None:
    home = a_ledger_in(tmp_path / "fresh")
    assert okr(home, "keys", "export").code == 0
    file_mode, dir_mode = key_modes(home)
    assert file_mode == 0o600, oct(file_mode)
    assert dir_mode & 0o022 == 0, oct(dir_mode)


def test_the_python_api_keeps_the_store_private_even_with_a_permissive_umask(
        tmp_path: Path, umask: None) -> None:
    """The README's Python API, not only the CLI (which sets its own umask), creates the data
    directory 0700 and the event store with its WAL files 0600."""
    from datetime import UTC, datetime

    from okr.ledger.app import OkrLedger
    from okr.settings import load_settings

    home = tmp_path / "api"
    ledger = OkrLedger(load_settings({"home": home}))
    ledger.add_cycle("2026-H2")
    ledger.add_objective("nps-up", "Customers recommend us", cycle="2026-H2", owner="ana",
                         team="support")
    ledger.add_key_result("kr-nps", "NPS from 31 to 45", objective="nps-up", kind="increase",
                          start=31, target=45)
    ledger.check_in("kr-nps", 38, at=datetime(2026, 11, 2, tzinfo=UTC))
    store = [p for p in home.iterdir() if p.name.startswith("events.sqlite")]
    assert {p.name for p in store} >= {"events.sqlite", "events.sqlite-wal"}, store
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in store}
    assert set(modes.values()) == {"0o600"}, modes
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    ledger.close()


def test_a_leftover_world_readable_temp_file_does_not_make_the_key_readable(
        tmp_path: Path) -> None:
    """A crash (or another user) may have left signing-key.tmp behind, mode 0644."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    stale = (home / signing.KEY_FILE).with_suffix(".tmp")
    stale.write_text("left over")
    stale.chmod(0o644)
    signing.public_key_pem(home / signing.KEY_FILE)
    assert key_modes(home)[0] == 0o600


def test_a_second_first_signer_never_replaces_the_key_the_first_one_signs_with(
        tmp_path: Path) -> None:
    """A CLI write's inline publish and `okr relay` may both find no key and both create one:
    the one that lands second must not replace the key the first already signs with (its
    checkpoints would then verify against no key on disk)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    first = signing.public_key_pem(home / signing.KEY_FILE)  # the first signer created it
    signing._create(home / signing.KEY_FILE)       # the second found no key a moment ago
    assert signing.public_key_pem(home / signing.KEY_FILE) == first
    assert key_modes(home)[0] == 0o600
    assert sorted(p.name for p in home.iterdir()) == [signing.KEY_FILE]  # no temporary left


def test_a_key_is_not_created_in_a_world_writable_directory(tmp_path: Path) -> None:
    """Anyone could replace the key there (or plant their own before us)."""
    home = a_ledger_in(tmp_path / "shared")
    home.chmod(0o777)
    result = okr(home, "keys", "export")
    assert result.code == 2 and result.stderr.startswith("okr: error: "), str(result)
    assert len(result.stderr.splitlines()) == 1 and "writable" in result.stderr
    assert not (home / signing.KEY_FILE).exists()


def test_the_key_lives_where_okr_signing_key_says_outside_the_data_directory(
        tmp_path: Path) -> None:
    """Whoever can write the data directory (store, DuckDB) must not hold the key too."""
    home, keys = a_ledger_in(tmp_path / "home"), tmp_path / "keys"
    keys.mkdir(mode=0o700)
    result = okr(home, "keys", "export", env={"OKR_SIGNING_KEY": str(keys / "relay.pem")})
    assert result.code == 0, str(result)
    assert not (home / signing.KEY_FILE).exists()
    assert signing.public_key_pem(keys / "relay.pem").strip() == result.stdout.strip()
    assert stat.S_IMODE((keys / "relay.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize("file_mode, dir_mode", [(0o644, 0o700), (0o640, 0o700),
                                                 (0o600, 0o770), (0o600, 0o757)])
def test_a_key_others_can_read_or_swap_is_refused(tmp_path: Path, file_mode: int,
                                                 dir_mode: int) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    signing.public_key_pem(keys / "relay.pem")
    (keys / "relay.pem").chmod(file_mode)
    keys.chmod(dir_mode)
    result = okr(tmp_path / "home", "keys", "export",
                 env={"OKR_SIGNING_KEY": str(keys / "relay.pem")})
    assert result.code == 2 and result.stderr.startswith("okr: error: "), str(result)
    assert len(result.stderr.splitlines()) == 1 and "BEGIN" not in result.stdout


def test_verify_never_creates_a_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = okr(home, "audit", "verify", "--no-store")
    assert result.code == 2 and "--public-key" in result.stderr, str(result)
    assert not (home / signing.KEY_FILE).exists()


# ---- settings -----------------------------------------------------------------------------

def test_settings_mask_secrets_in_every_printable_form() -> None:
    s = load_settings(environ={**SECRETS, "OKR_HOME": "/nonexistent"})
    assert s.kafka_sasl_password is not None and s.postgres_password is not None
    assert s.kafka_sasl_password.get_secret_value() == SASL
    for text in (str(s.public()), repr(s), str(s), s.model_dump_json(), str(s.model_dump())):
        assert_no_secret(text, "settings")


@pytest.mark.parametrize("bad", [
    {"POSTGRES_PORT": "not-a-port"}, {"POSTGRES_PORT": "99999999999999999999999"},
    {"OKR_PARTITIONS": "many"}, {"OKR_STORE": "mysql"}, {"OKR_TZ": "Mars/Olympus"},
    {"OKR_INLINE_PUBLISH": "perhaps"}, {"OKR_CHECKPOINT_EVERY": "0"},
])
def test_a_settings_error_next_to_secrets_names_the_setting_not_the_secret(
        tmp_path: Path, bad: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(environ={**SECRETS, "OKR_HOME": str(tmp_path), **bad})
    assert_no_secret(str(exc.value), "SettingsError")
    result = okr(tmp_path / "home", "--json", "cycle", "add", "2026-Q4",
                 env={**SECRETS, **bad})
    assert result.code == 2 and len(result.stderr.splitlines()) == 1, str(result)
    assert_no_secret(result.stdout + result.stderr, "okr output")


def test_a_bad_okr_toml_next_to_a_password_names_the_setting_not_the_secret(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for toml in (f'postgres_password = "{PG}"\npartitions = "many"\n',
                 f'postgres_password = "{PG}\n',  # not valid TOML: the quote is not closed
                 f'kafka_sasl_password = "{SASL}"\npostgres_password = {{ v = "{PG}" }}\n'):
        (home / "okr.toml").write_text(toml)
        result = okr(home, "--json", "cycle", "add", "2026-Q4")
        assert result.code == 2 and len(result.stderr.splitlines()) == 1, str(result)
        assert_no_secret(result.stdout + result.stderr, f"okr output for {toml!r}")


def test_json_output_of_every_readme_command_carries_no_secret(tmp_path: Path) -> None:
    home = build_readme_scenario(tmp_path / "home")
    for args in (["--json", "checkin", "kr-conv", "2.25", "--at", "2026-11-10"],
                 ["--json", "show", "kr-conv"], ["--json", "show", "rev-2x"],
                 ["--json", "kpi", "list"], ["--json", "kpi", "record", "wau", "13900"],
                 ["keys", "export", "--json"]):
        result = okr(home, *args, env=SECRETS)
        assert result.code == 0, str(result)
        assert_no_secret(result.stdout + result.stderr, " ".join(args))


# ---- error paths of the services: unreachable Kafka and PostgreSQL ---------------------------

def spawn(home: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    """`okr ARGS` on its own copy of `home` (no two runs share a lock or a watermark)."""
    own = home.with_name(f"{home.name}-{len(list(home.parent.iterdir()))}")
    shutil.copytree(home, own)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_",
                                                                        "POSTGRES_"))},
           **SECRETS, "OKR_HOME": str(own), "OKR_TZ": "UTC",
           "OKR_INLINE_PUBLISH": "off", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", **extra}
    return subprocess.Popen([OKR, *args], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def test_no_secret_in_logs_or_errors_when_kafka_or_postgres_are_unreachable(
        tmp_path: Path) -> None:
    """Run side by side (each waits ~30 s for Kafka to time out): the error paths of the
    relay, the consumer, the ingest, a write's inline publish, a read's refresh, `okr up`
    and the PostgreSQL event store."""
    home = build_readme_scenario(tmp_path / "home")
    runs = {
        "relay --once --json": spawn(home, "relay", "--once", "--json"),
        "relay --once --checkpoint": spawn(home, "relay", "--once", "--checkpoint"),
        "consume --once --json": spawn(home, "consume", "--once", "--json"),
        "ingest --once --json": spawn(home, "ingest", "--once", "--json"),
        "checkin (inline publish)": spawn(home, "--json", "checkin", "kr-conv", "2.26",
                                          "--at", "2026-11-10", OKR_INLINE_PUBLISH="on"),
        "scorecard (refresh)": spawn(home, "scorecard", "--json"),
        "up --json": spawn(home, "up", "--json"),
        "postgres store": spawn(home, "--json", "cycle", "add", "2026-Q4",
                                OKR_STORE="postgres", POSTGRES_PORT="1"),
    }
    # `okr up` is stopped once it has logged the trouble (its services retry for ever); read
    # its log as it comes, however slowly eight processes start on a busy machine.
    up, up_lines = runs.pop("up --json"), []
    assert up.stdout is not None
    reader = threading.Thread(target=lambda: up_lines.extend(up.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 90
    while not any("trouble" in line for line in up_lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(up.pid, signal.SIGTERM)
    outputs: dict[str, tuple[int, str, str]] = {}
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        outputs[name] = (proc.returncode, out, err)
    up.wait(timeout=max(1.0, deadline - time.monotonic()))
    reader.join(timeout=10)
    outputs["up --json"] = (up.returncode, "".join(up_lines), (up.stderr or io.StringIO()).read())
    for name, (_, out, err) in outputs.items():
        assert_no_secret(out + err, name)
        assert "Traceback" not in err, f"{name}: {err}"
    # The error paths were really taken:
    assert outputs["relay --once --json"][0] == 4  # a service unavailable (okr/errors.py)
    assert "publishing failed" in outputs["relay --once --json"][2]
    assert "Kafka unreachable" in outputs["checkin (inline publish)"][1]
    assert "Kafka trouble" in outputs["up --json"][1], outputs["up --json"]
    for name in ("consume --once --json", "ingest --once --json"):
        code, _, err = outputs[name]
        assert code == 4 and err.startswith("okr: error: Kafka unreachable"), (name, err)
    assert outputs["postgres store"][0] == 4
    assert "event store unavailable" in outputs["postgres store"][2]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert_no_secret(path.read_bytes().decode("utf-8", "replace"), str(path))
