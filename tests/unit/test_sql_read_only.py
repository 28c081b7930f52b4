"""`okr sql` is read-only: writes, attachments, file access, extensions, settings and their
sneaky spellings are refused in one line (exit 2) and the DuckDB file stays byte-identical;
keywords inside string literals are just data. DuckDB's own lock-down is tested on its own
too, as the second line of defence behind the parser check.

The projection is built from the README scenario without a broker, and the test holds the
projection's writer lock as a running `okr consume` would, so `okr sql` reads the snapshot
as it is instead of refreshing it from Kafka.
"""

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okr.ledger.app import OkrLedger
from okr.projections.access import owning
from okr.projections.readonly import QueryFailed
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.fuzzing import build_readme_scenario, fuzz, okr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """README scenario, projected into okr.duckdb, with the writer lock held."""
    home = build_readme_scenario(tmp_path_factory.mktemp("sql") / "home")
    settings = load_settings({"home": home})
    app = OkrLedger(settings)
    envelopes = list(chained(app))
    app.close()
    with Projection(settings.duckdb_file) as proj:
        proj.apply("okr.ledger",
                   [ConsumedRecord(e.to_bytes(), 0, i) for i, e in enumerate(envelopes)],
                   {0: len(envelopes)})
        proj.checkpoint()
    with owning(settings):
        yield home


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a successful escape would leave files; it must stay empty."""
    return tmp_path_factory.mktemp("outside")


def refused(home: Path, sql: str, *options: str) -> str:
    """Run `okr sql`; it must refuse in one line with exit 2 and change no byte."""
    db = home / "okr.duckdb"
    before = digest(db)
    result = okr(home, "sql", sql, "--json", *options)
    assert result.crash is None, f"{result}\n{result.crash}"
    assert result.code == 2, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("okr: error: "), str(result)
    assert result.stdout == "" and "root:" not in result.stderr, str(result)
    assert digest(db) == before
    return lines[0]


def allowed(home: Path, sql: str) -> list[dict[str, object]]:
    db = home / "okr.duckdb"
    before = digest(db)
    result = okr(home, "sql", sql, "--json")
    assert result.code == 0 and result.stderr == "", str(result)
    assert digest(db) == before
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def hostile(outside: Path) -> list[str]:
    o = outside
    return [
        # writes, schema changes, maintenance
        "INSERT INTO events SELECT * FROM events", "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events", "CREATE TABLE t (a INT)", "CREATE TEMP TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT 1", "CREATE MACRO m() AS 1", "DROP TABLE events",
        "ALTER TABLE events ADD COLUMN x INT", "TRUNCATE events", "CHECKPOINT", "VACUUM",
        "CREATE OR REPLACE TABLE check_ins AS SELECT * FROM check_ins LIMIT 0",
        # other databases, files, extensions, settings
        f"ATTACH '{o}/new.db' AS n", "ATTACH ':memory:' AS m", "DETACH okr", "USE memory",
        f"COPY events TO '{o}/events.csv'", f"COPY (SELECT 1) TO '{o}/one.parquet'",
        f"EXPORT DATABASE '{o}/dump'", f"IMPORT DATABASE '{o}'", "INSTALL httpfs",
        "LOAD httpfs", f"LOAD '{o}/evil.duckdb_extension'", "FORCE INSTALL httpfs",
        "PRAGMA database_list", "PRAGMA enable_profiling", "SET threads = 1",
        "RESET threads", "SET enable_external_access = true", "SET lock_configuration = false",
        "SET VARIABLE x = 1", "CALL pragma_version()", "CALL duckdb_settings()",
        # file-reading table functions, and a path as a table (a replacement scan)
        "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM read_parquet('/etc/passwd')", "SELECT * FROM read_json('/etc/passwd')",
        "SELECT * FROM read_json_auto('/etc/passwd')", "SELECT * FROM read_ndjson('/etc/x')",
        "SELECT * FROM read_text('/etc/passwd')", "SELECT * FROM read_blob('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')", "SELECT * FROM parquet_scan('/etc/passwd')",
        "SELECT * FROM parquet_metadata('/etc/passwd')", "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'", "FROM '/etc/passwd'", "SELECT * FROM 'okr.duckdb'",
        "SELECT * FROM read_csv(['/etc/passwd', '/etc/hostname'])",
        "SELECT * FROM query('SELECT 1')", "SELECT * FROM query_table('events')",
        "SELECT getenv('HOME')",
        # sneaky spellings
        "DeLeTe FROM events", "/* harmless */ DELETE FROM events",
        "-- a comment\nDELETE FROM events", "SELECT 1; DELETE FROM events",
        "SELECT 1;\nDROP TABLE events;",
        "WITH x AS (SELECT 1) DELETE FROM events",
        "WITH x AS (SELECT 1) INSERT INTO events SELECT * FROM events",
        "WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x",
        'SELECT * FROM "read_csv"(\'/etc/passwd\')', "SELECT * FROM read_csv ('/etc/passwd')",
        "SELECT * FROM READ_TEXT('/etc/passwd')", "select * from Glob('/etc/*')",
        "SELECT\tcount(*)\nFROM\tevents;\tDELETE\tFROM\tevents",
        "EXPLAIN DELETE FROM events", "EXPLAIN ANALYZE DELETE FROM events",
        # EXPLAIN ANALYZE runs the statement, and DuckDB allows these on a read-only file
        "EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT 1", "EXPLAIN ANALYZE CHECKPOINT",
        "EXPLAIN ANALYZE SET VARIABLE x = 1", "EXPLAIN ANALYZE CALL pragma_version()",
        "DESCRIBE SELECT * FROM read_csv('/etc/passwd')",
        "SUMMARIZE SELECT * FROM read_text('/etc/passwd')",
        "VALUES (1); DROP TABLE events",
        # literals that tried to hide code from the old keyword check
        "SELECT E'\\'' AS a, * FROM read_csv('/etc/passwd') --'",
        "SELECT $$'$$ AS a, * FROM read_text('/etc/passwd') --'",
        "SELECT $$'$$ AS a FROM '/etc/passwd' --'",
        "SELECT 'it''s' AS a; DELETE FROM events --'",
        "", "   ", ";", "-- only a comment",
    ]


def test_every_write_file_access_and_setting_is_refused_and_nothing_changes(
        home: Path, outside: Path) -> None:
    failures = []
    for sql in hostile(outside):
        try:
            refused(home, sql)
        except AssertionError as exc:
            failures.append(f"{sql!r}: {exc}")
    assert not failures, "\n".join(failures)
    assert list(outside.iterdir()) == []


def test_the_parser_check_alone_refuses_every_one(outside: Path) -> None:
    """The first line of defence, without running anything: DuckDB's parser and tokenizer see
    through every spelling ($$ and E'' literals, quoted names, a path as a table), with a
    clear message each (the end-to-end test above would pass on DuckDB's refusals alone)."""
    from okr.cli.errors import UserError
    from okr.cli.projection_cmds import check_read_only

    passed = []
    for sql in hostile(outside):
        try:
            check_read_only(sql)
        except UserError as exc:
            assert "\n" not in str(exc)
        else:
            passed.append(sql)
    assert passed == []


def test_the_dollar_quoted_copy_of_issue_18_writes_nothing(home: Path) -> None:
    """It slipped past the keyword and one-statement checks and wrote into DuckDB's temporary
    directory when that existed."""
    tmp = home / "okr.work.duckdb.tmp"
    tmp.mkdir(exist_ok=True)
    for sql in (f"SELECT $$'$$; COPY (SELECT 'x') TO '{tmp}/x.csv'; SELECT '$$'",
                f"SELECT $x$'$x$; COPY (SELECT 'x') TO '{tmp}/y.csv'; SELECT '$x$'",
                "CREATE TEMP TABLE t AS SELECT 1", "SET VARIABLE x = 1"):
        line = refused(home, sql)
        assert "one statement at a time" in line or "read-only" in line, line
    assert list(tmp.iterdir()) == []
    with Projection(home / "okr.duckdb", read_only=True) as proj:
        proj.lock_down()  # no temporary directory: nothing can be written there either
        with pytest.raises(Exception, match=r"(?i)permission|disabled|temp"):
            proj.query(f"COPY (SELECT 'x') TO '{tmp}/z.csv'")
    assert list(tmp.iterdir()) == []


def test_keywords_inside_string_literals_are_just_data(home: Path) -> None:
    words = "delete from events; drop table x; attach 'y'; copy events to 'z'; read_csv('/etc/x')"
    quoted = words.replace("'", "''")
    assert allowed(home, f"SELECT '{quoted}' AS s") == [{"s": words}]
    assert allowed(home, "SELECT count(*) AS n FROM check_ins WHERE note <> 'DELETE ME'") == [
        {"n": 1}]
    assert allowed(home, "SELECT 'it''s; INSERT' AS s, 'SET x = 1' AS t") == [
        {"s": "it's; INSERT", "t": "SET x = 1"}]
    assert allowed(home, "select key_result, target from kr_progress('2026-Q4') "
                         "where key_result = 'kr-conv'") == [
        {"key_result": "kr-conv", "target": 2.4}]  # as planned when committed
    assert allowed(home, "WITH t AS (SELECT count(*) AS n FROM events) SELECT n > 0 AS ok "
                         "FROM t -- a trailing comment") == [{"ok": True}]
    assert allowed(home, "DESCRIBE events")
    # DuckDB's parser, not a keyword scan, decides: a comment is not a statement
    assert allowed(home, "SELECT 1 AS one /*; DROP TABLE events */") == [{"one": 1}]


def test_json_output_carries_every_duckdb_type(home: Path) -> None:
    """--json never crashes on what an analyst's query returns (SUMMARIZE gives DECIMALs)."""
    rows = allowed(home, "SELECT 1.5 AS d, DATE '2026-01-02' AS day, TIME '10:00' AS t, "
                         "INTERVAL 2 DAY AS i, 'ab'::BLOB AS b, 'nan'::DOUBLE AS n, "
                         "['-inf'::DOUBLE] AS l, MAP {1: 2.5} AS m, TIMESTAMP '2026-01-01' AS ts, "
                         "TIMESTAMPTZ '2026-01-01 00:00Z' AS tz, uuid() IS NOT NULL AS u")
    assert rows[0] | {"u": True} == {
        "d": 1.5, "day": "2026-01-02", "t": "10:00:00", "i": 172800.0, "b": "YWI=", "n": None,
        "l": [None], "m": {"1": 2.5}, "ts": "2026-01-01T00:00:00",
        "tz": "2026-01-01T00:00:00.000000Z", "u": True}
    assert allowed(home, "SUMMARIZE kpi_readings")


KEYWORD_TEXT = st.lists(st.one_of(
    st.sampled_from(["delete", "DROP", "insert", "update", "attach", "copy", "install", "load",
                     "pragma", "set", "call", "read_csv('/etc/passwd')", "glob", ";", "--",
                     "/*", "*/", "'", "''", "\\", "$$", "\n", "\t"]),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
            max_size=8)), max_size=12).map("".join)


