"""Hostile arguments to every write command: no traceback, exit 0 or 2, one error line, and
nothing written when the command is refused.

Each example runs one to three fuzzed commands, in sequence, on a fresh copy of the README
scenario (so a refusal is checked against a ledger that has cycles, objectives, key results,
a committed plan, an initiative and a KPI). `okr` runs in-process; see tests/fuzzing.py.
"""

import json
import os
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzzing import event_count, fresh_copy, fuzz, okr

FLAG = "flag"

# (command words, positional argument kinds, option → value kind)
COMMANDS: list[tuple[list[str], list[str], dict[str, str]]] = [
    (["cycle", "add"], ["cycle"], {"--start": "time", "--end": "time"}),
    (["cycle", "commit"], ["cycle"], {}),
    (["cycle", "close"], ["cycle"], {"--reason": "text"}),
    (["cycle", "reopen"], ["cycle"], {"--reason": "text"}),
    (["objective", "add"], ["key", "text"],
     {"--cycle": "cycle", "--owner": "text", "--team": "text", "--level": "word",
      "--type": "word", "--description": "text", "--parent": "objective", "--reason": "text"}),
    (["objective", "update"], ["objective"],
     {"--title": "text", "--description": "text", "--owner": "text", "--team": "text",
      "--parent": "objective", "--no-parent": FLAG, "--type": "word", "--reason": "text"}),
    (["objective", "abandon"], ["objective"], {"--reason": "text"}),
    (["objective", "close"], ["objective"], {"--status": "word", "--reason": "text"}),
    (["kr", "add"], ["key", "text"],
     {"--objective": "objective", "--kind": "word", "--start": "number", "--target": "number",
      "--target-high": "number", "--unit": "text", "--weight": "number", "--phase": "phase",
      "--kpi": "kpi", "--reason": "text"}),
    (["kr", "revise"], ["kr"],
     {"--start": "number", "--target": "number", "--target-high": "number",
      "--weight": "number", "--phase": "phase", "--clear-phases": FLAG, "--reason": "text"}),
    (["kr", "move"], ["kr"], {"--objective": "objective", "--reason": "text"}),
    (["kr", "remove"], ["kr"], {"--reason": "text"}),
    (["kr", "link"], ["kr", "kpi"], {"--reason": "text"}),
    (["kr", "unlink"], ["kr"], {"--reason": "text"}),
    (["checkin"], ["kr", "number"], {"--confidence": "number", "--note": "text", "--at": "time"}),
    (["initiative", "add"], ["key", "text"], {"--kr": "kr", "--owner": "text"}),
    (["initiative", "status"], ["initiative", "word"], {"--reason": "text"}),
    (["kpi", "add"], ["key", "text"],
     {"--unit": "text", "--direction": "word", "--target": "number", "--green": "number",
      "--red": "number", "--cadence": "word", "--tag": "text", "--owner": "text"}),
    (["kpi", "update"], ["kpi"],
     {"--name": "text", "--unit": "text", "--direction": "word", "--target": "number",
      "--green": "number", "--red": "number", "--cadence": "word", "--tag": "text",
      "--owner": "text", "--reason": "text"}),
    (["kpi", "record"], ["kpi", "number"], {"--at": "time", "--source": "text", "--id": "text"}),
    (["kpi", "retire"], ["kpi"], {"--reason": "text"}),
]

# Invalid UTF-8 in argv reaches Python as lone surrogates (PEP 383), e.g. $'caf\xe9'.
UNDECODABLE = ["caf\udce9", "\udcff", "kr-\udc80conv", "\udcc3\udca9"]
CONTROL = ["\x1b[31mred\x1b[0m", "tab\there", "new\nline", "cr\rreturn", "bell\x07", "\x7f",
           "\u202eright-to-left", "zero\u200bwidth", "\ufeffbom", "e\u0301", "𝔘𝔫𝔦", "💥" * 50]
KEYS = ["kr-conv", "kr-intl", "rev-2x", "live-chat", "wau", "2026-Q4", "KR-CONV", "kr_conv",
        "kr-conv ", " kr-conv", "kr-cοnv", "-kr", ".", "a" * 64, "a" * 65, "", " "]
