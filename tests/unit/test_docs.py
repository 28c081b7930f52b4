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


def test_every_doc_gives_the_snapshot_interval_the_code_uses() -> None:
    """docs/projections.md once said "at most every 15 seconds" while docker/README.md said
    "after each batch": each page that says how often the analysts' snapshot is refreshed
    gives SNAPSHOT_EVERY."""
    import re

    from okr.projections.access import SNAPSHOT_EVERY

    pages = ["docs/projections.md", "docs/schema.md", "docs/architecture.md", "docker/README.md"]
    for page in pages:
        text = " ".join((ROOT / page).read_text().split())
        said = re.findall(r"at most every (\d+) (?:s|seconds)\b", text)
        assert said and all(float(n) == SNAPSHOT_EVERY for n in said), (page, said)
        assert "after each batch" not in text, page
