"""Text an adversary (or an unlucky paste) puts in titles, notes, reasons and names: what
every display path must show as data — never obey, never crash on, never lose in JSON."""

CORPUS: dict[str, str] = {
    "markup close": "Revenue [/]",
    "markup tags": "[bold red]urgent[/bold red] [/] [",
    "markup link": "[link=https://evil.example/]click me[/link]",
    "markup escape": "\\[not a tag] \\",
    "emoji code": ":warning: :smile:",
    "ansi colour": "\x1b[31mred\x1b[0m",
    "terminal reset": "before\x1bcafter",
    "osc window title": "\x1b]0;owned\x07",
    "osc 8 hyperlink": "\x1b]8;;https://evil.example/\x1b\\harmless\x1b]8;;\x1b\\",
    "csi c1": "\x9b31mred",
    "bell backspace": "bell\x07back\x08\x08space\x7f",
    "carriage return": "first\roverwritten",
    "newlines": "line one\nline two\r\nline three",
    "tab": "a\tb",
    "bidi override": "invoice \u202egnp.exe",
    "bidi isolates": "\u2066abc\u2069 \u2067def\u2069 \u2068ghi\u2069 \u200f\u200e",
    "zero width": "zero\u200bwidth\u200c\u200djoin\ufeff\u2060",
    "line separators": "para\u2028graph\u2029end",
    "formula equals": "=HYPERLINK(\"https://evil.example\",\"x\")",
    "formula plus": "+1+cmd|' /C calc'!A0",
    "formula minus": "-2+3",
    "formula at": "@SUM(A1:A9)",
    "formula tab": "\t=1+1",
    "formula cr": "\r=1+1",
    "html": "<script>alert(1)</script> & <b>bold</b> \"quoted\" 'single'",
    "markdown": "| a | b | [x](https://evil.example/) **bold** `code`",
    "character references": "&#x202e;gnp.exe &lt;b&gt;bold&lt;/b&gt; &amp; &#8238;",
    "long word": "w" * 2000,
    "non latin": "Umsatz verdoppeln — 收入翻倍 — زيادة 😀",
}

# What must never reach stdout raw (outside JSON strings, which escape or keep them exactly):
# C0/C1 controls other than the newline ending a line, bidi controls, zero-width characters.
FORBIDDEN_ON_SCREEN = (
    {chr(c) for c in range(0x20) if c != 0x0A} | {chr(c) for c in range(0x7F, 0xA0)}
    | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
    | set("\u200b\u200c\u200d\u2060\ufeff\u2028\u2029"))


def raw_controls(text: str) -> list[str]:
    """The forbidden characters found in `text`, as escapes (empty when it is clean)."""
    return sorted({repr(ch) for ch in text if ch in FORBIDDEN_ON_SCREEN})


def guarded(shown: str) -> str:
    """A table's cell as its CSV cell must be (README, "Shell"), written out apart from
    cli/output.py: the same text, with an apostrophe before what a spreadsheet would run
    (= + - @ first, not a number written in ASCII digits: float() also takes 'inf' and
    '1_000', which a spreadsheet reads as a formula)."""
    try:
        float(shown)
        if set(shown) <= set("0123456789.eE+-"):
            return shown
    except ValueError:
        pass
    return "'" + shown if shown.startswith(("=", "+", "-", "@")) else shown


# A CSV listing is plain data (numbers as numbers, units in a column of their own: docs/schema.md
# "CSV exports"), so only its text columns say what the table says.
TEXT_COLUMNS = frozenset({"objective", "title", "cycle", "owner", "team", "type", "status",
                          "key result", "KPI", "name", "carried from", "kind", "cadence",
                          "track", "initiative", "zone", "first day", "last day"})


def text_cells(csv_text: str, tsv_text: str) -> tuple[list[str], list[str]]:
    """The cells of the text columns a CSV listing and its TSV share (by name): the CSV's, and
    the TSV's as their CSV cells must be (`guarded`, '-' empty)."""
    import csv
    import io
    rows = list(csv.reader(io.StringIO(csv_text)))
    lines = [line.split("\t") for line in tsv_text.splitlines()]
    shared = [c for c in rows[0] if c in TEXT_COLUMNS and c in lines[0]]
    assert len(rows) == len(lines), (len(rows), len(lines))
    got = [r[rows[0].index(c)] for r in rows[1:] for c in shared]
    want = ["" if line[lines[0].index(c)] == "-" else guarded(line[lines[0].index(c)])
            for line in lines[1:] for c in shared]
    return got, want
