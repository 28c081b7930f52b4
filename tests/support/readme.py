"""README.md as a script: the steps of its fenced blocks, in order, with the line each came from.

The convention (README.md, "Development", says it in short; tests/integration/test_readme.py
runs it):

* A ```` ```sh ```` block runs, line by line, in order, in one scratch directory that stands
  for the reader's working directory (OKR_HOME is its `.okr`), with the project's `okr` first
  on PATH. Each line is one command (a trailing backslash continues it) run by `sh -c`;
  `export NAME=value …` lines set variables for the lines after them, as in one shell session.
  Blank lines and whole-line comments are skipped.
* Every command must exit 0 and print something (a table needs a row beyond its header),
  unless its trailing comment says otherwise:
  `# exits N …` — it must exit with code N (an example of a refusal);
  `# … (not run: REASON)` — it is not run, and REASON (required) says why (a service that
  runs until Ctrl-C, say).
* A block is not run when its info string says so with a reason:
  ```` ```sh not-run: REASON ```` (the `make` targets, a server the README only names).
* A block whose info string names a file, ```` ```yaml file=q3.yaml ````, is written to that
  file in the scratch directory when it is reached, for the commands after it.
* A ```` ```python ```` block runs as one program (`python -`) in the scratch directory.
* Other blocks (```` ```sql ````, ```` ```yaml ```` without a file, …) are illustrations.
"""

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

_FENCE = re.compile(r"^```(\S*)[ \t]*(.*)$")
_NOT_RUN_BLOCK = re.compile(r"^not-run:\s*(.*)$")
_FILE = re.compile(r"^file=(\S+)$")
_EXITS = re.compile(r"^exits (\d+)\b")
_NOT_RUN_LINE = re.compile(r"\(not run:\s*([^)]*)\)")


class ConventionError(ValueError):
    """README.md breaks the convention (a marker without a reason, an unclosed fence…)."""


@dataclass(frozen=True)
class Step:
    """One thing to do: run a shell command, run a Python program, or write a file."""

    kind: str  # "sh", "python" or "file"
    line: int  # README.md line the step starts on (1-based)
    text: str  # the command (without its comment), the program, or the file's content
    expect: int = 0  # exit code the command must end with
    skip: str | None = None  # why it is not run (None: it runs)
    path: str | None = None  # the file a "file" step writes

    def where(self) -> str:
        return f"README.md:{self.line}"


@dataclass(frozen=True)
class Block:
    lang: str
    info: str  # what follows the language on the opening fence
    line: int  # line of the opening fence
    body: tuple[tuple[int, str], ...]  # (line number, text) of each line inside


def blocks(text: str) -> list[Block]:
    """Every fenced block of a markdown text."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append((i + 1, lines[i]))
            i += 1
        if i == len(lines):
            raise ConventionError(f"README.md:{start}: the block opened here is never closed")
        found.append(Block(m.group(1), m.group(2).strip(), start, tuple(body)))
        i += 1
    return found


def split_comment(line: str) -> tuple[str, str]:
    """(command, comment) of a shell line: the comment starts at the first `#` outside quotes
    that begins a word."""
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def _block_skip(block: Block) -> str | None:
    m = _NOT_RUN_BLOCK.match(block.info)
    if block.info and m is None and _FILE.match(block.info) is None:
        raise ConventionError(f"README.md:{block.line}: unknown fence info {block.info!r} "
                              "(use 'not-run: REASON' or 'file=NAME')")
    if m is None:
        return None
    if not m.group(1).strip():
        raise ConventionError(f"README.md:{block.line}: 'not-run:' needs a reason")
    return m.group(1).strip()


def _shell_steps(block: Block, skip: str | None) -> list[Step]:
    steps: list[Step] = []
    pending: list[str] = []
    first = 0
    for number, raw in block.body:
        if not pending:
            first = number
        if raw.rstrip().endswith("\\"):
            pending.append(raw.rstrip()[:-1])
            continue
        line = " ".join([*pending, raw]).strip()
        pending = []
        command, comment = split_comment(line)
        if not command:
            continue  # blank or a whole-line comment
        expect = 0
        line_skip = skip
        if m := _EXITS.match(comment):
            expect = int(m.group(1))
        if m := _NOT_RUN_LINE.search(comment):
            if not m.group(1).strip():
                raise ConventionError(f"README.md:{first}: '(not run: …)' needs a reason")
            line_skip = line_skip or m.group(1).strip()
        steps.append(Step("sh", first, command, expect, line_skip))
    if pending:
        raise ConventionError(f"README.md:{first}: the block ends inside a continued line")
    return steps


def steps(text: str | None = None) -> list[Step]:
    """README.md's steps in order (the file itself unless `text` is given)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    found: list[Step] = []
    for block in blocks(text):
        skip = _block_skip(block)
        content = "".join(line + "\n" for _, line in block.body)
        if m := _FILE.match(block.info):
            found.append(Step("file", block.line, content, path=m.group(1)))
        elif block.lang == "sh":
            found.extend(_shell_steps(block, skip))
        elif block.lang == "python":
            found.append(Step("python", block.line + 1, content, skip=skip))
    return found
