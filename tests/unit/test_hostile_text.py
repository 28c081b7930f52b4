"""Stored text is data in every view (issue 18): the hostile corpus (rich markup, ANSI and OSC
sequences, OSC 8 links, bidi overrides, zero-width characters, newlines, CSV formula prefixes,
2,000-character words) goes into titles, owners, teams, notes, reasons, KPI names and sources
through the CLI, then through every display command — tables, trees, JSON, CSV, Markdown and
HTML. None may crash, none may put a raw control byte on stdout, JSON must carry the exact
text, CSV cells must not be formulas, and markup must show as the characters typed.

The projection is built from the event store directly (as the consumer would), so the reads
run without a broker.
"""

import csv
import html
import io
import json
import shutil
from pathlib import Path

import pytest

from okr.cli.output import NONE, amount, csv_cell, visible
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained_records
from okr.settings import load_settings
from tests.fuzzing import Result, okr
from tests.support.hostile_text import CORPUS, guarded, raw_controls, text_cells

CYCLE = "2026-Q4"
ITEMS = list(CORPUS.items())


def stored(text: str, limit: int) -> str:
    """What the ledger keeps of `text` given to a field of at most `limit` characters."""
    return text[:limit].strip()


def project(home: Path) -> None:
    """Every stored event into the work file (as the consumer would), then the snapshot."""
    settings = load_settings({"home": home}, environ={})
    app = OkrLedger(settings)
    try:
        with Projection(settings.projection_work_file) as proj:
            proj.apply("t", [ConsumedRecord(r.value, 0, i)
                             for i, r in enumerate(chained_records(app))],
                       {0: app.recorder.max_notification_id() or 0})
    finally:
        app.close()
    shutil.copyfile(settings.projection_work_file, settings.duckdb_file)


def ok(home: Path, *args: str) -> Result:
    result = okr(home, *args)
    assert result.crash is None and result.code == 0, str(result)
    return result


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hostile") / "home"
    ok(home, "cycle", "add", CYCLE)
    for i, (_, text) in enumerate(ITEMS):  # options as --name=value, positionals after --:
        # text may start with '-'
        ok(home, "objective", "add", f"--cycle={CYCLE}", f"--owner={text[:100]}",
           f"--team={text[:100]}", "--", f"o{i}", text[:200])
        ok(home, "kr", "add", f"--objective=o{i}", "--kind=increase", "--start=0",
           "--target=10", "--", f"k{i}", text[:200])
        ok(home, "initiative", "add", f"--kr=k{i}", f"--owner={text[:100]}", "--",
           f"i{i}", text[:200])
        ok(home, "kpi", "add", "--direction=up", "--target=10", "--green=8", "--red=4",
           "--cadence=weekly", "--", f"m{i}", text[:200])
        ok(home, "kpi", "record", "--at=2026-10-05", f"--source={text[:200]}", f"m{i}", "5")
    ok(home, "cycle", "commit", CYCLE)
    for i, (_, text) in enumerate(ITEMS):
        ok(home, "checkin", f"--note={text}", "--at=2026-11-02",
           f"--on-behalf-of={text[:100]}", f"k{i}", "2")
        ok(home, "kr", "revise", "--target=12", f"--reason={text[:1000]}",
           f"--on-behalf-of={text[:100]}", f"k{i}")
    project(home)
    return home


def screen(home: Path, *args: str) -> str:
    """A human view's stdout as drawn for a terminal (--format table): it must succeed and hold
    no raw control character. The same view piped (tsv, the default off a terminal) must keep
    its shape too: tabs only between cells, every row of a table as many cells as its header."""
    result = ok(home, *args, "--format", "table")
    assert raw_controls(result.stdout) == [], f"{result}\n{raw_controls(result.stdout)}"
    piped = ok(home, *args)
    assert raw_controls(piped.stdout.replace("\t", "")) == [], str(piped)
    width = None
    for line in piped.stdout.splitlines():
        if line.startswith("# "):  # a title or a summary line: the next line is a header
            width = None
        elif width is None:
            width = line.count("\t")
        else:
            assert line.count("\t") == width, f"{args}: {line!r}"
    return result.stdout


