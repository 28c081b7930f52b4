"""Output: JSON for machines, rich tables for people, errors as one line on stderr."""

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from okr.domain.numbers import figure, shown

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console
    from rich.text import Text

_ZERO = timedelta(0)


def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        if o.utcoffset() == _ZERO:  # already UTC (nearly always): spelled as envelope.iso does
            return o.isoformat(timespec="microseconds")[:26] + "Z"
        from okr.record.envelope import iso
        return iso(o)
    if isinstance(o, UUID):
        return str(o)
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(data: Any, pretty: bool | None = None) -> str:
    """JSON text: indented for a person at a terminal (default), with what a terminal would
    obey escaped (`_terminal_safe`); compact and exact for programs and files — Python's fast
    (C) encoder does not indent, and a review can be megabytes."""
    if pretty is None:
        pretty = sys.stdout.isatty()
    # Without the circular-reference check (what is printed is a tree the command built):
    # it keeps a dictionary of every list and dict being written, 10-15 % of a full-scale
    # review's JSON time (129-139 -> 106-119 ms, same run).
    text = json.dumps(data, default=_spelling_once(), indent=2 if pretty else None,
                      ensure_ascii=False, allow_nan=False, check_circular=False)
    return _terminal_safe(text) if pretty else text


_NOT_ASCII_PRINTABLE = re.compile(r"[^\n\x20-\x7e]+")


