"""`okr user list`: every user of the web app and API in one row — role, team, whether a
password is set, live and revoked tokens, disabled (when, by whom, why), added (when, by whom)
— read from a real SQLite event store through the real CLI; never a token, a token's hash or a
password's hash; stored text (teams, reasons) is data in every format."""

import csv
import io
import json
from pathlib import Path

from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from okr.web.tokens import digest
from tests.fuzzing import Result, okr
from tests.support.hostile_text import CORPUS, guarded, raw_controls

FORMATS = (("--format", "table"), ("--format", "tsv"), ("--format", "csv"), ("--json",))


def ok(r: Result) -> str:
    assert r.code == 0 and not r.stderr, str(r)
    return r.stdout


def staffed(home: Path) -> dict[str, str]:
    """lee (admin, password), mia (member of sales, a live and a revoked token), vic (viewer,
    disabled): the secrets each command showed once, by what they are."""
    ok(okr(home, "user", "add", "lee", "--role", "admin"))
    ok(okr(home, "user", "add", "mia", "--role", "member", "--team", "sales"))
    ok(okr(home, "user", "add", "vic", "--role", "viewer", "--on-behalf-of", "hr"))
    app = OkrLedger(load_settings({"home": home}))
    from okr.web.passwords import hash_password
    app.set_password("lee", hash_password("correct horse battery"))
    lee_hash = app.user("lee").password_hash
    app.close()
    kept = json.loads(ok(okr(home, "token", "create", "mia", "--json")))
    gone = json.loads(ok(okr(home, "token", "create", "mia", "--json")))
    ok(okr(home, "token", "revoke", "mia", gone["token_id"], "--reason", "leaked"))
    ok(okr(home, "user", "disable", "vic", "--reason", "left the team"))
    assert lee_hash is not None
    return {"kept": kept["token"], "gone": gone["token"], "lee hash": lee_hash}