def test_markup_in_a_title_no_longer_breaks_the_views_that_show_it(home: Path) -> None:
    """`okr objective add o "Revenue [/]"` made every later view crash with MarkupError."""
    for args in (["scorecard"], ["show", "o0"], ["audit", "trail", "o0"],
                 ["sql", "SELECT title FROM objective_versions"], ["history", "k0"],
                 ["review", CYCLE]):
        assert "Revenue [/]" in screen(home, *args), args


def test_markup_shows_as_typed_instead_of_styling_or_linking(home: Path) -> None:
    out = screen(home, "show", "o2")
    assert "[link=https://evil.example/]click me[/link]" in out
    assert "[bold red]urgent[/bold red]" in screen(home, "show", "o1")
    assert ":warning: :smile:" in screen(home, "show", "o4")


def test_escape_sequences_are_shown_not_sent(home: Path) -> None:
    for i, (name, text) in enumerate(ITEMS):
        if "\x1b" in text:
            out = screen(home, "show", f"o{i}")
            assert visible(stored(text, 200)) in out, name
            assert "␛" in out


@pytest.mark.parametrize("args", [
    ["scorecard"], ["kpi", "list"], ["review", CYCLE], ["due"],
    *(["list", kind] for kind in ("cycles", "objectives", "krs", "initiatives", "kpis")),
    ["sql", "SELECT key, title, owner, team FROM objective_versions"],
    ["sql", "SELECT key_result, note FROM check_ins"],
    *(["show", f"{kind}{i}"] for kind in "okmi" for i in range(len(ITEMS))),
    *(["history", f"k{i}"] for i in range(len(ITEMS))),
    *(["audit", "trail", f"{kind}{i}"] for kind in "okm" for i in range(len(ITEMS))),
], ids=lambda a: "-".join(a)[:40])
def test_every_human_view_survives_the_corpus_with_no_raw_control_byte(
        home: Path, args: list[str]) -> None:
    screen(home, *args)


def test_json_keeps_the_exact_text(home: Path) -> None:
    cards = json.loads(ok(home, "scorecard", "--json").stdout)["objectives"]
    by_key = {c["key"]: c for c in cards}
    for i, (name, text) in enumerate(ITEMS):
        card = by_key[f"o{i}"]
        assert (card["title"], card["owner"], card["team"]) == (
            stored(text, 200), stored(text, 100), stored(text, 100)), name
        kr = json.loads(ok(home, "show", f"k{i}", "--json").stdout)
        assert kr["title"] == stored(text, 200) and kr["check_ins"][0]["note"] == stored(
            text, 2000), name
        kpi = json.loads(ok(home, "show", f"m{i}", "--json").stdout)
        assert kpi["name"] == stored(text, 200), name
        initiative = json.loads(ok(home, "show", f"i{i}", "--json").stdout)
        assert (initiative["title"], initiative["owner"]) == (
            stored(text, 200), stored(text, 100)), name
        trail = json.loads(ok(home, "audit", "trail", f"k{i}", "--format", "json").stdout)
        assert stored(text, 1000) in [r["reason"] for r in trail], name
        assert [r["on_behalf_of"] for r in trail[-2:]] == [stored(text, 100)] * 2, name
        history = json.loads(ok(home, "history", f"k{i}", "--json").stdout)
        assert history["check_ins"][0]["on_behalf_of"] == stored(text, 100), name
        rows = json.loads(ok(home, "sql", f"SELECT note FROM check_ins WHERE key_result = "
                                          f"'k{i}'", "--json").stdout)
        assert rows == [{"note": stored(text, 2000)}], name


