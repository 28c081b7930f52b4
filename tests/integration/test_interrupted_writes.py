"""Ctrl-C, or a failure, in the middle of a command that writes files the user named:
`okr: interrupted` in one line, exit 130, and nothing half-written (a user trial).
`okr export parquet` answered a Ctrl-C that reached DuckDB mid-query with a traceback ending
`RuntimeError: Query interrupted` (exit 1); it and `okr audit export` left a partial folder
behind, and `okr review --out` / `okr audit checkpoints --out` that failed half-way left a
file cut short in place of the one that was there.

The commands run as real processes on real files. The Ctrl-C is sent once the command has
begun to write (its folder, or the temporary one beside it, appears), never after a sleep."""

import hashlib
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Env
from tests.integration.test_relay import fill
from tests.support.generator import Shape

pytestmark = pytest.mark.integration

# Enough weeks and key results that the Parquet export runs for seconds once it begins to
# write (the weekly scores: ~2 s here).
SHAPE = Shape(seed=11, teams=3, quarters=2, kpis=2)


def interrupted(proc: "subprocess.Popen[str]", writing: Callable[[], bool]) -> tuple[str, str]:
    """Send Ctrl-C (SIGINT, to the process alone) once `writing()` says the command has begun
    to write; its stdout and stderr."""
    deadline = time.monotonic() + 60
    while not writing():
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate()
            pytest.fail(f"okr ended (exit {proc.returncode}) or hung before it wrote anything: "
                        f"{out!r} {err!r}")
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder`, by path, with its hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_interrupted(proc: "subprocess.Popen[str]", out: str, err: str) -> None:
    assert (proc.returncode, out, err) == (130, "", "okr: interrupted\n"), \
        (proc.returncode, out, err)


def outside_home(env: Env) -> dict[str, str]:
    """Every file beside the data directory (where the outputs go), with its hash."""
    return {k: v for k, v in tree(env.home.parent).items() if not k.startswith("home/")}


@pytest.mark.parametrize("when", ["folder", "scores"])
def test_ctrl_c_during_export_parquet_leaves_nothing_half_written(env: Env, when: str) -> None:
    """`folder`: Ctrl-C as soon as the export begins to write, into a new OUT; `scores`: into an
    OUT that holds an earlier export and a file of the user's, once the weekly scores are being
    computed (scorecard.parquet is written), where the Ctrl-C lands inside a DuckDB query.
    Uninterrupted, an export into an OUT in use replaces its files and folders (no partition
    of the earlier export lingers) and keeps the user's own."""
    fill(env, SHAPE)
    env.ok("relay", "--once")
    env.ok("consume", "--once")
    out_dir = env.home.parent / "pq"
    if when == "scores":  # an earlier export's files, and a partition no longer there
        (out_dir / "check_ins" / "cycle=1999-Q1").mkdir(parents=True)
        (out_dir / "check_ins" / "cycle=1999-Q1" / "data_0.parquet").write_bytes(b"earlier")
        for name in ("scorecard.parquet", "kr_weekly.parquet"):
            (out_dir / name).write_bytes(b"earlier")
        (out_dir / "notes.txt").write_text("mine", encoding="utf-8")
    before = outside_home(env)
    proc = env.spawn("export", "parquet", str(out_dir))

    def writing() -> bool:
        new = [p for p in env.home.parent.iterdir() if p.name not in ("home", "pq")]
        if when == "folder":
            return bool(new) or out_dir.exists()
        scores = [p / "scorecard.parquet" for p in [*new, out_dir]]
        return any(p.exists() and p.read_bytes() != b"earlier" for p in scores)

    out, err = interrupted(proc, writing)
    assert_interrupted(proc, out, err)
    assert outside_home(env) == before  # no OUT, no temporary folder; an earlier one as it was
    assert sorted(p.name for p in env.home.parent.iterdir()) == \
        sorted(["home"] + (["pq"] if when == "scores" else []))
    # uninterrupted, the export is whole; a file of the user's in OUT stays
    env.ok("export", "parquet", str(out_dir))
    assert (out_dir / "kr_weekly.parquet").read_bytes()[:4] == b"PAR1"
    assert {p.name for p in (out_dir / "check_ins").iterdir()} == {"cycle=2025-Q3",
                                                                 "cycle=2025-Q4"}
    if when == "scores":
        assert (out_dir / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in env.home.parent.iterdir()) == ["home", "pq"]


# `okr audit export` writes its files within a few hundred milliseconds, too short a while to
# hit from outside on a loaded machine: this holds it after events.jsonl is written, before
# the proof (the state the trial saw interrupted), until the test's Ctrl-C arrives.
HELD_AFTER_EVENTS = """
import signal
from okr.record import merkle
proof = merkle.multiproof
def held(*args, **kwargs):
    signal.pause()  # returns, or raises, once a signal's handler has run
    return proof(*args, **kwargs)
merkle.multiproof = held
from okr.cli.main import run
run()
"""


def test_ctrl_c_during_audit_export_leaves_no_bundle(env: Env) -> None:
    fill(env, SHAPE)
    env.ok("relay", "--once", "--checkpoint")
    bundle = env.home.parent / "bundle"
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_AFTER_EVENTS, "audit", "export", "--cycle", "2025-Q3",
         "--out", str(bundle)], env=env.environ, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    out, err = interrupted(proc, lambda: any(
        (p / "events.jsonl").exists() for p in env.home.parent.iterdir()))
    assert_interrupted(proc, out, err)
    assert [p.name for p in env.home.parent.iterdir()] == ["home"]
    env.ok("audit", "export", "--cycle", "2025-Q3", "--out", str(bundle))
    assert {p.name for p in bundle.iterdir()} == {
        "events.jsonl", "multiproof.json", "consistency.jsonl", "checkpoint.json",
        "public-key.pem", "README.md"}
    assert "--bundle bundle " in (bundle / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in env.home.parent.iterdir()) == ["bundle", "home"]


def too_large_after(size: int) -> Callable[[], None]:
    """A process whose files cannot grow past `size` bytes: a write beyond fails (EFBIG) as on
    a full disk (Python ignores SIGXFSZ, so the write fails instead of killing it)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


LIMIT = 48 * 1024  # past what a read writes elsewhere (SQLite's 32 KiB shared-memory file)


@pytest.mark.parametrize("args", [
    ["review", "2025-Q3", "--format", "html", "--out"],
    ["audit", "checkpoints", "--out"],
])
def test_an_out_file_that_fails_half_way_leaves_the_earlier_one(env: Env,
                                                                args: list[str]) -> None:
    """Written in place, a write that failed half-way (a full disk) left the file cut short:
    the earlier one was gone, and the new one not whole."""
    env.environ["OKR_CHECKPOINT_EVERY"] = "2"  # many checkpoints: a file of some size
    fill(env, Shape(seed=11, teams=8, quarters=1, kpis=2))
    env.ok("relay", "--once", "--checkpoint")
    env.ok("consume", "--once")
    okr = [sys.executable, "-c", "from okr.cli.main import run; run()", *args]
    whole = subprocess.run([*okr, "-"], env=env.environ, capture_output=True)
    assert whole.returncode == 0 and len(whole.stdout) > LIMIT * 3 // 2, whole.stderr
    target = env.home.parent / "kept.out"
    target.write_bytes(b"the earlier one\n")
    proc = subprocess.run([*okr, str(target)], env=env.environ, capture_output=True, text=True,
                          preexec_fn=too_large_after(LIMIT))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("okr: error: cannot write --out ") and \
        proc.stderr.count("\n") == 1, proc.stderr
    assert target.read_bytes() == b"the earlier one\n"
    assert sorted(p.name for p in env.home.parent.iterdir()) == ["home", "kept.out"]
