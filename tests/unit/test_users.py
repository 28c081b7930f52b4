"""`okr user add` and `okr token create`: users and roles are ledger events; a token is shown
once and only its SHA-256 is recorded; `okr serve` without the web extra says how to get it."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from okr.web.tokens import digest, matches, user_of
from tests.fuzzing import okr


def test_user_add_records_the_role_and_team_with_the_actor(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = okr(home, "user", "add", "mia", "--role", "member", "--team", "sales", "--json")
    assert r.code == 0, str(r)
    assert json.loads(r.stdout)["role"] == "member"
    app = OkrLedger(load_settings({"home": home}))
    mia = app.user("mia")
    assert (mia.role, mia.team) == ("member", "sales")
    assert app.repository.get(mia.id, version=1).key == "mia"
    events = app.recorder.select_events(mia.id)
    assert f'"actor":"{app.principal}"'.encode() in events[0].state  # who ran okr


def test_bad_roles_and_members_without_a_team_are_refused_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = okr(home, "user", "add", "x", "--role", "root")
    assert r.code == 2 and "role 'root' is not one of: viewer, member" in r.stderr
    r = okr(home, "user", "add", "x", "--role", "member")
    assert r.code == 2 and "--team" in r.stderr
    okr(home, "user", "add", "x", "--role", "viewer")
    r = okr(home, "user", "add", "x", "--role", "viewer")
    assert r.code == 2 and "already exists" in r.stderr


def test_a_token_is_shown_once_and_only_its_hash_is_recorded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    okr(home, "user", "add", "vic", "--role", "viewer")
    r = okr(home, "token", "create", "vic", "--json")
    assert r.code == 0, str(r)
    token = json.loads(r.stdout)["token"]
    assert user_of(token) == "vic"
    app = OkrLedger(load_settings({"home": home}))
    hashes = app.user("vic").token_hashes
    assert list(hashes.values()) == [digest(token)] and matches(token, hashes)
    assert not matches(token + "x", hashes)
    stored = b"".join(e.state for e in app.recorder.select_events(app.user("vic").id))
    assert token.encode() not in stored
    assert okr(home, "token", "create", "nobody").code == 2


def test_a_token_shown_on_the_terminal_stands_on_a_line_of_its_own(tmp_path: Path) -> None:
    """The secret is the line after the prose, as it is (it was glued to the prose by a
    visible ␊ once: the newline went through the escaping meant for stored text)."""
    home = tmp_path / "home"
    okr(home, "user", "add", "vic", "--role", "viewer")
    r = okr(home, "token", "create", "vic")
    assert r.code == 0, str(r)
    lines = r.stdout.splitlines()
    assert lines[0].endswith("for vic (shown once; keep it secret):"), lines
    assert user_of(lines[1]) == "vic" and "\u240a" not in r.stdout, lines
    stored = OkrLedger(load_settings({"home": home})).user("vic").token_hashes
    assert matches(lines[1], stored)


def test_serve_without_the_web_extra_says_how_to_install_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    okr(home, "user", "add", "vic", "--role", "viewer")
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    # Fault injection: a FastAPI that cannot be imported, as on an install without [web].
    (shadow / "fastapi.py").write_text("raise ImportError('No module named fastapi')\n")
    code = ("import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv = ['okr', '--home', "
            "sys.argv.pop(1), 'serve', '--port', '1']\nfrom okr.cli.main import run\nrun()\n")
    proc = subprocess.run([sys.executable, "-P", "-c", code, str(shadow), str(home)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "pip install 'okr-ledger[web]'" in proc.stderr


def test_a_password_from_stdin_is_recorded_only_as_its_argon2id_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from okr.web.passwords import verify

    home = tmp_path / "home"
    okr(home, "user", "add", "dee", "--role", "viewer")
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    r = okr(home, "user", "password", "dee", "--stdin", "--json")
    assert r.code == 0, str(r)
    assert json.loads(r.stdout)["password"] == "set" and "correct horse" not in r.stdout
    app = OkrLedger(load_settings({"home": home}))
    recorded = app.user("dee").password_hash
    assert recorded is not None and recorded.startswith("$argon2id$v=19$")
    assert verify("correct horse battery", recorded) and not verify("correct horse batter",
                                                                     recorded)
    stored = b"".join(e.state for e in app.recorder.select_events(app.user("dee").id))
    assert b"correct horse" not in stored


def test_a_short_password_a_missing_prompt_and_an_unknown_user_are_one_line_refusals(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    home = tmp_path / "home"
    okr(home, "user", "add", "dee", "--role", "viewer")
    said = []
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    r = okr(home, "user", "password", "dee", "--stdin")
    assert r.code == 2 and "12 characters at least" in r.stderr and "short" not in r.stderr
    said.append(r.stderr)
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))  # not a terminal
    r = okr(home, "user", "password", "dee")
    assert r.code == 2 and "--stdin" in r.stderr
    said.append(r.stderr)
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    r = okr(home, "user", "password", "nobody", "--stdin")
    assert r.code == 2 and "user 'nobody' not found" in r.stderr
    said.append(r.stderr)
    for err in said:
        assert len(err.strip().splitlines()) == 1, err
    app = OkrLedger(load_settings({"home": home}))
    assert app.user("dee").password_hash is None


def test_the_password_prompt_asks_twice_and_never_echoes(tmp_path: Path) -> None:
    """`okr user password NAME` at a terminal (a pseudo-terminal here): two prompts, the
    characters typed not shown, a mismatch asked again, only the hash recorded."""
    import os
    import pty
    import select
    import time

    home = tmp_path / "home"
    okr(home, "user", "add", "dee", "--role", "viewer")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_"))}
    env.update(OKR_HOME=str(home), OKR_INLINE_PUBLISH="off")
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "okr"), "user", "password",
                             "dee"], stdin=secondary, stdout=secondary, stderr=secondary,
                            env=env, start_new_session=True)
    os.close(secondary)
    seen = b""
    typing = (b"first long password", b"not the same one!!", b"correct horse battery",
              b"correct horse battery")

    def read_until(done: Callable[[bytes], bool]) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while not done(seen):
            assert time.monotonic() < deadline, seen
            if select.select([primary], [], [], 1)[0]:
                try:
                    seen += os.read(primary, 4096)
                except OSError:  # the other end closed: the command ended
                    return

    try:
        for typed in typing:
            mark = len(seen)
            read_until(lambda b, m=mark: len(b) > m and b.endswith(b": "))  # a prompt waits
            os.write(primary, typed + b"\n")
        read_until(lambda b: b"password set for dee" in b)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    assert b"do not match" in seen and not any(t in seen for t in typing)
    app = OkrLedger(load_settings({"home": home}))
    from okr.web.passwords import verify
    assert verify("correct horse battery", app.user("dee").password_hash)


def test_disable_enable_and_revoke_answer_json_and_list_tokens_without_secrets(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    okr(home, "user", "add", "vic", "--role", "viewer")
    token = json.loads(okr(home, "token", "create", "vic", "--json").stdout)
    r = okr(home, "user", "disable", "vic", "--reason", "left", "--json")
    assert r.code == 0 and json.loads(r.stdout)["disabled"] is True, str(r)
    r = okr(home, "user", "enable", "vic", "--reason", "back", "--json")
    assert r.code == 0 and json.loads(r.stdout)["disabled"] is False, str(r)
    r = okr(home, "token", "revoke", "vic", token["token_id"], "--reason", "leaked", "--json")
    assert json.loads(r.stdout)["revoked"] == [token["token_id"]], str(r)
    for args in (("token", "list"), ("token", "list", "vic", "--json")):
        r = okr(home, *args)
        assert r.code == 0 and token["token_id"] in r.stdout, str(r)
        assert token["token"] not in r.stdout and digest(token["token"]) not in r.stdout
    (row,) = json.loads(okr(home, "token", "list", "--json").stdout)
    assert row["revoked"]["reason"] == "leaked" and row["revoked"]["by"] == row["created_by"]
    assert row["user_disabled"] is False


def test_revocations_survive_a_snapshot_of_the_user(tmp_path: Path) -> None:
    """A user of more than SNAPSHOT_EVERY events is loaded from a snapshot: the revoked
    tokens and the lockout are in it (a JSON list and a flag), and users snapshotted before
    either existed read back with none (class defaults)."""
    from okr.ledger.app import SNAPSHOT_EVERY

    home = tmp_path / "home"
    app = OkrLedger(load_settings({"home": home}))
    app.add_user("vic", "viewer")
    for i in range(SNAPSHOT_EVERY + 1):
        app.issue_token("vic", f"{i:016x}", f"{i:064x}")
    app.revoke_token("vic", f"{0:016x}", "leaked")  # after the snapshot at version 100
    app.disable_user("vic", "left")
    for i in range(SNAPSHOT_EVERY):  # and in the one at version 200
        app.issue_token("vic", f"{i + 500:016x}", f"{i:064x}")
    app.close()
    again = OkrLedger(load_settings({"home": home}))
    vic = again.user("vic")
    assert list(vic.revoked) == [f"{0:016x}"] and vic.disabled
    assert vic.live_token_hashes == {}
    again.enable_user("vic", "back")
    live = OkrLedger(load_settings({"home": home})).user("vic").live_token_hashes
    assert f"{0:016x}" not in live and len(live) == 2 * SNAPSHOT_EVERY