def formula(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@", "\t", "\r")) and csv_cell(cell) != cell


def cells_of(out: str, sep: str) -> list[str]:
    if sep == ",":
        return [c for row in csv.reader(io.StringIO(out)) for c in row]
    return [c for line in out.splitlines() for c in line.split(sep)]


def test_csv_cells_are_never_formulas_and_keep_the_text_after_the_guard(home: Path) -> None:
    """Notes starting with = + - @ came out unescaped in `okr audit trail --format csv`."""
    for i, (name, text) in enumerate(ITEMS):
        cells = cells_of(ok(home, "audit", "trail", f"k{i}", "--format", "csv").stdout, ",")
        # no raw control, bidi or zero-width character in any cell (tests/support's own list)
        assert not [c for c in cells if formula(c) or raw_controls(c)], name
        for want in (stored(text, 1000), stored(text, 100)):  # the reason, on_behalf_of
            assert guarded(visible(want)) in cells, name  # as a table shows it, then guarded


def test_listings_keep_the_exact_text_in_json_and_guard_csv_cells(home: Path) -> None:
    def listed(kind: str, fmt: str) -> str:
        return ok(home, "list", kind, "--format", fmt).stdout

    objectives = {r["key"]: r for r in json.loads(listed("objectives", "json"))["items"]}
    krs = {r["key"]: r for r in json.loads(listed("krs", "json"))["items"]}
    initiatives = {r["key"]: r for r in json.loads(listed("initiatives", "json"))["items"]}
    kpis = {r["key"]: r for r in json.loads(listed("kpis", "json"))["items"]}
    for i, (name, text) in enumerate(ITEMS):
        o = objectives[f"o{i}"]
        assert (o["title"], o["owner"], o["team"]) == (
            stored(text, 200), stored(text, 100), stored(text, 100)), name
        assert krs[f"k{i}"]["title"] == stored(text, 200), name
        assert (initiatives[f"i{i}"]["title"], initiatives[f"i{i}"]["owner"]) == (
            stored(text, 200), stored(text, 100)), name
        assert kpis[f"m{i}"]["name"] == stored(text, 200), name
    for kind in ("objectives", "krs", "initiatives", "kpis"):
        cells = cells_of(listed(kind, "csv"), ",")
        assert not [c for c in cells if formula(c) or raw_controls(c)], kind
        got, want = text_cells(listed(kind, "csv"), listed(kind, "tsv"))
        assert got == want, kind


def test_review_files_treat_text_as_data(home: Path, tmp_path: Path) -> None:
    ok(home, "review", CYCLE, "--format", "csv", "--out", str(tmp_path / "r.csv"))
    ok(home, "review", CYCLE, "--format", "md", "--out", str(tmp_path / "r.md"))
    ok(home, "review", CYCLE, "--format", "html", "--out", str(tmp_path / "r.html"))
    rows = list(csv.reader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8"))))
    assert not [c for r in rows for c in r if formula(c)]
    for suffix in ("md", "html"):
        text = (tmp_path / f"r.{suffix}").read_text(encoding="utf-8")
        assert raw_controls(text.replace("\n", "")) == [], suffix
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "[x](https://evil.example/)" not in md and "| a | b |" not in md
    review = json.loads(ok(home, "review", CYCLE, "--json").stdout)
    reasons = {r["key"]: r["reason"] for r in review["revisions"]}
    assert all(reasons[f"k{i}"] == stored(text, 1000) for i, (_, text) in enumerate(ITEMS))
    named = {r["key"]: r["on_behalf_of"] for r in review["revisions"]}
    assert all(named[f"k{i}"] == stored(text, 100) for i, (_, text) in enumerate(ITEMS))
    assert page.count("(on behalf of ") >= len(ITEMS)


def test_a_markdown_review_shows_character_references_as_typed(home: Path,
                                                             tmp_path: Path) -> None:
    """`okr review --format md` left '&' as it was: a Markdown renderer read a title's
    `&#x202e;` as the right-to-left override it names (and `&lt;b&gt;` as `<b>`)."""
    from markdown_it import MarkdownIt
    ok(home, "review", CYCLE, "--format", "md", "--out", str(tmp_path / "r.md"))
    page = MarkdownIt("commonmark").enable("table").render(
        (tmp_path / "r.md").read_text(encoding="utf-8"))
    assert raw_controls(page.replace("\n", "")) == []
    typed = html.escape(CORPUS["character references"], quote=False)
    assert page.count(typed) >= 2, typed  # the objective's title and its key result's


def test_errors_and_confirmations_show_text_as_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(home, "cycle", "add", CYCLE)
    added = ok(home, "objective", "add", "o", "x\x1b]0;t\x07", "--cycle", CYCLE,
               "--owner", "[/]\x1bc\u202e")
    assert raw_controls(added.stdout) == [] and "[/]␛c\\u202e" in added.stdout
    wrong = okr(home, "show", "\x1bc[/]")
    assert wrong.crash is None and wrong.code == 2
    assert raw_controls(wrong.stderr.rstrip("\n")) == [] and wrong.stderr.count("\n") == 1


def test_visible_makes_every_invisible_character_visible() -> None:
    assert visible("a\x1bc\n\t\x7f") == "a␛c␊␉␡"
    assert visible("\u202eabc\u200b\x9b") == "\\u202eabc\\u200b\\x9b"
    assert visible("plain [b] 收入 😀") == "plain [b] 收入 😀"
    for text in CORPUS.values():
        assert raw_controls(visible(text)) == []


def test_csv_cell_neutralises_formulas_but_keeps_numbers() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "-")] == [
        "'=1+1", "'+cmd", "'-2+3", "'@SUM(A1)", "'-"]
    assert [csv_cell(v) for v in ("-4.5", "+1", "kr-1", 3.0, None)] == [
        "-4.5", "+1", "kr-1", 3.0, None]
    assert [csv_cell(v) for v in ("-1e3", "+.5", "-7.")] == ["-1e3", "+.5", "-7."]


