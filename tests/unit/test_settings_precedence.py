"""Settings come from defaults ← okr.toml (in the data directory, or the file $OKR_CONFIG
names instead) ← environment ← command-line flags, as README's Settings section says; checked
through `okr` itself by what it records (the actor) and how it reads a typed date (the zone)."""

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.fuzzing import fresh_copy, okr

UNSET = {"OKR_ACTOR": "", "OKR_TZ": ""}  # the in-process okr's defaults, taken away


def last_actor(home: Path) -> str:
    with contextlib.closing(sqlite3.connect(home / "events.sqlite")) as conn:
        state = conn.execute("SELECT state FROM stored_events ORDER BY rowid DESC LIMIT 1"
                             ).fetchone()[0]
    return str(json.loads(state)["actor"])


@pytest.mark.parametrize("layers, actor, zone_said", [
    ({}, None, None),  # nothing set: the OS user, the machine's zone (not checked)
    ({"toml": True}, "from-toml", "+09:00"),
    ({"toml": True, "config": True}, "from-config", "-03:00"),
    ({"toml": True, "config": True, "env": True}, "from-env", "+05:45"),
    ({"toml": True, "config": True, "env": True, "flag": True}, "from-flag", "+05:45"),
    ({"toml": True, "flag": True}, "from-flag", "+09:00"),
], ids=["defaults", "okr.toml", "OKR_CONFIG over okr.toml", "env over files",
        "flag over env", "flag over okr.toml"])
def test_each_layer_overrides_the_one_below(readme_home: Path, workdir: Path,
                                            layers: dict[str, bool], actor: str | None,
                                            zone_said: str | None) -> None:
    home = fresh_copy(readme_home, workdir)
    env = dict(UNSET)
    if layers.get("toml"):
        (home / "okr.toml").write_text('actor = "from-toml"\ntimezone = "Asia/Tokyo"\n')
    if layers.get("config"):
        other = workdir / "elsewhere.toml"
        other.write_text('actor = "from-config"\ntimezone = "America/Sao_Paulo"\n')
        env["OKR_CONFIG"] = str(other)
    if layers.get("env"):
        env |= {"OKR_ACTOR": "from-env", "OKR_TZ": "Asia/Kathmandu"}
    front = ["--actor", "from-flag"] if layers.get("flag") else []
    result = okr(home, *front, "checkin", "kr-conv", "2.25", "--at", "2026-11-03", env=env)
    assert result.code == 0, str(result)
    if actor is None:
        assert last_actor(home).strip() not in ("", "from-toml", "from-config", "from-env")
        return
    assert last_actor(home) == actor
    # A date typed without a zone is read in the configured zone and said back with it.
    assert f"2026-11-03T00:00:00{zone_said}" in result.stdout, result.stdout