CYCLES = ["2026-Q4", "2026-q4", "2026-Q1", "2027", "2026-H2", "2026-H3", "2026-Q9", "2026-Q0",
          "Q4-2026", "0000-Q1", "9999-Q4", "9999", "0000", "10000-Q1", "launch", ""]
NUMBERS = ["0", "-0", "+0", "2.2", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309",
           "-1e309", "1e308", "-1e308", "4.9e-324", "1e-400", "1_000", "_", "0x10", "1,5", "½",
           "١٢٣", "  7 ", "", " ", ".", "-", "+", "e", "9" * 400, "1e99999", "0.5", "1", "100",
           "100.0000001", "-5"]
TIMES = ["2026-11-02", "2026-11-02T14:30", "2026-11-02T14:30Z", "2026-11-02t14:30z",
         "2026-11-02T14:30+14:00", "2026-11-02T14:30-12:00", "2026-11-02 14:30",
         "2026-11-02T14:30:00.123456789", "2026-11-02T24:00", "2026-02-30", "2026-13-01",
         "2026-W45-1", "20261102", "2026-306", "2026-03-29T02:30", "2026-10-25T02:30",
         "0001-01-01", "0001-01-01T00:00+23:59", "0001-01-01T00:00:00-00:01", "9999-12-31",
         "9999-12-31T23:59:59-23:59", "9999-12-31T23:00", "today", "YESTERDAY", " now ",
         "tomorrow", "last tuesday", "", "Z", "2026-10-05", "2026-11-20", "2999-01-01",
         "2026-11-02T14:30+25:00", "2026-11-02T14:30:60"]
WORDS = ["increase", "decrease", "stay-above", "stay-below", "range", "milestone", "committed",
         "aspirational", "learning", "team", "company", "individual", "cross-functional", "up",
         "down", "daily", "weekly", "monthly", "quarterly", "planned", "in-progress", "done",
         "dropped", "achieved", "missed", "INCREASE", "Up", "", "sideways"]
ZONES = ["Europe/Berlin", "UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/St_Johns",
         "Asia/Kathmandu"]

any_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                   max_size=80)
TEXT = st.one_of(any_text, st.sampled_from(UNDECODABLE + CONTROL),
                 st.sampled_from(["x" * 10_000, "y" * 120_000, "-", "--", "--json", "-h"]),
                 st.sampled_from(["Grow revenue", "market slowdown", "ana", ""]))
# Existing keys of the right kind and plausible values come often, so that a refusal late in
# a command (after the key is found and the numbers are read) gets its chance to leave a
# write behind.
PLAUSIBLE = st.sampled_from(["0", "0.5", "1", "2.2", "2.35", "7", "100", "-5", "13250"])
NEW_KEY = st.one_of(st.sampled_from(KEYS), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,70}",
                                                         fullmatch=True), TEXT)
VALUES: dict[str, st.SearchStrategy[str]] = {
    "text": TEXT,
    "key": NEW_KEY,
    "cycle": st.one_of(st.just("2026-Q4"), st.sampled_from(CYCLES), TEXT),
    "number": st.one_of(PLAUSIBLE, PLAUSIBLE, st.sampled_from(NUMBERS), st.floats().map(repr),
                        st.integers().map(str), st.sampled_from(UNDECODABLE), any_text),
    "time": st.one_of(st.sampled_from(TIMES),
                      st.datetimes(timezones=st.none() | st.timezones()).map(
                          lambda t: t.isoformat()),
                      st.sampled_from(UNDECODABLE), any_text),
    "word": st.one_of(st.sampled_from(WORDS), TEXT),
}
for kind, keys in {"kr": ["kr-conv", "kr-intl"], "objective": ["rev-2x"],
                   "kpi": ["wau"], "initiative": ["live-chat"]}.items():
    VALUES[kind] = st.one_of(st.sampled_from(keys), st.sampled_from(keys), NEW_KEY)
VALUES["phase"] = st.one_of(
    st.tuples(VALUES["time"], VALUES["number"]).map(lambda p: f"{p[0]}={p[1]}"),
    st.sampled_from(["2026-11-15=2.2", "=", "2026-11-15", "=5", "2026-11-15=2.2=3"]), TEXT)