def test_csv_cell_guards_text_that_python_reads_as_a_number_but_a_spreadsheet_does_not() -> None:
    """float() let '-inf', '+nan', '-1_000' and '-١٢' (Arabic-Indic digits) through as
    numbers: a spreadsheet read them as formulas and showed #NAME? instead of the title."""
    for text in ("-inf", "+nan", "-Infinity", "-1_000", "-\u0661\u0662", "+1e5_0", "- 1"):
        assert csv_cell(text) == "'" + text, text


def test_csv_cell_shows_what_a_terminal_shows_then_guards_it() -> None:
    """CSV kept raw ESC, U+202E and zero-width characters that tables and TSV show."""
    assert [csv_cell(v) for v in ("\t=1", "\r=1", "a\x1b[2J\u202e\u200b", "=\x1b")] == [
        "␉=1", "␍=1", "a␛[2J\\u202e\\u200b", "'=␛"]
    for text in CORPUS.values():
        assert raw_controls(csv_cell(text)) == [] and not formula(csv_cell(text))


def test_csv_cell_leaves_a_tables_no_value_mark_empty() -> None:
    assert csv_cell(NONE) == "" and csv_cell(amount(None)) == "" and csv_cell("-") == "'-"


def test_an_import_file_named_like_markup_shows_its_name_as_typed_on_a_terminal(
        readme_home: Path, workdir: Path) -> None:
    """The progress line (drawn only on a terminal: FORCE_COLOR makes stderr one) read the
    file's name as markup: `[bold]` vanished into a style."""
    from tests.fuzzing import fresh_copy
    home = fresh_copy(readme_home, workdir)
    path = workdir / "[bold]check-ins\x1b[31m.csv"
    path.write_text("kr,value,at\nkr-conv,2.25,2026-11-03\n", encoding="utf-8")
    result = okr(home, "import", "checkins", str(path), env={"FORCE_COLOR": "1"})
    assert result.crash is None and result.code == 0, str(result)
    assert "checking [bold]check-ins␛[31m.csv" in result.stderr, result.stderr
    assert "[bold]check-ins␛[31m.csv" in result.stdout


def test_an_imported_plan_named_like_markup_shows_its_name_as_data(tmp_path: Path) -> None:
    """`okr import plan` said `imported FILE: …` with the file's name as it was: an ESC and
    a right-to-left override in it reached the terminal."""
    path = tmp_path / "[bold]plan\x1b[31m\u202e.yaml"
    path.write_text("cycles:\n  - {key: 2026-Q3}\n", encoding="utf-8")
    result = ok(tmp_path / "home", "import", "plan", str(path))
    assert raw_controls(result.stdout.replace("\n", "")) == [], result.stdout
    assert "[bold]plan␛[31m\\u202e.yaml: 1 cycles" in result.stdout


