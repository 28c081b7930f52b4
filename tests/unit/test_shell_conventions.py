"""Shell conventions (issue 21): `okr --version`, shell completion with the choices of every
enumerated option, negative numbers where values are numbers, `okr kr revise --json` saying
what changed, `--out -` wherever --out names a file."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.fuzzing import Result, fresh_copy, okr
from tests.unit.test_cli_writes import OKR

ROOT = Path(__file__).resolve().parents[2]


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    result = okr(home, *args, env=env)
    assert result.crash is None and result.code == 0, str(result)
    return result


def one_line_error(result: Result) -> str:
    assert result.crash is None and result.code == 2, str(result)
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, str(result)
    return result.stderr.strip()


# ---- --version -------------------------------------------------------------------------

def test_version_prints_the_installed_package_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    home = tmp_path / "nothing"
    assert ok(home, "--version").stdout == f"okr {version('okr-ledger')}\n"
    assert json.loads(ok(home, "--json", "--version").stdout) == {
        "name": "okr-ledger", "version": version("okr-ledger")}
    assert json.loads(ok(home, "--version", "--json").stdout)["version"] == version("okr-ledger")
    assert not home.exists()  # asking the version creates no ledger


def test_a_global_option_alone_still_asks_for_a_command(tmp_path: Path) -> None:
    result = okr(tmp_path / "h", "--json")
    assert result.code == 2 and "Missing command" in result.stderr, str(result)


# ---- completion ------------------------------------------------------------------------

CHOICES = [
    (["kr", "add", "k", "t", "--kind"], ["increase", "decrease", "stay-above", "stay-below",
                                         "range", "milestone"]),
    (["objective", "add", "o", "t", "--type"], ["committed", "aspirational", "learning"]),
    (["objective", "update", "o", "--type"], ["committed", "aspirational", "learning"]),
    (["objective", "add", "o", "t", "--level"], ["company", "department", "team", "individual",
                                                 "cross-functional"]),
    (["objective", "close", "o", "--status"], ["achieved", "missed"]),
    (["kpi", "add", "k", "n", "--direction"], ["up", "down"]),
    (["kpi", "update", "k", "--direction"], ["up", "down"]),
    (["kpi", "add", "k", "n", "--cadence"], ["daily", "weekly", "monthly", "quarterly"]),
    (["kpi", "update", "k", "--cadence"], ["daily", "weekly", "monthly", "quarterly"]),
    (["kpi", "add", "k", "n", "--tag"], ["leading", "lagging", "guardrail"]),
    (["initiative", "status", "i"], ["planned", "in-progress", "done", "dropped"]),
    (["show", "x", "--kind"], ["cycle", "objective", "kr", "initiative", "kpi"]),
    (["kpi", "list", "--format"], ["table", "tsv", "csv", "json"]),
    (["audit", "trail", "k", "--format"], ["table", "tsv", "csv", "json"]),
    (["review", "2026-Q4", "--format"], ["table", "tsv", "json", "csv", "md", "html"]),
]


def complete(tmp_path: Path, words: list[str], incomplete: str = "") -> list[str]:
    """What bash completion offers after `okr WORDS INCOMPLETE` (click's protocol: the
    _OKR_COMPLETE variable, COMP_WORDS and COMP_CWORD)."""
    env = {"_OKR_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(["okr", *words, incomplete]),
           "COMP_CWORD": str(len(words) + 1)}
    result = okr(tmp_path / "h", env=env)
    assert result.crash is None and result.code == 0, str(result)
    return result.stdout.split()


@pytest.mark.parametrize(("words", "choices"), CHOICES, ids=lambda x: " ".join(x))
def test_the_shell_completes_every_enumerated_option(tmp_path: Path, words: list[str],
                                                     choices: list[str]) -> None:
    assert complete(tmp_path, words) == choices
    assert complete(tmp_path, words, choices[-1][:2]) == [
        c for c in choices if c.startswith(choices[-1][:2])]


def test_the_shell_completes_commands_and_options(tmp_path: Path) -> None:
    assert {"checkin", "kr", "kpi", "audit"} <= set(complete(tmp_path, []))
    assert complete(tmp_path, ["kr"], "re") == ["revise", "remove"]
    assert "--version" in complete(tmp_path, [], "--")


@pytest.mark.parametrize(("words", "choices"), CHOICES[:-3:2], ids=lambda x: " ".join(x))
def test_help_lists_the_choices(tmp_path: Path, words: list[str], choices: list[str]) -> None:
    command = [w for w in words[:2] if w not in ("k", "o", "i", "x", "t")]
    out = ok(tmp_path / "h", *command, "--help", env={"COLUMNS": "300"}).stdout
    assert "|".join(choices) in out, out


def test_install_and_show_completion(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    shown = subprocess.run([OKR, "--show-completion", "bash"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and "_OKR_COMPLETE=complete_bash" in shown.stdout, shown
    installed = subprocess.run([OKR, "--install-completion", "bash"], env=env,
                               capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0, installed
    assert "_OKR_COMPLETE=complete_bash" in (tmp_path / ".bash_completions" / "okr.sh"
                                             ).read_text()
    assert "okr.sh" in (tmp_path / ".bashrc").read_text()


def test_an_unknown_choice_is_one_line_naming_the_choices(readme_home: Path,
                                                          workdir: Path) -> None:
    home = fresh_copy(readme_home, workdir)
    line = one_line_error(okr(home, "kpi", "add", "k2", "K", "--green", "1", "--red", "0",
                              "--cadence", "hourly"))
    assert "hourly" in line and "daily, weekly, monthly, quarterly" in line
    # the words the domain also reads keep working (aliases, any case)
    ok(home, "kpi", "add", "k3", "K", "--green", "1", "--red", "0", "--direction", "Higher")


# ---- negative numbers ------------------------------------------------------------------

def test_a_negative_check_in_needs_no_double_dash(readme_home: Path, workdir: Path) -> None:
    home = fresh_copy(readme_home, workdir)
    # Check-ins inside the README's cycle (2026-Q4), so the test holds on any date.
    out = json.loads(ok(home, "checkin", "kr-conv", "-4.5", "--at", "2026-11-18", "--json").stdout)
    assert out["value"] == -4.5
    out = json.loads(ok(home, "--json", "checkin", "kr-conv", "-1e-2", "--note", "dip",
                        "--at", "2026-11-20").stdout)
    assert (out["value"], out["note"]) == (-0.01, "dip")
    out = json.loads(ok(home, "checkin", "--note", "n", "kr-conv", "-.5", "--at", "2026-11-21",
                        "--json").stdout)
    assert out["value"] == -0.5
    out = json.loads(ok(home, "--json", "checkin", "--at", "2026-11-22", "kr-conv", "--",
                        "-7").stdout)
    assert out["value"] == -7  # the old spelling still works


def test_negative_numbers_everywhere_values_are_numbers(readme_home: Path,
                                                       workdir: Path) -> None:
    home = fresh_copy(readme_home, workdir)
    assert json.loads(ok(home, "kpi", "record", "wau", "-3", "--json").stdout)["value"] == -3
    ok(home, "kpi", "add", "temp", "Temperature", "--green", "-5", "--red", "-20",
       "--target", "-2.5")
    kr = json.loads(ok(home, "--json", "kr", "add", "kr-neg", "Loss down", "-o", "rev-2x",
                       "--kind", "increase", "--start", "-10", "--target", "-2",
                       "--reason", "late").stdout)
    assert (kr["start"], kr["target"]) == (-10, -2)
    revised = json.loads(ok(home, "--json", "kr", "revise", "kr-neg", "--target", "-1",
                            "--reason", "better").stdout)
    assert revised["changes"] == {"target": {"from": -2, "to": -1}}


def test_a_mistyped_option_after_a_negative_number_still_errors_in_one_line(
        readme_home: Path, workdir: Path) -> None:
    home = fresh_copy(readme_home, workdir)
    line = one_line_error(okr(home, "checkin", "kr-conv", "-4.5", "--notee", "x"))
    assert "No such option: --notee" in line
    assert "No such option: -x" in one_line_error(okr(home, "checkin", "kr-conv", "-x"))
    line = one_line_error(okr(home, "checkin", "kr-conv", "-inf"))
    assert "finite number" in line
    line = one_line_error(okr(home, "checkin", "kr-conv", "-4.5", "-3"))
    assert "unexpected extra argument" in line.lower()


def test_every_command_reads_a_negative_number_as_a_value() -> None:
    """Commands added later are built from the same classes (cli/commands.py)."""
    import typer.main

    from okr.cli.commands import NumberAware
    from okr.cli.main import app

    def walk(cmd: object, path: str) -> list[str]:
        wrong = [] if isinstance(cmd, NumberAware) else [path]
        for name, sub in getattr(cmd, "commands", {}).items():
            wrong += walk(sub, f"{path} {name}")
        return wrong

    assert walk(typer.main.get_command(app), "okr") == []


# ---- kr revise --json ------------------------------------------------------------------

def test_revising_phases_reports_them_as_changes(readme_home: Path, workdir: Path) -> None:
    home = fresh_copy(readme_home, workdir)
    out = json.loads(ok(home, "--json", "kr", "revise", "kr-conv", "--phase",
                        "2026-11-15=2.25", "--phase", "2026-12-15=2.35", "--reason",
                        "phased").stdout)
    change = out["changes"]["phases"]
    assert change["from"] == []
    assert [p["value"] for p in change["to"]] == [2.25, 2.35]
    assert change["to"][0]["at"].startswith("2026-11-14T23:00:00")  # Berlin midnight, in UTC
    text = ok(home, "kr", "revise", "kr-conv", "--clear-phases", "--reason", "flat").stdout
    assert "phases 2 → none" in text
    high = json.loads(ok(home, "--json", "kr", "add", "kr-band", "Latency band", "-o",
                         "rev-2x", "--kind", "range", "--target", "100", "--target-high",
                         "200", "--reason", "late").stdout)
    assert high["target_high"] == 200
    out = json.loads(ok(home, "--json", "kr", "revise", "kr-band", "--target-high", "250",
                        "--reason", "wider").stdout)
    assert out["changes"] == {"target_high": {"from": 200, "to": 250}}


# ---- --out - ---------------------------------------------------------------------------

def test_out_dash_is_stdout_for_a_file_and_refused_for_a_folder(readme_home: Path,
                                                                workdir: Path) -> None:
    home = fresh_copy(readme_home, workdir)
    line = one_line_error(okr(home, "audit", "export", "--cycle", "2026-Q4", "--out", "-"))
    assert "--out" in line and "folder" in line
    assert not (home.parent / "-").exists()
