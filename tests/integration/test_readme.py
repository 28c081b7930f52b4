"""README.md runs: every command of its fenced `sh` blocks, in order, as a reader following it
would type them, in a scratch directory with the project's `okr` on PATH and the suite's
broker as Kafka. Each must exit as the README says (0 unless `# exits N`) and show something;
the convention is in tests/support/readme.py. A failure names the README line, the command,
its exit code and output, so whoever wrote the line can fix it."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import Broker, okr_environ
from tests.support.readme import Step, steps

VENV_BIN = str(Path(sys.executable).parent)
CONVENTION = ("(README.md, 'Development', and tests/support/readme.py: '# exits N' for an "
              "expected failure, '(not run: why)' for a line that cannot run here)")


def _tail(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def _failure(step: Step, why: str, proc: subprocess.CompletedProcess[str] | None) -> str:
    shown = f"{step.where()}: `{step.text.strip()[:300]}` {why} {CONVENTION}"
    if proc is not None:
        shown += f"\nstdout: {_tail(proc.stdout)!r}\nstderr: {_tail(proc.stderr)!r}"
    return shown


def _redirects_stdout(command: str) -> bool:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    return any(token.startswith(">") for token in lexer)


def _shows_nothing(command: str, stdout: str) -> str | None:
    """Why a successful command's output shows nothing, or None when it shows something."""
    if _redirects_stdout(command):
        return None
    text = stdout.strip()
    if not text or text in ("[]", "{}"):
        return "printed nothing: an example should show something"
    lines = text.splitlines()
    if len(lines) == 1 and "\t" in lines[0]:
        return "printed only a table's header: an example should show a row"
    return None


def _run(step: Step, cwd: Path, environ: dict[str, str]) -> None:
    if step.kind == "file":
        assert step.path is not None
        (cwd / step.path).write_text(step.text, encoding="utf-8")
        return
    if step.kind == "sh" and step.text.startswith("export "):
        for word in shlex.split(step.text)[1:]:
            name, _, value = word.partition("=")
            environ[name] = value
        return
    args = ["sh", "-c", step.text] if step.kind == "sh" else [sys.executable, "-"]
    proc = subprocess.run(args, input=None if step.kind == "sh" else step.text, cwd=cwd,
                          env=environ, text=True, capture_output=True, timeout=180)
    if proc.returncode != step.expect:
        raise AssertionError(_failure(
            step, f"exited {proc.returncode}, expected {step.expect}", proc))
    if step.kind == "sh" and step.expect == 0 and (why := _shows_nothing(step.text,
                                                                        proc.stdout)):
        raise AssertionError(_failure(step, why, proc))


def test_every_readme_command_runs_as_written(broker: Broker, tmp_path: Path) -> None:
    cwd = tmp_path / "reader"
    cwd.mkdir()
    environ = okr_environ(cwd / ".okr", broker.bootstrap)
    environ["PATH"] = VENV_BIN + os.pathsep + environ.get("PATH", "")
    environ["COLUMNS"] = "120"
    ran = 0
    for step in steps():
        if step.skip is None:
            _run(step, cwd, environ)
            ran += step.kind != "file"
    assert ran >= 30  # the README's examples, not a parser that found none
