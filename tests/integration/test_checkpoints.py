"""Checkpoints the relay keeps (issue 16): every flush ends with a signed checkpoint over the
chain head and the Merkle tree head, kept in the relay's own file; after a broker wipe the
relay republishes them, and it refuses to sign a history that contradicts one — a store edit,
an older store copied back, a replaced signing key."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from okr.adapters import kafka_client
from okr.ledger.app import OkrLedger
from okr.record import checkpoints as own
from okr.record import merkle, signing
from okr.record.envelope import Envelope, canonical_json
from tests.integration.conftest import Env
from tests.integration.test_relay import checkpoints, fill, topic_records
from tests.support.generator import Shape

pytestmark = pytest.mark.integration


def wipe_broker_topics(env: Env) -> None:
    """What a restart of the memory-only local broker does to our topics."""
    s = env.settings
    client = kafka_client.admin(s, s.kafka_bootstrap_servers or "")
    try:
        client.delete_topics([s.topic_ledger, s.topic_checkpoints])
    finally:
        client.close()


def more(env: Env, year: int) -> None:
    """A few more stored events (new cycles), not published."""
    app = OkrLedger(env.settings)
    try:
        for q in (1, 2, 3):
            app.add_cycle(f"{year}-Q{q}")
    finally:
        app.close()


def own_lines(env: Env) -> list[dict]:
    path = own.own_file(env.settings, env.settings.topic_ledger)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def edit_check_in(env: Env, offset: int = 3) -> int:
    with sqlite3.connect(env.home / "events.sqlite") as conn:
        rowid, state = conn.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE "
                                    "'%CheckInRecorded' LIMIT 1 OFFSET ?", (offset,)).fetchone()
        doc = json.loads(state)
        doc["value"] = 777
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                     (json.dumps(doc).encode(), rowid))
    return int(rowid)


@pytest.fixture
def small(env: Env) -> Env:
    fill(env, Shape(seed=5, teams=1, quarters=1, kpis=1))
    env.ok("relay", "--once")
    return env


def test_every_flush_ends_with_a_signed_checkpoint_over_the_tree_head(small: Env) -> None:
    more(small, 2031)
    out = json.loads(small.ok("relay", "--once", "--json"))
    cps = checkpoints(small)
    assert len(cps) >= 2 and own_lines(small)[-1]["count"] == out["count"] == cps[-1]["count"]
    envs = sorted({e.position: e for e in (Envelope.from_bytes(m.value or b"")
                                           for m in topic_records(small))}.values(),
                  key=lambda e: e.position)
    leaves = [merkle.envelope_leaf(e.hash) for e in envs]
    ok = signing.verifier(signing.public_key_pem(small.settings.signing_key_file))
    for cp in cps:
        assert ok(cp) and cp["root"] == merkle.root(leaves[:cp["count"]]).hex()
        assert cp["head_hash"] == envs[cp["count"] - 1].hash
    assert "range" not in cps[-1]  # the compact range stays in the relay's own file


def test_a_broker_wipe_does_not_launder_a_store_edit(small: Env) -> None:
    """Attack 1: edit a check-in in events.sqlite, restart the memory broker, relay: the relay
    re-chained and re-signed whatever the store held. Now it refuses, and signs nothing."""
    before = own_lines(small)
    edit_check_in(small)
    wipe_broker_topics(small)
    proc = small.run("relay", "--once")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("okr: ALARM: ") and len(proc.stderr.splitlines()) == 1
    assert "contradicts" in proc.stderr
    assert own_lines(small) == before
    assert all(cp["time"] in {b["time"] for b in before} for cp in checkpoints(small))


def test_after_a_broker_wipe_the_relay_republishes_its_checkpoints(small: Env) -> None:
    signed = own_lines(small)
    wipe_broker_topics(small)
    small.ok("relay", "--once")
    times = {cp["time"] for cp in checkpoints(small)}
    assert {cp["time"] for cp in signed} <= times


def test_an_older_store_copied_back_is_refused(small: Env, tmp_path: Path) -> None:
    """Rollback: the store as it was, before later events were signed."""
    shutil.copy(small.home / "events.sqlite", tmp_path / "old.sqlite")
    more(small, 2032)
    small.ok("relay", "--once")
    shutil.copy(tmp_path / "old.sqlite", small.home / "events.sqlite")
    proc = small.run("relay", "--once")
    assert proc.returncode == 1 and "fewer than" in proc.stderr, proc.stderr
    # … and new writes on the old copy reuse signed positions: still refused
    more(small, 2033)
    wipe_broker_topics(small)
    proc = small.run("relay", "--once")
    assert proc.returncode == 1 and "contradicts" in proc.stderr, proc.stderr


def test_a_replaced_signing_key_is_refused(small: Env) -> None:
    key = small.settings.signing_key_file
    key.unlink()
    signing.public_key_pem(key)  # someone else's key in its place
    more(small, 2034)
    proc = small.run("relay", "--once")
    assert proc.returncode == 1 and "replaced" in proc.stderr, proc.stderr


def test_verify_says_incomplete_after_a_broker_wipe_until_the_relay_ran(small: Env) -> None:
    """Issue 16 item 7: an untouched ledger on a restarted memory broker is not 'tampered'."""
    wipe_broker_topics(small)
    proc = small.run("audit", "verify")
    assert proc.returncode == 3 and "okr relay" in proc.stdout, proc.stdout + proc.stderr
    small.ok("relay", "--once")
    proc = small.run("audit", "verify")
    assert proc.returncode == 0, proc.stdout


def test_checkpoints_an_auditor_kept_catch_a_rewritten_history(small: Env,
                                                               tmp_path: Path) -> None:
    """An insider removes the relay's memory and has it re-sign an edited store: the log and
    its checkpoints agree with each other, but not with what the auditor kept."""
    kept = tmp_path / "kept.jsonl"
    out = json.loads(small.ok("audit", "checkpoints", "--out", str(kept), "--json"))
    assert out["checkpoints"] >= 1 and kept.read_text().count("\n") == out["checkpoints"]
    piped = small.run("audit", "checkpoints", "--out", "-")  # `--out -` is stdout, only them
    assert piped.returncode == 0 and piped.stdout == kept.read_text(), piped.stderr
    own.own_file(small.settings, small.settings.topic_ledger).unlink()
    edit_check_in(small)
    wipe_broker_topics(small)
    small.ok("relay", "--once")
    assert small.run("audit", "verify").returncode == 0  # consistent with itself
    proc = small.run("audit", "verify", "--trusted", str(kept), "--json")
    assert proc.returncode == 1, proc.stdout
    assert json.loads(proc.stdout)["first_problem"]["where"] == "trusted"


def test_prove_prints_an_inclusion_proof_against_the_signed_tree_head(small: Env) -> None:
    out = json.loads(small.ok("audit", "prove", "3", "--json"))
    assert out["position"] == 3 and out["tree_size"] >= 3
    merkle.verify_inclusion(out["leaf_index"], out["tree_size"],
                            merkle.envelope_leaf(out["hash"]),
                            [bytes.fromhex(p) for p in out["proof"]], bytes.fromhex(out["root"]))
    ok = signing.verifier(signing.public_key_pem(small.settings.signing_key_file))
    assert ok(out["checkpoint"]) and out["checkpoint"]["root"] == out["root"]
    assert small.run("audit", "prove", "999999").returncode == 2


def test_a_cycle_bundle_proves_its_events_offline_against_kept_checkpoints(
        small: Env, tmp_path: Path) -> None:
    kept = tmp_path / "kept.jsonl"
    small.ok("audit", "checkpoints", "--out", str(kept))
    more(small, 2036)  # later events: the bundle's head extends what the auditor kept
    small.ok("relay", "--once")
    envs = [Envelope.from_bytes(m.value or b"") for m in topic_records(small)]
    cycle = next(e.data["key"] for e in envs if e.type == "CycleAdded")
    bundle = tmp_path / "bundle"
    out = json.loads(small.ok("audit", "export", "--cycle", cycle, "--out", str(bundle),
                              "--json"))
    assert 0 < out["events"] < out["tree_size"] and not (bundle / "chain.jsonl").exists()
    auditor = Env(tmp_path / "auditor", {**small.environ, "OKR_HOME": str(tmp_path / "auditor"),
                                         "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    pem = tmp_path / "relay.pem"
    pem.write_text(signing.public_key_pem(small.settings.signing_key_file))
    args = ("audit", "verify", "--bundle", str(bundle), "--public-key", str(pem), "--json")
    proc = auditor.run(*args, "--trusted", str(kept))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = (bundle / "events.jsonl").read_bytes().splitlines()
    (bundle / "events.jsonl").write_bytes(b"\n".join(lines[:-1]) + b"\n")  # one event cut
    proc = auditor.run(*args)
    assert proc.returncode == 1 and json.loads(proc.stdout)["first_problem"]["problem"] == \
        "missing"
    doc = json.loads(lines[0])
    doc["actor"] = "mallory"
    (bundle / "events.jsonl").write_bytes(b"\n".join([canonical_json(doc), *lines[1:]]) + b"\n")
    proc = auditor.run(*args)
    assert proc.returncode == 1 and json.loads(proc.stdout)["first_problem"]["position"] == \
        doc["position"]


def test_audit_out_paths_that_cannot_be_written_are_bad_input(small: Env,
                                                              tmp_path: Path) -> None:
    """An --out in a missing folder, a directory, or under a file was 'data directory not
    usable' (exit 4, pointing at --home/OKR_HOME): the user's path is bad input (exit 2),
    named in one line, with nothing written (tests/unit/test_new_commands_bad_input.py has
    the commands that need no broker)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("kept", encoding="utf-8")
    envs = [Envelope.from_bytes(m.value or b"") for m in topic_records(small)]
    cycle = next(e.data["key"] for e in envs if e.type == "CycleAdded")
    for args in (["audit", "checkpoints", "--out", str(tmp_path / "no-such" / "cp.jsonl")],
                 ["audit", "checkpoints", "--out", str(tmp_path)],
                 ["audit", "export", "--cycle", cycle, "--out", str(blocker)],
                 ["audit", "export", "--cycle", cycle, "--out", str(blocker / "bundle")]):
        proc = small.run(*args)
        assert proc.returncode == 2, f"{args}: {proc.stderr}"
        assert proc.stderr.startswith("okr: error: cannot write --out ") and \
            proc.stderr.count("\n") == 1 and "OKR_HOME" not in proc.stderr, proc.stderr
    assert blocker.read_text(encoding="utf-8") == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "home"]


@pytest.mark.parametrize("event", ["999999", "-1", "0x3", "not-an-id", "\x1b]8;;x\x1b\\[/]"])
def test_prove_refuses_an_unknown_event_in_one_line(small: Env, event: str) -> None:
    proc = small.run("audit", "prove", "--", event)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.count("\n") == 1 and "\x1b" not in proc.stderr, proc.stderr