def _json_escaped(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON spells it as its UTF-16 pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _json_escape(match: "re.Match[str]") -> str:
    run = match.group()
    if run.isprintable():  # the common case: letters, accents, CJK, emoji
        return run
    return "".join(_json_escaped(ch) if _invisible(ch) else ch for ch in run)


def _terminal_safe(text: str) -> str:
    """JSON text for a terminal: what `visible` shows (C1 controls such as CSI, bidi and
    zero-width characters; json escapes only C0) written as \\u escapes inside its strings,
    the same text to any JSON reader."""
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_ASCII_PRINTABLE.sub(_json_escape, text)


def _spelling_once() -> Callable[[Any], Any]:
    """`_default`, each datetime spelled once per document: a full-scale review holds 44,562
    of them but 3,547 distinct instants (series and readings share their times), and spelling
    them took half of its JSON's time. Only UTC datetimes are remembered: two aware datetimes
    in one zone that differ only in `fold` (the repeated hour of a DST change) compare equal
    but are different instants; others, and naive ones, are spelled each time."""
    spelled: dict[datetime, str] = {}

    def default(o: Any) -> Any:
        if isinstance(o, datetime) and o.tzinfo is UTC:
            text = spelled.get(o)
            if text is None:
                text = spelled[o] = _default(o)
            return text
        return _default(o)
    return default


# What every JSON object this command prints carries besides its data (e.g. "stale": how far
# the projection lags the store); set by the read before it emits.
NOTES: dict[str, Any] = {}


def emit(data: Any, as_json: bool, human: Callable[[], None] | str | None = None) -> None:
    """Print `data` as JSON (an object with the NOTES added), or run/print the human
    rendering."""
    if as_json:
        if NOTES and isinstance(data, dict):
            data = {**data, **NOTES}
        sys.stdout.write(to_json(data) + "\n")
    elif callable(human):
        human()
    elif human is not None:  # its lines are kept; the text inside them is made visible
        print("\n".join(visible(line) for line in human.split("\n")))


def target_amount(low: float | None, high: float | None, unit: str = "") -> str:
    """A target with its unit, or a range's two bounds ('40–60%'), '-' (NONE) when none."""
    if high is None:
        return amount(low, unit)
    return f"{amount(low, '')}–{amount(high, unit)}"


def aim_text(kind: str, start: float | None, target: float | None, target_high: float | None,
             unit: str = "", tolerance: float | None = None) -> str:
    """What a key result aims at, in its kind's terms: a climb from start to target
    ('increase 0 → 100 leads'), or a threshold to hold, where a start plays no part
    ('stay-above 99.5%', 'range 80–90%'), with its tolerance band."""
    if kind == "range":
        text = f"range {target_amount(target, target_high, unit)}"
    elif kind in ("stay-above", "stay-below"):
        text = f"{kind} {amount(target, unit)}"
    else:
        return f"{kind} {figure(start) if start is not None else NONE} → " \
            f"{target_amount(target, target_high, unit)}"
    return text if tolerance is None else f"{text}, tolerance {figure(tolerance)}"


def counted(n: int, noun: str) -> str:
    """'1 event', '3 events': a count with its noun in the right number."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def bar(fraction: float | None, width: int = 20) -> str:
    """A text progress bar for 0–1."""
    if fraction is None:
        return "·" * width
    # cells filled rounded down, as the figure beside it (domain/numbers.shown): 99% is no
    # full bar
    filled = int(shown(max(0.0, min(1.0, fraction)) * width, 0))
    return "█" * filled + "░" * (width - filled)


class Blank(str):
    """The text a table shows where there is no value: '-' to a person, an empty cell in CSV
    (a stored text that is '-' is a plain str, and stays in CSV, guarded)."""

    __slots__ = ()


NONE = Blank("-")


def or_none(text: str | None) -> str:
    """`text`, or the NONE mark when it is None or empty."""
    return text or NONE


def amount(value: float | None, unit: str = "") -> str:
    """A value with its unit: '2.2%', '13250 users', '-' (NONE) when there is none."""
    if value is None:
        return NONE
    if not unit:
        return figure(value)
    text = figure(value)
    return f"{text}{unit}" if unit in ("%", "‰", "€", "$", "£") else f"{text} {unit}"


# ---- stored text is data ----------------------------------------------------------------
# Titles, notes, reasons and keys are whatever a person (or an import, or a Kafka message)
# typed. On a terminal they are shown, never obeyed: no rich markup is read in them, and
# control, bidi and zero-width characters are made visible — in tables, TSV and CSV alike.
# JSON keeps them exact; CSV cells that a spreadsheet would run as a formula are neutralised.

_CONTROL_PICTURES = {c: chr(0x2400 + c) for c in range(0x20)} | {0x7F: "␡"}


def _shown(ch: str) -> str:
    code = ord(ch)
    if code in _CONTROL_PICTURES:
        return _CONTROL_PICTURES[code]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF \
        else f"\\U{code:08x}"


def _invisible(ch: str) -> bool:
    import unicodedata
    # Cc: C0/C1 controls (ESC, CSI, BEL, newline…); Cf: format characters (bidi overrides and
    # isolates, zero-width space/joiners, BOM…); Zl/Zp: line and paragraph separators.
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def visible(text: Any) -> str:
    """`text` for a terminal or a TSV line: every control, bidi and zero-width character shown
    as a symbol (ESC as ␛, newline as ␊, tab as ␉) or an escape (U+202E as \\u202e)."""
    s = str(text)
    if s.isprintable():  # the common case, fast: no Cc, Cf, Zl or Zp character in it
        return s
    return "".join(_shown(ch) if _invisible(ch) else ch for ch in s)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A number as a spreadsheet reads one: ASCII digits, no 'inf', 'nan' or '1_000' (float()
# takes those, a spreadsheet reads them as a formula and shows #NAME?).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """A CSV cell: text made `visible` as on a terminal (a file gets opened in one too), the
    NONE mark empty, and what a spreadsheet would run not runnable — text starting with
    = + - @ TAB or CR gets a leading apostrophe (OWASP's advice); numbers (-4.5 too, even as
    text) and None pass."""
    if isinstance(value, datetime):
        value = datum(value)
    if not isinstance(value, str):
        return value
    if isinstance(value, Blank):
        return ""
    value = visible(value)
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def datum(value: Any) -> str:
    """A value of a query's answer as a cell's text: an instant in ISO 8601 as JSON says it
    (UTC, with Z), a date-time without a zone or a date in ISO 8601, anything else as str."""
    if isinstance(value, datetime):
        return _default(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def console(stderr: bool = False) -> "Console":
    """A rich console that reads no markup, emoji codes or highlighting in what it prints:
    styled parts are built as Text (see `styled`), so stored text can never become markup.
    Honours NO_COLOR."""
    from rich.console import Console
    stream = sys.stderr if stderr else sys.stdout
    # Piped or redirected: lines are never wrapped (nor trees cut) at 80 columns.
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, width=width)


PIPE_WIDTH = 1_000_000  # columns a console assumes when its stream is not a terminal


def styled(*parts: "str | tuple[str, str]") -> "Text":
    """A rich Text from plain parts and (text, style) pairs; every part made `visible`."""
    from rich.text import Text
    return Text.assemble(*((visible(p[0]), p[1]) if isinstance(p, tuple) else visible(p)
                           for p in parts))


# ---- tables -----------------------------------------------------------------------------
# On a terminal a table is drawn by rich; piped (or with --format tsv) it prints whole: a
# header line, then one row a line, cells tab-separated and made visible, never truncated or
# wrapped, so `okr audit trail KR | grep …` sees every character. --format csv writes RFC 4180
# CSV with the same visible text in formula-safe cells, and an empty cell where a table says
# '-' (NONE).

TABLE_FORMATS = ("table", "tsv", "csv", "json")


def _default_format() -> str:
    return "table" if sys.stdout.isatty() else "tsv"


def table_format(fmt: str | None, as_json: bool, allowed: tuple[str, ...] = TABLE_FORMATS
                 ) -> str:
    """The output format a command prints: --json wins, else --format, else 'table' on a
    terminal and 'tsv' when stdout is a pipe or a file; a one-line error for an unknown one."""
    if as_json:
        return "json"
    if fmt is None:
        return _default_format()
    if fmt not in allowed:
        from okr.cli.errors import UserError
        raise UserError(f"--format {fmt!r} is not one of: {', '.join(allowed)}")
    return fmt


def _plain(cell: Any) -> str:
    """A cell as plain text: a rich Text's characters, else the value (None: empty). Told by
    its `plain` text rather than isinstance, so a piped table does not import rich for it."""
    plain = getattr(cell, "plain", None)
    if isinstance(plain, str):
        return plain
    return cell if isinstance(cell, str) else "" if cell is None else str(cell)


def _tsv_line(cells: list[str]) -> str:
    """One TSV line of these cells, each made `visible` (all at once when every character of
    the row is printable already: the common case, a few hundred rows a scorecard)."""
    if "".join(cells).isprintable():
        return "\t".join(cells) + "\n"
    return "\t".join(visible(c) for c in cells) + "\n"


class _LfRecords:
    """stdout for a csv writer, each record ended by LF: the writer is told CRLF, because with
    an LF terminator it leaves a cell holding a lone CR unquoted, which splits the record."""

    def write(self, record: str) -> int:
        return sys.stdout.write(record[:-2] + "\n" if record.endswith("\r\n") else record)


def print_table(columns: "list[str]", rows: "list[list[Any]]", fmt: str | None = None,
                title: str | None = None, heading: bool = False) -> None:
    """Print rows under `columns` as a rich table, TSV or CSV (see above; None: table on a
    terminal, TSV piped). Cells are text or rich Text (styled); `heading` prints the title as
    a '# title' line before TSV/CSV."""
    if fmt is None:
        fmt = _default_format()
    if fmt in ("tsv", "csv"):
        if heading and title:
            sys.stdout.write(f"# {visible(title)}\n")
        if fmt == "csv":
            import csv
            writer = csv.writer(_LfRecords(), lineterminator="\r\n")
            writer.writerow([csv_cell(c) for c in columns])
            writer.writerows([csv_cell(_plain(c)) for c in r] for r in rows)
        else:
            sys.stdout.write("\t".join(visible(c) for c in columns) + "\n")
            sys.stdout.writelines(_tsv_line([_plain(c) for c in r]) for r in rows)
        return
    from rich.table import Table
    from rich.text import Text
    t = Table(title=None if title is None else Text(visible(title)))
    for c in columns:
        t.add_column(Text(visible(c)))
    for r in rows:
        t.add_row(*(c if isinstance(c, Text) else Text(visible(_plain(c))) for c in r))
    console().print(t)


def write_out(text: str, out: "Path | None") -> bool:
    """Write `text` to the file `out`, in a folder that exists (check_out); '-' or None means
    stdout. True when it went to a file."""
    if out is None or str(out) == "-":
        sys.stdout.write(text)
        return False
    check_out(out)
    write_file(out, text.encode("utf-8"))
    return True


def write_file(out: "Path", data: bytes, what: str = "--out") -> None:
    """Write `data` to the file the user named with --out (or `what`), all or nothing: a
    temporary file beside it replaces it at the end (okr/files.py), so a Ctrl-C or a full disk
    leaves the file as it was."""
    from okr.files import new_file
    with writing_out(out, what), new_file(out) as tmp:
        tmp.write_bytes(data)


def check_out(out: "Path | None", what: str = "--out") -> None:
    """A one-line error when the folder of the path the user named does not exist: it is not
    made (as most tools do not), so a typo in the path is said, not silently created."""
    if out is None or str(out) == "-":
        return
    from okr.cli.errors import UserError
    folder = out.absolute().parent
    if not folder.is_dir():
        raise UserError(f"cannot write {what} {out}: the folder {folder} does not exist; "
                        "create it first, or choose a file in a folder that does")


def check_out_dir(out: "Path", what: str) -> None:
    """A one-line error for an output directory the user named that cannot be one: an
    existing file, or a path whose parent folder does not exist (the directory itself is
    made)."""
    from okr.cli.errors import UserError
    if out.exists() and not out.is_dir():
        raise UserError(f"cannot write {what} {out}: it is not a directory; name a directory "
                        "(made if missing, in a folder that exists)")
    check_out(out, what)


@contextmanager
def writing_out(out: "Path", what: str = "--out") -> Iterator[None]:
    """Writes to a file the user named with --out (or `what`): one that cannot be written (a
    directory, a folder that is a file, no permission, a full disk) is bad input naming that
    path, not the data directory (exit 2)."""
    from okr.cli.errors import UserError
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or first_line(exc)
        where = exc.filename if exc.filename else out
        raise UserError(f"cannot write {what} {out} ({reason}: {where}); choose a file in a "
                        "folder you may write") from None


def format_option(extra: str = "") -> Any:
    """The --format option of a command that prints a table."""
    from okr.cli.commands import choice
    return choice(None, "--format", "-f", values=TABLE_FORMATS,
                  help=f"How to print it{extra} (default: table on a terminal, tsv when "
                  "piped).")
