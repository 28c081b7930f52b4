"""The web server's session-signing secret is made whole or not at all (a reviewer of the
interrupt work: it was created empty and filled in a second step, so a server stopped in
between — or a second server reading it meanwhile — signed sessions with an empty key)."""

import secrets
import stat
from pathlib import Path

import pytest

from okr.errors import DataDirUnavailable
from okr.web.auth import load_secret


def test_a_failure_while_making_the_secret_leaves_no_empty_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Stopped(Exception):
        pass

    def stop(*_: object) -> str:
        raise Stopped

    with monkeypatch.context() as m:
        m.setattr(secrets, "token_hex", stop)
        with pytest.raises(Stopped):
            load_secret(tmp_path)
    assert list(tmp_path.iterdir()) == []  # no empty or partial web-secret, no leftover
    key = load_secret(tmp_path)
    assert len(key) == 32 and key == load_secret(tmp_path)
    assert stat.S_IMODE((tmp_path / "web-secret").stat().st_mode) == 0o600


def test_a_damaged_secret_is_refused_in_words_not_used(tmp_path: Path) -> None:
    (tmp_path / "web-secret").write_text("")
    with pytest.raises(DataDirUnavailable, match=r"web-secret at .* is not a 32-byte key"):
        load_secret(tmp_path)


def test_sign_outs_are_kept_private_and_a_damaged_file_is_one_line(tmp_path: Path) -> None:
    """web-signed-out.json (web/site.py SignedOut): when each user last signed out."""
    import json
    import time

    from okr.web.auth import SESSION_SECONDS
    from okr.web.site import SignedOut

    path = tmp_path / "web-signed-out.json"
    path.write_text(json.dumps({"old": time.time() - SESSION_SECONDS - 5}))
    kept = SignedOut(path)
    kept.record("ana")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(path.read_text())) == {"ana"}  # one too old to end a session: gone
    assert SignedOut(path).at("ana") == kept.at("ana") <= time.time()
    assert kept.at("bob") == float("-inf")
    path.write_text("{not json")
    with pytest.raises(DataDirUnavailable) as damaged:
        SignedOut(path).at("ana")  # as a server starts
    assert "\n" not in str(damaged.value) and "remove it" in str(damaged.value)
    assert kept.at("ana") > 0  # a server already serving keeps what it read last


@pytest.mark.real_clock  # times a wait (threading.Event.wait): never ends under libfaketime
def test_two_servers_signing_out_at_once_keep_both_sign_outs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `okr serve` on one data directory (two SignedOut, as two processes hold them; a
    flock is per open file, so threads contend as processes do): ana's server is about to
    write the file when ben's signs out. Without a lock between them, ben's read the file
    without ana and ana's write dropped ben's — his copied cookie stayed valid."""
    import contextlib
    import threading
    from collections.abc import Iterator

    import okr.files
    from okr.web.site import SignedOut

    path = tmp_path / "web-signed-out.json"
    real = okr.files.new_file
    ana_writing, ben_done = threading.Event(), threading.Event()

    @contextlib.contextmanager
    def slow_first(target: Path) -> Iterator[Path]:  # fault injection: a slow first write
        if not ana_writing.is_set():
            ana_writing.set()
            ben_done.wait(1.0)  # with the lock, ben waits for this write instead
        with real(target) as tmp:
            yield tmp

    monkeypatch.setattr(okr.files, "new_file", slow_first)

    def ben() -> None:
        ana_writing.wait(5)
        SignedOut(path).record("ben")
        ben_done.set()

    other = threading.Thread(target=ben)
    other.start()
    SignedOut(path).record("ana")
    other.join(10)
    assert SignedOut(path).at("ben") > 0 and SignedOut(path).at("ana") > 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "web-signed-out.json"]  # no temporary file left beside it