@fuzz(40)
@given(text=KEYWORD_TEXT)
def test_any_text_in_a_string_literal_is_allowed_and_read_back(home: Path, text: str) -> None:
    literal = "'" + text.replace("'", "''") + "'"
    assert allowed(home, f"SELECT {literal} AS s") == [{"s": text}]


STATEMENTS = ["DELETE FROM events", "DROP TABLE events", "INSERT INTO events SELECT * FROM "
              "events", "UPDATE events SET actor = 'x'", "COPY events TO '/tmp/okr-leak.csv'",
              "ATTACH '/tmp/okr-leak.db' AS x", "INSTALL httpfs", "LOAD httpfs",
              "SET threads = 1", "PRAGMA threads = 1", "CALL pragma_version()",
              "SELECT * FROM read_text('/etc/passwd')", "SELECT * FROM glob('/*')",
              "CREATE TABLE t AS SELECT 1", "ALTER TABLE events RENAME TO e"]


@st.composite
def disguised(draw: st.DrawFn) -> str:
    """A forbidden statement in mixed case, with comments, whitespace, wrappers and friends."""
    words = draw(st.sampled_from(STATEMENTS)).split(" ")
    words = ["".join(c.upper() if draw(st.booleans()) else c.lower() for c in w)
             if "'" not in w else w for w in words]
    glue = st.sampled_from([" ", "\n", "\t", " /* x */ ", "/**/", "  \r\n "])
    sql = words[0] + "".join(draw(glue) + w for w in words[1:])
    wrap = draw(st.sampled_from(["{}", "/* c */ {}", "-- c\n{}", "SELECT 1; {}", "{};",
                                 "{}; SELECT 1", "WITH q AS (SELECT 1) {}", " \n {} -- end",
                                 "EXPLAIN {}", "VALUES (1); {}"]))
    return wrap.format(sql)


