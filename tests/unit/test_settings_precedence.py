"""Settings come from defaults ← okr.toml (in the data directory, or the file $OKR_CONFIG
names instead) ← environment ← command-line flags, as README's Settings section says; checked
through `okr` itself by how it reads a typed date (the zone). The actor is no setting at all
(tests/unit/test_actor.py)."""

from pathlib import Path

import pytest

from tests.fuzzing import fresh_copy, okr

UNSET = {"OKR_TZ": ""}  # the in-process okr's defaults, taken away


@pytest.mark.parametrize("layers, zone_said", [
    ({}, None),  # nothing set: the machine's zone (not checked)
    ({"toml": True}, "+09:00"),
    ({"toml": True, "config": True}, "-03:00"),
    ({"toml": True, "config": True, "env": True}, "+05:45"),
], ids=["defaults", "okr.toml", "OKR_CONFIG over okr.toml", "env over files"])
def test_each_layer_overrides_the_one_below(readme_home: Path, workdir: Path,
                                            layers: dict[str, bool],
                                            zone_said: str | None) -> None:
    home = fresh_copy(readme_home, workdir)
    env = dict(UNSET)
    if layers.get("toml"):
        (home / "okr.toml").write_text('timezone = "Asia/Tokyo"\n')
    if layers.get("config"):
        other = workdir / "elsewhere.toml"
        other.write_text('timezone = "America/Sao_Paulo"\n')
        env["OKR_CONFIG"] = str(other)
    if layers.get("env"):
        env |= {"OKR_TZ": "Asia/Kathmandu"}
    result = okr(home, "checkin", "kr-conv", "2.25", "--at", "2026-11-03", env=env)
    assert result.code == 0, str(result)
    if zone_said is None:
        return
    # A date typed without a zone is read in the configured zone and said back with it.
    assert f"2026-11-03T00:00:00{zone_said}" in result.stdout, result.stdout


@pytest.mark.parametrize("make", ["missing", "directory", "unreadable"])
def test_a_named_config_file_that_cannot_be_read_is_refused(readme_home: Path, workdir: Path,
                                                            make: str) -> None:
    """OKR_CONFIG names a file on purpose: one that is missing or unreadable is bad settings
    (one line, exit 2), not a silent fall back to the defaults."""
    import os
    home = fresh_copy(readme_home, workdir)
    named = workdir / "named.toml"
    if make == "directory":
        named.mkdir()
    elif make == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads every file")
        named.write_text('timezone = "Asia/Tokyo"\n')
        named.chmod(0)
    before = sorted(p.name for p in home.iterdir())
    result = okr(home, "due", env={**UNSET, "OKR_CONFIG": str(named)})
    assert result.code == 2, str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("okr: error: "), result.stderr
    assert str(named) in lines[0] and "OKR_CONFIG" in lines[0], lines[0]
    assert sorted(p.name for p in home.iterdir()) == before


def test_an_unreadable_okr_toml_in_the_data_directory_is_refused(readme_home: Path,
                                                                 workdir: Path) -> None:
    home = fresh_copy(readme_home, workdir)
    (home / "okr.toml").mkdir()
    result = okr(home, "due", env=UNSET)
    assert result.code == 2, str(result)
    assert result.stderr.count("\n") == 1 and "okr.toml" in result.stderr, result.stderr
