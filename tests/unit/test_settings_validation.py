"""okr/settings.py checks settings in plain Python (pydantic's import and model build cost every
command a third of its start-up, issue 20); it must accept, convert and refuse exactly what
pydantic's lax mode did, with the same messages. Here both judge every setting on the same
values — text as the environment gives it, and what okr.toml can hold."""

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest

from okr.settings import SecretStr, Settings, SettingsError, load_settings

TEXT = ["6", " 6 ", "+6", "-6", "06", "-0", "6.0", "6.00", "6.", "6.5", "1_000", "1__0", "_1",
        "1_", "0x10", "", " ", "x", "1e3", "1.5", " 1.5e3 ", "1e", ".5", "5.", "inf", "-inf",
        "+inf", "nan", "NaN", "Infinity", "INF", "yes", "YES", "off", "On", "t", "F", "y", "n",
        "1", "0", "2", " true ", "true ", "sqlite", "postgres", "SQLITE", "daily", "weekly",
        "monthly", "quarterly", "hourly", "٣", "a/b", "~/x", "65535", "65536", "1000", "1001",
        "604800", "604801", "3650", "3650.5", "0.5", "99999999999999999999999", "\t7\n",
        "+-6", "6 7", "Europe/Berlin",
        # more digits than pydantic reads (a raw ValueError once), alone and hidden behind
        # what cleaning takes off; white space Rust trims and Python's strip() also takes
        # (\x1c-\x1f); underscores where pydantic's number reading takes them, or not
        "9" * 5000, "-" + "9" * 4301, "9" * 4300, "9" * 4301 + ".0", "9" * 5000 + "x",
        " " + "9" * 4301, "0" * 10 + "9" * 4301, "0" * 5000, "1" + "_1" * 4300,
        "6\x1f", "\x1c6", "\x1d6\x1e", "\u30006\x85", "\xa06\u2028", "1e1_0", "1_0e1", "1._5",
        "+_1", "1_1 ", " 1_000 ", "0-1", "00.0", "0_1", "-0_0", "1_000.0_0", "+nan", "infinity"]
TOML = [0, 1, 2, -1, 6, 1000, 1001, 65536, 10**30, 1.0, 0.0, 0.5, 2.0, 6.5, 1e3,
        float("inf"), float("-inf"), float("nan"), True, False, None, [1], {"a": 1},
        datetime(2026, 1, 1)]
# a rule of their own after the type (tested below)
RULED = {"timezone", "org_timezone", "postgres_schema"}


def pydantic_field(name: str) -> Any:
    """The setting as the pydantic model declared it."""
    f = Settings.model_fields[name]
    kind = f.annotation
    if kind == SecretStr | None:
        kind = pydantic.SecretStr | None
    bounds = {k: v for k, v in (("ge", f.ge), ("gt", f.gt), ("le", f.le)) if v is not None}
    return Annotated[kind, pydantic.Field(**bounds)] if bounds else kind


def pydantic_says(name: str, value: Any) -> tuple[str, Any]:
    try:
        out = pydantic.TypeAdapter(pydantic_field(name)).validate_python(value)
    except pydantic.ValidationError as exc:
        return "refused", exc.errors()[0]["msg"]
    return "taken", out.get_secret_value() if isinstance(out, pydantic.SecretStr) else out


def okr_says(name: str, value: Any) -> tuple[str, Any]:
    try:
        out = getattr(Settings.validate({name: value}), name)
    except ValueError as exc:
        prefix = f"setting {name}: "
        assert str(exc).startswith(prefix)
        return "refused", str(exc)[len(prefix):]
    return "taken", out.get_secret_value() if isinstance(out, SecretStr) else out


@pytest.mark.parametrize("name", [n for n in Settings.model_fields if n not in RULED])
def test_every_setting_takes_and_refuses_what_pydantic_did(name: str) -> None:
    for value in [*TEXT, *TOML]:
        theirs, ours = pydantic_says(name, value), okr_says(name, value)
        if theirs[1] != theirs[1]:  # nan: taken by both, as nan
            assert ours[0] == "taken" and ours[1] != ours[1], (name, value)
            continue
        assert ours == theirs, (name, value)
        assert type(ours[1]) is type(theirs[1]), (name, value)