@fuzz(40)
@given(sql=disguised())
def test_disguised_writes_and_file_reads_are_refused(home: Path, sql: str) -> None:
    refused(home, sql)
    assert not Path("/tmp/okr-leak.csv").exists() and not Path("/tmp/okr-leak.db").exists()


# ---- the second line of defence: DuckDB's own lock-down ----------------------------------

def test_a_locked_down_projection_refuses_files_extensions_and_settings_on_its_own(
        home: Path, outside: Path) -> None:
    """Even if the parser check were bypassed, DuckDB itself refuses."""
    db = home / "okr.duckdb"
    before = digest(db)
    with Projection(db, read_only=True) as proj:
        proj.lock_down()
        for sql in [*(f"SELECT * FROM {f}('/etc/passwd')" for f in (
                        "read_csv", "read_csv_auto", "read_text", "read_blob", "read_json",
                        "read_json_auto", "read_parquet", "parquet_scan", "parquet_metadata",
                        "sniff_csv", "glob")),
                    "SELECT * FROM '/etc/passwd'",
                    f"COPY events TO '{outside}/leak.csv'", f"EXPORT DATABASE '{outside}/dump'",
                    f"ATTACH '{outside}/new.db' AS n", "ATTACH ':memory:' AS m",
                    "INSTALL httpfs", "LOAD httpfs", "SET enable_external_access = true",
                    "SET lock_configuration = false", "SET threads = 1", "PRAGMA threads = 2",
                    "DELETE FROM events", "DROP TABLE events", "CREATE TABLE t (a INT)",
                    "UPDATE events SET actor = 'x'"]:
            with pytest.raises(QueryFailed) as exc:
                proj.query(sql)
            # DuckDB itself refused it (the read-only connection, the locked configuration)
            assert type(exc.value.__cause__).__module__.startswith(("duckdb", "_duckdb")), sql
        _, rows = proj.query("SELECT count(*) FROM events")
        assert rows[0][0] > 0
    assert digest(db) == before and list(outside.iterdir()) == []