@st.composite
def command(draw: st.DrawFn) -> list[str]:
    """One write command with fuzzed values, options in odd orders and places."""
    words, positional, options = draw(st.sampled_from(COMMANDS))
    args = [draw(VALUES[kind]) for kind in positional]
    if draw(st.integers(0, 3)) == 0:  # drop or add a positional argument
        args = args[:-1] if args and draw(st.booleans()) else [*args, draw(TEXT)]
    names = draw(st.lists(st.sampled_from(sorted(options)), max_size=5)) if options else []
    opts = [[n] if options[n] == FLAG else [n, draw(VALUES[options[n]])] for n in names]
    opts += draw(st.lists(st.sampled_from([["--json"], ["--reason", "because"], ["--bogus"],
                                           ["--actor", "bo"], ["--"], ["-h"]]), max_size=2))
    tail = list(args)
    for opt in opts:  # options interleaved anywhere among the positional arguments
        at = draw(st.integers(0, len(tail)))
        tail[at:at] = opt
    front: list[str] = []
    if draw(st.booleans()):
        front += ["--json"]
    if draw(st.integers(0, 4)) == 0:
        front += ["--actor", draw(TEXT)]
    cmd = [*front, *words, *tail]
    if draw(st.integers(0, 9)) == 0:  # a global option after the subcommand, or vice versa
        at = draw(st.integers(0, len(cmd)))
        cmd[at:at] = draw(st.sampled_from([["--home"], ["--json"], ["--actor"], ["--target", "1"]]))
    return cmd


# Invocations that succeed on the README scenario; `nearly_valid` spoils one value of one.
VALID = [
    ["checkin", "kr-conv", "2.25", "--confidence", "0.5", "--note", "n", "--at", "2026-11-02"],
    ["kpi", "record", "wau", "13900", "--at", "2026-11-09", "--source", "s", "--id", "r9"],
    ["kr", "revise", "kr-conv", "--target", "2.5", "--weight", "2", "--reason", "r"],
    ["kr", "add", "kr-new", "New", "--objective", "rev-2x", "--start", "0", "--target", "5",
     "--phase", "2026-11-15=2", "--unit", "%", "--reason", "r"],
    ["objective", "add", "o-new", "New", "--cycle", "2026-Q4", "--type", "aspirational",
     "--parent", "rev-2x", "--reason", "r"],
    ["objective", "update", "rev-2x", "--title", "T", "--owner", "bo", "--reason", "r"],
    ["kpi", "add", "k-new", "K", "--green", "5", "--red", "1", "--target", "6", "--cadence",
     "daily", "--tag", "leading"],
    ["kpi", "update", "wau", "--green", "14500", "--red", "11000", "--reason", "r"],
    ["initiative", "add", "i-new", "I", "--kr", "kr-intl", "--owner", "cy"],
    ["initiative", "status", "live-chat", "done", "--reason", "r"],
    ["cycle", "add", "launch", "--start", "2026-12-01", "--end", "2027-02-01"],
    ["kr", "link", "kr-intl", "wau", "--reason", "r"],
    ["cycle", "close", "2026-Q4", "--reason", "r"],
]
SPOILERS = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(TIMES), PLAUSIBLE, TEXT,
                     st.sampled_from(KEYS + UNDECODABLE + CYCLES + WORDS))


@st.composite
def nearly_valid(draw: st.DrawFn) -> list[str]:
    """A valid invocation with one value replaced by a hostile one."""
    args = list(draw(st.sampled_from(VALID)))
    first = 1 if args[0] == "checkin" else 2
    values = [i for i in range(first, len(args)) if not args[i].startswith("--")]
    at = draw(st.sampled_from(values))
    args[at] = draw(SPOILERS)
    return args


def check_one(home: Path, args: list[str], zone: str) -> None:
    """The contract of every write command, for one invocation."""
    before = event_count(home)
    result = okr(home, *args, env={"OKR_TZ": zone})
    assert result.crash is None, f"{result}\n{result.crash}"
    assert "Traceback" not in result.stderr, str(result)
    assert result.code in (0, 2), str(result)
    if result.code == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("okr: error: "), str(result)
        assert event_count(home) == before, f"refused but wrote events\n{result}"
    else:  # nothing on stderr but the one warning a write may give
        assert all(line.startswith("okr: warning: observed before KPI ")
                   for line in result.stderr.splitlines()), str(result)
        if result.stdout.lstrip().startswith(("{", "[")):
            json.loads(result.stdout)