def test_user_list_json_has_one_row_per_user_with_role_tokens_and_lockout(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    staffed(home)
    rows = json.loads(ok(okr(home, "user", "list", "--json")))
    assert [r["name"] for r in rows] == ["lee", "mia", "vic"]
    lee, mia, vic = rows
    assert set(lee) == {"name", "role", "team", "password_set", "password_set_at",
                        "tokens_live", "tokens_revoked", "disabled", "added"}
    assert (lee["role"], lee["team"], lee["password_set"]) == ("admin", "", True)
    assert lee["password_set_at"].endswith("Z") and lee["disabled"] is None
    assert (mia["role"], mia["team"], mia["password_set"]) == ("member", "sales", False)
    assert (mia["tokens_live"], mia["tokens_revoked"]) == (1, 1)
    assert mia["password_set_at"] is None and mia["disabled"] is None
    assert (vic["tokens_live"], vic["tokens_revoked"]) == (0, 0)
    assert vic["disabled"]["reason"] == "left the team"
    assert vic["disabled"]["by"] == lee["added"]["by"] and vic["disabled"]["at"].endswith("Z")
    assert vic["added"]["on_behalf_of"] == "hr" and lee["added"]["on_behalf_of"] is None
    assert vic["added"]["at"] <= vic["disabled"]["at"]
    # the global --json switch answers the same
    assert json.loads(ok(okr(home, "--json", "user", "list"))) == rows


def test_user_list_table_shows_a_disabled_user_and_who_disabled_them_why(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    staffed(home)
    lines = ok(okr(home, "user", "list")).splitlines()  # piped: TSV
    header = lines[0].split("\t")
    assert header[:7] == ["user", "role", "team", "password", "live tokens", "revoked tokens",
                          "status"]
    by_name = {line.split("\t")[0]: dict(zip(header, line.split("\t"), strict=True))
               for line in lines[1:]}
    assert set(by_name) == {"lee", "mia", "vic"}
    assert by_name["vic"]["status"] == "disabled" and by_name["vic"]["reason"] == "left the team"
    assert by_name["vic"]["disabled"].endswith("Z)")  # in the person's zone, UTC beside it
    assert by_name["vic"]["disabled by"] == by_name["lee"]["added by"] != "-"
    assert by_name["lee"]["status"] == "enabled" and by_name["lee"]["reason"] == "-"
    assert (by_name["lee"]["password"], by_name["mia"]["password"]) == ("set", "not set")
    assert (by_name["mia"]["live tokens"], by_name["mia"]["revoked tokens"]) == ("1", "1")
    assert by_name["mia"]["team"] == "sales" and by_name["lee"]["team"] == "-"


def test_user_list_never_prints_a_token_or_a_hash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    secrets = staffed(home)
    app = OkrLedger(load_settings({"home": home}))
    stored = [h for u in ("lee", "mia", "vic") for h in app.user(u).token_hashes.values()]
    app.close()
    forbidden = [secrets["kept"], secrets["gone"], digest(secrets["kept"]),
                 digest(secrets["gone"]), secrets["lee hash"], "$argon2id", *stored]
    for fmt in FORMATS:
        out = ok(okr(home, "user", "list", *fmt))
        assert not [s for s in forbidden if s in out], fmt


def test_user_list_shows_hostile_teams_and_reasons_as_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    app = OkrLedger(load_settings({"home": home}))
    names = {}
    for i, text in enumerate(CORPUS.values()):
        name = f"u{i:02d}"
        names[name] = text
        app.add_user(name, "member", text[:100])
        app.disable_user(name, text[:1000])
    app.close()
    rows = json.loads(ok(okr(home, "user", "list", "--json")))
    for r in rows:  # JSON keeps the exact text
        text = names[r["name"]]
        assert r["team"] == text[:100].strip() and r["disabled"]["reason"] == text[:1000].strip()
    for fmt in FORMATS[:3]:
        out = ok(okr(home, "user", "list", *fmt))  # TSV's own tabs separate its cells
        assert raw_controls(out.replace("\t", "") if "tsv" in fmt else out) == [], fmt
    tsv = ok(okr(home, "user", "list", "--format", "tsv")).splitlines()
    assert len(tsv) == 1 + len(CORPUS)  # a newline in a team or reason never splits a row
    header = tsv[0].split("\t")
    got = list(csv.reader(io.StringIO(ok(okr(home, "user", "list", "--format", "csv")))))
    for line, cells in zip(tsv[1:], got[1:], strict=True):
        shown = dict(zip(header, line.split("\t"), strict=True))
        row = dict(zip(got[0], cells, strict=True))
        assert row["team"] == guarded(shown["team"]) and row["reason"] == guarded(
            shown["reason"])


def refused_like_a_read(home: Path, *commands: tuple[str, ...]) -> None:
    expected = okr(home, "list", "cycles")
    assert expected.code == 2 and expected.stderr.count("\n") == 1, str(expected)
    for args in commands:
        r = okr(home, *args)
        assert (r.code, r.stdout, r.stderr) == (2, "", expected.stderr), (args, str(r))
        assert not home.exists() or not any(home.iterdir()), (args, list(home.iterdir()))


def test_user_list_without_a_ledger_is_the_reads_one_line_refusal(tmp_path: Path) -> None:
    refused_like_a_read(tmp_path / "home", ("user", "list"), ("user", "list", "--json"))


def test_token_list_without_a_ledger_is_refused_and_starts_none(tmp_path: Path) -> None:
    """It listed nothing and left an empty events.sqlite behind: a ledger no write started."""
    refused_like_a_read(tmp_path / "home", ("token", "list"), ("token", "list", "--json"))


def test_user_list_of_a_ledger_without_users_is_empty(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(okr(home, "cycle", "add", "2026-Q4"))
    assert json.loads(ok(okr(home, "user", "list", "--json"))) == []
    assert ok(okr(home, "user", "list", "--format", "table")).strip() == "no users"
    assert ok(okr(home, "user", "list", "--format", "tsv")).count("\n") == 1  # the header