# ---- a row cap, a time limit, Ctrl-C ---------------------------------------------------

def test_a_query_without_rows_still_names_its_columns(home: Path) -> None:
    """README's `okr sql` example once answered nothing at all: no row and no column names."""
    sql = "SELECT key_result, value, note FROM check_ins WHERE value < 0"
    shown = {fmt: okr(home, "sql", sql, "--format", fmt) for fmt in ("tsv", "csv", "table")}
    assert all(r.code == 0 and r.stderr == "" for r in shown.values()), shown
    assert shown["tsv"].stdout == "key_result\tvalue\tnote\n"
    assert shown["csv"].stdout.splitlines() == ["key_result,value,note"]
    table = shown["table"].stdout
    assert all(name in table for name in ("key_result", "value", "note"))
    assert table.rstrip().endswith("0 rows")


def test_rows_beyond_the_limit_are_cut_and_it_says_so(home: Path) -> None:
    result = okr(home, "sql", "SELECT range AS n FROM range(25000)", "--json")
    assert result.code == 0, str(result)
    rows = json.loads(result.stdout)
    assert [r["n"] for r in rows] == list(range(10_000))
    assert result.stderr == ("okr: showing the first 10,000 rows; there are more "
                             "(--limit N shows more)\n")
    few = okr(home, "sql", "SELECT range AS n FROM range(25000) ORDER BY n DESC",
              "--limit", "3", "--format", "csv")
    assert few.code == 0 and few.stdout == "n\n24999\n24998\n24997\n", str(few)
    assert "first 3 rows" in few.stderr
    exact = okr(home, "sql", "SELECT range AS n FROM range(3)", "--limit", "3", "--json")
    assert exact.code == 0 and exact.stderr == "" and len(json.loads(exact.stdout)) == 3


@pytest.mark.real_clock
def test_a_query_past_its_time_limit_is_stopped_in_one_line(home: Path) -> None:
    """A large cross join ran until killed, holding the work file."""
    line = refused(home, "SELECT count(*) FROM range(1000000000) a, range(1000000000) b "
                         "WHERE a.range + b.range = 7", "--timeout", "0.5")
    assert line == ("okr: error: the query ran longer than 0.5 s and was stopped "
                    "(--timeout SECONDS allows more)")
    assert allowed(home, "SELECT count(*) AS n FROM events")  # the file is free again


def test_ctrl_c_ends_a_query_in_one_line_with_exit_130(home: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_"))}
    env.update(OKR_HOME=str(home), OKR_INLINE_PUBLISH="off")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from okr.cli.main import run; run()", "sql",
         "SELECT count(*) FROM range(1000000000) a, range(1000000000) b", "--timeout", "600"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fds = Path(f"/proc/{proc.pid}/fd")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # until DuckDB has the file
        try:
            if any(str(p.resolve()).endswith("okr.duckdb") for p in fds.iterdir()):
                break
        except OSError:
            pass
        time.sleep(0.05)
    time.sleep(0.3)  # into the query
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (130, "", "okr: interrupted\n")
