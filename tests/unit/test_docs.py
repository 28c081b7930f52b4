"""The command reference is generated from the command itself and must stay current."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_docs_cli_md_is_the_commands_own_help(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    subprocess.run([sys.executable, "-P", "-m", "typer", "okr.cli.main", "utils", "docs",
                    "--name", "okr", "--output", str(out)], check=True, capture_output=True)
    assert out.read_text() == (ROOT / "docs" / "cli.md").read_text(), \
        "docs/cli.md is out of date: run 'make docs'"