@pytest.mark.parametrize(("values", "error"), [
    ({"timezone": "Mars/Olympus"},
     "setting timezone: Value error, unknown time zone 'Mars/Olympus' (e.g. Europe/Berlin)"),
    ({"org_timezone": " Nowhere "},
     "setting org_timezone: Value error, unknown time zone 'Nowhere' (e.g. Europe/Berlin)"),
    ({"timezone": 3}, "setting timezone: Input should be a valid string"),
    ({"colour": "red"}, "setting colour: Extra inputs are not permitted"),
    ({"colour": "red", "partitions": "x", "store": "y"},  # fields in order, then extra keys
     "setting store: Input should be 'sqlite' or 'postgres'"),
])
def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path, values: dict[str, Any],
                                             error: str) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings({"home": tmp_path, **values}, environ={})
    assert str(exc.value) == error


def test_an_okr_toml_integer_too_long_to_read_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "okr.toml").write_text("partitions = " + "9" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(SettingsError) as exc:
        load_settings({"home": tmp_path}, environ={})
    assert str(exc.value).startswith(f"{tmp_path / 'okr.toml'}: not valid TOML (Exceeds the "
                                     "limit (4300 digits)")


def test_the_zone_rules_and_what_is_left_unset() -> None:
    s = Settings.validate({"timezone": "", "org_timezone": " Asia/Tokyo "})
    assert (s.timezone, s.org_timezone) == (None, "Asia/Tokyo")
    assert Settings.validate({"org_timezone": " "}).org_timezone == "UTC"
    assert Settings.validate({}) == Settings()  # the defaults are the fields' own
    assert Settings().home == Path(".okr") and Settings().partitions == 6


def test_settings_are_frozen_and_copied_with_changes() -> None:
    s = Settings.validate({"partitions": "3"})
    with pytest.raises(AttributeError):
        s.partitions = 4  # type: ignore[misc]
    t = s.model_copy(update={"store": "postgres"})
    assert (s.store, t.store, t.partitions) == ("sqlite", "postgres", 3)
    assert t.model_dump()["store"] == "postgres" and t.public()["home"] == ".okr"


def test_an_empty_postgres_schema_is_public(tmp_path: Path) -> None:
    """POSTGRES_SCHEMA= sets no schema: the event store is in eventsourcing's `public`."""
    s = load_settings({"home": tmp_path}, environ={"OKR_STORE": "postgres", "POSTGRES_SCHEMA": ""})
    assert (s.postgres_schema, s.postgres_schema_used) == (None, "public")
    assert "POSTGRES_SCHEMA" not in s.eventsourcing_env()


SCHEMA_RULE = ("lower-case letters a-z, digits and _, not starting with a digit, at most 63 "
               "characters, no word PostgreSQL reserves (its unquoted identifiers), and not a "
               "system schema (pg_…, information_schema)")


@pytest.mark.parametrize("name", ["TrialPg2Case", "okr;x", 'okr"x', "okr x", "okr-x", "1okr",
                                  "a" * 64, "ökr", "select", "user", "int", "public.x", " okr",
                                  "pg_catalog", "pg_toast", "pg_okr", "information_schema"])
def test_a_postgres_schema_that_would_not_work_is_refused(tmp_path: Path, name: str) -> None:
    """A name the event store cannot use end to end (mixed case, `;`, a keyword: eventsourcing
    looks its type up by the name unquoted) is refused before anything is opened."""
    with pytest.raises(SettingsError) as exc:
        load_settings({"home": tmp_path}, environ={"POSTGRES_SCHEMA": name})
    assert str(exc.value) == (f"setting postgres_schema: Value error, {name!r} cannot name the "
                              f"schema: {SCHEMA_RULE}")


@pytest.mark.parametrize("name", ["okr", "_x", "okr_2026", "a" * 63, "trial_bac1bd08", "admin"])
def test_a_postgres_schema_of_an_unquoted_identifier_is_taken(name: str) -> None:
    assert Settings.validate({"postgres_schema": name}).postgres_schema == name


def test_a_postgres_schema_of_another_type_is_refused_as_pydantic_did() -> None:
    with pytest.raises(ValueError, match="Input should be a valid string"):
        Settings.validate({"postgres_schema": 3})