@fuzz(200)
@given(cmds=st.lists(st.one_of(command(), nearly_valid(), nearly_valid()), min_size=1,
                     max_size=3),
       zone=st.sampled_from(ZONES))
@example(cmds=[["objective", "add", "o-bad", "caf\udce9", "--cycle", "2026-Q4",
                "--reason", "r"]], zone="Europe/Berlin")
@example(cmds=[["checkin", "kr-\udc80conv", "2.2"]], zone="Europe/Berlin")
@example(cmds=[["--actor", "\udcff", "kpi", "record", "wau", "1"]], zone="UTC")
@example(cmds=[["cycle", "add", "c1", "--start", "9999-12-31T23:59:59-23:59",
                "--end", "2027-01-01"]], zone="UTC")
@example(cmds=[["kpi", "record", "wau", "1", "--at", "0001-01-01"]], zone="Pacific/Kiritimati")
@example(cmds=[["kpi", "record", "wau", "1", "--at", "9999-12-31T23:00"]], zone="Etc/GMT+12")
@example(cmds=[["checkin", "kr-conv", "1e309"], ["kr", "revise", "kr-conv", "--target", "nan",
                                                 "--reason", "r"]], zone="UTC")
@example(cmds=[["checkin", "kr-conv", "2.2", "--confidence", "7"],
               ["kpi", "add", "k2", "K", "--green", "1", "--red", "5"]], zone="UTC")
def test_hostile_write_arguments_never_crash_and_refusals_write_nothing(
        readme_home: Path, workdir: Path, cmds: list[list[str]], zone: str) -> None:
    home = fresh_copy(readme_home, workdir)
    for args in cmds:
        check_one(home, args, zone)


def test_the_in_process_runner_reports_an_escaping_exception_as_a_crash(
        readme_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness has teeth: a bug deep in a command (injected here) is a crash, exit 1."""
    from okr.cli import measure_cmds

    def broken(text: str, what: str) -> float:
        raise RuntimeError("injected bug")

    home = fresh_copy(readme_home, workdir)
    monkeypatch.setattr(measure_cmds, "number", broken)
    result = okr(home, "checkin", "kr-live", "2.2")
    assert result.code == 1 and result.crash is not None
    assert "Traceback" in result.stderr and "injected bug" in result.stderr
    monkeypatch.undo()
    ok = okr(home, "checkin", "kr-live", "2.25", "--json")
    assert ok.code == 0 and json.loads(ok.stdout)["value"] == 2.25
    assert event_count(home) == event_count(readme_home) + 1


def test_the_in_process_runner_never_unsets_a_variable_it_did_not_set(
        readme_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner restores the environment without unsetting what the process runs under.

    Under `make test-dates` the clock is libfaketime's, which re-reads FAKETIME from the
    environment every few seconds, from whichever thread asks the time. Restoring the
    environment by clearing it opened a window in which a thread (pytest-xdist's) found no
    FAKETIME and the clock went real for seconds: a check-in "now" landed in 2026 while the
    suite ran in 2028 (CI, 29 Feb 2028). Only what the runner itself set or removed may change.
    """
    unset: list[str] = []
    real_unsetenv = os.unsetenv

    def spy(key: str | bytes) -> None:
        unset.append(os.fsdecode(key))
        real_unsetenv(key)

    monkeypatch.setenv("FAKETIME_LIKE_PROBE", "@2028-02-29 11:00:00")
    monkeypatch.setenv("OKR_FROM_THE_OUTSIDE", "1")
    before = dict(os.environ)
    monkeypatch.setattr(os, "unsetenv", spy)
    home = fresh_copy(readme_home, workdir)
    assert okr(home, "checkin", "kr-live", "2.3").code == 0
    monkeypatch.setattr(os, "unsetenv", real_unsetenv)
    assert "FAKETIME_LIKE_PROBE" not in unset and "LD_PRELOAD" not in unset, unset
    assert dict(os.environ) == before  # and all is back as it was, OKR_ included