def test_the_web_scorecard_filter_chooses_a_team_or_owner_holding_line_breaks_or_nul(
        tmp_path: Path) -> None:
    """A browser sends a form's line breaks as CRLF and a NUL as U+FFFD (HTML's parsing and
    form submission): choosing a team or owner that holds a lone LF or CR, or a NUL, on the
    scorecard page showed no objective at all (seen in Chromium)."""
    import re

    from fastapi.testclient import TestClient

    from okr.web.app import create_app
    from okr.web.tokens import new_token
    from tests.fuzzing import live_window

    home = tmp_path / "home"
    settings = load_settings({"home": home}, environ={})
    app = OkrLedger(settings)
    names = {"lf": "a\nb", "cr": "c\rd", "nul": "g\x00h", "crlf": "e\r\nf", "esc": "i\x1bj"}
    try:
        app.add_cycle("live", *live_window())
        for k, name in names.items():
            app.add_objective(f"o-{k}", f"title-{k}", cycle="live", owner=f"{name}!", team=name)
        app.add_user("vic", "viewer", "")
        token = new_token("vic")
        app.issue_token("vic", token.token_id, token.token_hash)
    finally:
        app.close()
    project(home)
    site = create_app(settings)
    web = TestClient(site, follow_redirects=False)
    try:
        assert web.post("/signin", data={"token": token.secret}).status_code == 303
        for k, name in names.items():
            sent = re.sub(r"\r\n|\r|\n", "\r\n", name).replace("\x00", "\ufffd")
            for field, value in (("team", sent), ("owner", f"{sent}!")):
                page = web.get("/scorecard", params={field: value}).text
                shown = set(re.findall(r"title-(\w+)", page))
                assert shown == {k}, (field, value, shown)
                assert re.search(rf'<select name="{field}">.*?value="[^"]*" selected>'
                                 rf"{re.escape(visible(name))}", page,
                                 re.S), (field, k)
    finally:
        site.state.site.close()


def on_a_terminal(home: Path, *args: str) -> str:
    """What `okr ARGS` writes to a terminal (a pseudo-terminal as its stdout), CRLF as LF."""
    import os
    import pty
    import subprocess
    import sys
    main, child = pty.openpty()
    env = {**os.environ, "OKR_HOME": str(home), "OKR_INLINE_PUBLISH": "off", "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-c", "from okr.cli.main import run; run()", *args],
                            stdout=child, stderr=subprocess.DEVNULL, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's other end has closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_json_on_a_terminal_escapes_what_a_terminal_would_obey(home: Path) -> None:
    """`okr scorecard --json` at a terminal (indented for a person) wrote C1 controls (U+009B
    is CSI), bidi overrides and zero-width characters raw: JSON escapes only C0 controls.
    As \\u escapes they are the same text to every JSON reader."""
    def texts(doc: str) -> list[tuple[str, ...]]:  # (scores move with the clock)
        return [(c["key"], c["title"], c["owner"], c["team"],
                 *(kr["title"] for kr in c["key_results"]))
                for c in json.loads(doc)["objectives"]]

    shown = on_a_terminal(home, "scorecard", "--json")
    assert raw_controls(shown) == []
    assert texts(shown) == texts(ok(home, "scorecard", "--json").stdout)
    assert "\\u202e" in shown and "\\u009b31mred" in shown


def test_json_for_a_terminal_escapes_each_invisible_character_and_keeps_the_text() -> None:
    from okr.cli.output import to_json
    for text in (*CORPUS.values(), "del\x7f", "tag \U000e0001 end"):
        shown = to_json({"t": text}, pretty=True)
        assert json.loads(shown)["t"] == text and raw_controls(shown.replace("\n", "")) == []
    assert "\\udb40\\udc01" in to_json({"t": "\U000e0001"}, pretty=True)  # a UTF-16 pair
    assert to_json({"t": "Umsatz 收入 😀\x7f"}, pretty=True) == (
        '{\n  "t": "Umsatz 收入 😀\\u007f"\n}')
    assert to_json({"t": "\u202e"}, pretty=False) == '{"t": "\u202e"}'  # programs: as stored
