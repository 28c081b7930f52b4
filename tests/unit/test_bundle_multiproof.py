"""A cycle's audit bundle proves its events with one multiproof — each tree node it needs,
once — so its proof grows with the cycle, not the ledger; it verifies offline, catches a
forged or cut event and a padded proof, and bundles of the two earlier formats (an inclusion
proof per event; the whole chain) still verify."""

import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okr.cli.bundles import cycle_records, write_bundle
from okr.ledger.app import OkrLedger
from okr.record import merkle, signing
from okr.record.envelope import Envelope, canonical_json, chained_records
from okr.settings import load_settings
from tests.fuzzing import okr
from tests.support.clock import recording_at


def leaves_of(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@pytest.mark.parametrize("n", [*range(1, 40), 255, 256, 257, 1000])
def test_a_multiproof_recomputes_the_root_for_any_set_of_leaves(n: int) -> None:
    leaves = leaves_of(n)
    root = merkle.root(leaves)
    rng = random.Random(n)
    for k in {min(k, n) for k in (1, 2, n // 3 or 1, n)}:
        mine = sorted(rng.sample(range(n), k))
        nodes = merkle.multiproof(mine, leaves)
        assert merkle.root_from_multiproof(n, {i: leaves[i] for i in mine}, nodes) == root
        # exactly the distinct siblings of the inclusion proofs that no path derives
        paths = merkle.inclusion_proofs(mine, leaves)
        assert set(nodes.values()) <= {h for p in paths for h in p}
        assert len(nodes) <= sum(len(p) for p in paths)


def test_a_multiproof_refuses_a_changed_leaf_a_missing_node_and_a_node_too_many() -> None:
    leaves = leaves_of(100)
    mine = [3, 4, 50]
    nodes = merkle.multiproof(mine, leaves)
    known = {i: leaves[i] for i in mine}
    root = merkle.root(leaves)
    assert merkle.root_from_multiproof(100, {**known, 4: leaves[5]}, nodes) != root
    dropped = dict(nodes)
    dropped.pop(min(dropped))
    with pytest.raises(merkle.ProofError, match="lacks node"):
        merkle.root_from_multiproof(100, known, dropped)
    # a node over a leaf of the bundle would let a forged leaf hide under a true hash
    with pytest.raises(merkle.ProofError, match="do not need"):
        merkle.root_from_multiproof(100, known, {**nodes, (0, 4): leaves[4]})
    with pytest.raises(merkle.ProofError, match="do not need"):
        merkle.root_from_multiproof(100, known, {**nodes, (3, 9): leaves[0]})


def test_the_proof_of_a_contiguous_cycle_grows_with_the_cycle_not_the_ledger() -> None:
    """64 events typed together in a ledger of 4096, then of 65536: an inclusion proof each
    would carry 64 × 12, then 64 × 16 hashes; the multiproof carries each node once — at most
    two a level — and gains two hashes a doubling of the ledger, not one per event."""
    sizes = {}
    for n in (4096, 65536):
        leaves = leaves_of(n)
        mine = list(range(1000, 1064))
        sizes[n] = len(merkle.multiproof(mine, leaves))
        assert sizes[n] <= 2 * n.bit_length()
        assert sum(len(p) for p in merkle.inclusion_proofs(mine, leaves)) >= 64 * 12
    assert sizes[65536] - sizes[4096] <= 2 * 4


def history(home: Path, check_ins: int) -> OkrLedger:
    """A small cycle typed first, then a busy one: the ledger grows, the small cycle not."""
    app = OkrLedger(load_settings({"home": home}, environ={}))
    ticks = iter(range(10**7))
    with recording_at(lambda: datetime(2026, 10, 2, tzinfo=UTC)
                      + timedelta(microseconds=next(ticks))):
        app.add_cycle("2026-Q3")
        app.add_objective("small", "Small", cycle="2026-Q3", owner="ana")
        app.add_key_result("k-small", "One", objective="small", start=0, target=10)
        app.check_in("k-small", 3, at=datetime(2026, 7, 2, 12, tzinfo=UTC))
        app.add_cycle("2026-Q4")
        app.add_objective("busy", "Busy", cycle="2026-Q4", owner="bo")
        app.add_key_result("k-busy", "Many", objective="busy", start=0, target=10_000)
        for i in range(check_ins):
            app.check_in("k-busy", i, at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    return app


def export(app: OkrLedger, out: Path, cycle: str = "2026-Q3") -> dict:
    """What `okr audit export` writes, from the store's records (byte for byte the topic's),
    against a tree head signed with the ledger's key."""
    raws = [r.value for r in chained_records(app)]
    envs = [Envelope.from_bytes(r) for r in raws]
    leaves = [merkle.envelope_leaf(e.hash) for e in envs]
    mine = cycle_records(envs, cycle)
    key = app.settings.signing_key_file
    heads = {n: signing.sign(key, {"position": envs[n - 1].position,
                                   "head_hash": envs[n - 1].hash, "count": n,
                                   "root": merkle.root(leaves[:n]).hex(),
                                   "time": "2026-12-01T00:00:00.000000Z"})
             for n in (mine[-1] + 1, len(envs))}
    return write_bundle(out, cycle, "okr.ledger", [e.position for e in envs], raws, leaves,
                        mine, heads, len(envs), signing.public_key_pem(key))


def verify(bundle: Path, tmp_path: Path) -> tuple[int, dict]:
    result = okr(tmp_path / "auditor", "audit", "verify", "--bundle", str(bundle), "--json")
    assert result.crash is None, str(result)
    return result.code, json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory: pytest.TempPathFactory) -> dict[int, OkrLedger]:
    base = tmp_path_factory.mktemp("bundles")
    return {n: history(base / f"h{n}", n) for n in (40, 300)}


def test_a_bundle_verifies_offline_and_its_proof_does_not_grow_with_the_ledger(
        ledgers: dict[int, OkrLedger], tmp_path: Path) -> None:
    small, large = (export(ledgers[n], tmp_path / f"b{n}") for n in (40, 300))
    assert small["events"] == large["events"] == 4
    assert large["tree_size"] > 5 * small["tree_size"]
    # four events typed first: the rest of the tree is one node a level to their right
    assert large["proof_nodes"] <= large["tree_size"].bit_length() + 2
    code, verdict = verify(tmp_path / "b300", tmp_path)
    assert code == 0, verdict
    assert verdict["events"] == 4


def test_a_forged_cut_or_padded_bundle_fails(ledgers: dict[int, OkrLedger],
                                             tmp_path: Path) -> None:
    good = tmp_path / "good"
    export(ledgers[40], good)
    lines = (good / "events.jsonl").read_bytes().splitlines()

    def variant(name: str) -> Path:
        copy = tmp_path / name
        shutil.copytree(good, copy)
        return copy

    cut = variant("cut")
    (cut / "events.jsonl").write_bytes(b"\n".join(lines[:-1]) + b"\n")
    code, verdict = verify(cut, tmp_path)
    assert code == 1 and verdict["first_problem"]["problem"] == "missing", verdict

    forged = variant("forged")  # the value changed and the hash recomputed over the bytes
    doc = json.loads(lines[-1])
    doc["data"]["value"] = 777.0
    del doc["hash"]
    from okr.record.envelope import chain_hash
    doc["hash"] = chain_hash(doc["prev_hash"], doc)
    (forged / "events.jsonl").write_bytes(b"\n".join([*lines[:-1], canonical_json(doc)])
                                          + b"\n")
    code, verdict = verify(forged, tmp_path)
    assert code == 1 and verdict["first_problem"]["problem"] == "altered", verdict
    assert "not in the signed tree" in verdict["first_problem"]["detail"]

    padded = variant("padded")  # a node over one of its own leaves
    proof = json.loads((padded / "multiproof.json").read_text())
    proof["nodes"].append([0, proof["leaves"][0][1], "00" * 32])
    (padded / "multiproof.json").write_text(json.dumps(proof))
    code, verdict = verify(padded, tmp_path)
    assert code == 1 and "do not need" in verdict["first_problem"]["detail"], verdict


def test_bundles_of_the_earlier_formats_still_verify(ledgers: dict[int, OkrLedger],
                                                     tmp_path: Path) -> None:
    """Bundles written before the multiproof (an inclusion proof per event, `proofs.jsonl`)
    and before the Merkle tree (the whole chain, `chain.jsonl`) were handed to auditors."""
    app = ledgers[40]
    new = tmp_path / "new"
    export(app, new)
    proof = json.loads((new / "multiproof.json").read_text())
    raws = [r.value for r in chained_records(app)]
    leaves = [merkle.envelope_leaf(Envelope.from_bytes(r).hash) for r in raws]

    per_event = tmp_path / "per-event"
    shutil.copytree(new, per_event)
    (per_event / "multiproof.json").unlink()
    (per_event / "proofs.jsonl").write_bytes(b"".join(canonical_json(
        {"position": p, "leaf_index": i,
         "proof": [h.hex() for h in merkle.inclusion_proof(i, leaves)]}) + b"\n"
        for p, i in proof["leaves"]))
    assert verify(per_event, tmp_path)[0] == 0
    (per_event / "events.jsonl").write_bytes(
        (per_event / "events.jsonl").read_bytes().replace(b'"value":3.0', b'"value":7.0'))
    assert verify(per_event, tmp_path)[0] == 1

    chain = tmp_path / "chain"
    chain.mkdir()
    shutil.copy(new / "events.jsonl", chain / "events.jsonl")
    shutil.copy(new / "public-key.pem", chain / "public-key.pem")
    (chain / "chain.jsonl").write_bytes(b"".join(r + b"\n" for r in raws))
    head = json.loads((new / "checkpoint.json").read_text())
    (chain / "checkpoints.jsonl").write_bytes(canonical_json(head) + b"\n")
    code, verdict = verify(chain, tmp_path)
    assert code == 0, verdict
    (chain / "events.jsonl").write_bytes(
        (chain / "events.jsonl").read_bytes().replace(b'"value":3.0', b'"value":7.0'))
    assert verify(chain, tmp_path)[0] == 1


def guarded_history(home: Path) -> OkrLedger:
    """A guardrail KPI read every day from June to November; cycle 2026-Q3 added on 30 June,
    its key result measured by the KPI; two June readings arrive late, in July."""
    app = OkrLedger(load_settings({"home": home}, environ={}))
    clock = [datetime(2026, 6, 1, tzinfo=UTC)]

    def at(t: datetime) -> None:
        clock[0] = max(t, clock[0] + timedelta(microseconds=1))

    def read(day: datetime, value: float, recorded: datetime | None = None) -> None:
        at(recorded or day + timedelta(hours=1))
        app.record_reading("uptime", value, at=day)

    with recording_at(lambda: clock[0]):
        app.add_kpi("uptime", "Uptime", green=99, red=95, cadence="daily", tags=["guardrail"])
        days = [datetime(2026, 6, 1, 9, tzinfo=UTC) + timedelta(days=i) for i in range(183)]
        for day in days[:30]:  # June
            read(day, 98.0 + day.day / 100)
        at(datetime(2026, 6, 30, 12, tzinfo=UTC))
        app.add_cycle("2026-Q3")
        app.add_objective("o", "Reliable", cycle="2026-Q3", owner="ana")
        app.add_key_result("k", "Uptime held", objective="o", kind="stay-above", target=99,
                           kpi="uptime")
        for day in days[30:]:  # July to November
            read(day, 99.5 if day.month != 8 else 96.0)
            if day.day == 5 and day.month == 7:  # late: behind the 30 June one, then ahead
                read(datetime(2026, 6, 15, 9, tzinfo=UTC), 90.0)
                read(datetime(2026, 6, 30, 20, tzinfo=UTC), 94.0)
    return app


def test_a_cycle_bundle_holds_the_readings_its_review_reads_and_reviews_the_same(
        tmp_path: Path) -> None:
    """The bundle of a cycle held every reading of its guardrail KPIs ever made (3.5 MB of a
    4.5 MB one-KR bundle in the benchmark history): now those observed during the cycle and
    the ones carried into it, and a review from the bundle is the review from the log."""
    from okr.domain.review import ReviewPoint, review

    app = guarded_history(tmp_path / "h")
    written = export(app, tmp_path / "b")
    assert verify(tmp_path / "b", tmp_path)[0] == 0
    bundled = [Envelope.from_bytes(line) for line in
               (tmp_path / "b" / "events.jsonl").read_bytes().splitlines()]
    envs = [Envelope.from_bytes(r.value) for r in chained_records(app)]
    readings = [e for e in bundled if e.type == "KpiReadingRecorded"]
    assert [e.effective_at for e in readings if e.effective_at < "2026-07"] == [
        "2026-06-30T09:00:00.000000Z", "2026-06-30T20:00:00.000000Z"]
    assert max(e.effective_at for e in readings) < "2026-10"  # nothing after the cycle
    assert len(readings) == 2 + 92 and written["events"] == len(bundled)
    assert sum(e.type == "KpiReadingRecorded" for e in envs) == 185
    whole, kept = [e.fact() for e in envs], [e.fact() for e in bundled]
    for as_of, known_at in [(datetime(2026, 10, 9, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
                            (datetime(2026, 7, 3, tzinfo=UTC), datetime(2026, 7, 3, tzinfo=UTC)),
                            (datetime(2026, 8, 20, tzinfo=UTC), datetime(2026, 7, 5, 10,
                                                                         tzinfo=UTC)),
                            (datetime(2026, 9, 30, tzinfo=UTC), datetime(2026, 11, 1,
                                                                         tzinfo=UTC))]:
        point = ReviewPoint(as_of, known_at)
        assert review(kept, "2026-Q3", point) == review(whole, "2026-Q3", point)
    assert cycle_records(envs, "2026-Q4") == []  # no such cycle


def readme_history(home: Path) -> OkrLedger:
    """README.md's "Using it" quarter, 2026-Q4: an initiative on kr-conv, a KPI, a commit, a
    check-in and a revision; and a Q3 before it with an initiative already done."""
    app = OkrLedger(load_settings({"home": home}, environ={}))
    ticks = iter(range(10**7))
    with recording_at(lambda: datetime(2026, 11, 20, tzinfo=UTC)
                      + timedelta(seconds=next(ticks))):
        app.add_cycle("2026-Q3")
        app.add_objective("grow", "Grow the funnel", cycle="2026-Q3", owner="ana")
        app.add_key_result("leads", "Qualified leads", objective="grow", target=100)
        app.add_initiative("webinars", "Monthly webinars", "leads")
        app.set_initiative_status("webinars", "done")
        app.add_cycle("2026-Q4")
        app.add_objective("rev-2x", "Double revenue by year's end", cycle="2026-Q4",
                          owner="ana", team="sales", okr_type="committed")
        app.add_key_result("kr-conv", "Website conversion up 20%", objective="rev-2x",
                           start=2.0, target=2.4, unit="%")
        app.add_key_result("kr-intl", "Close 2 international contracts", objective="rev-2x",
                           start=0, target=2)
        app.add_initiative("live-chat", "Implement live chat on website", "kr-conv")
        app.add_kpi("wau", "Weekly active users", unit="users", target=15000, green=14000,
                    red=12000)
        app.record_reading("wau", 13250, at=datetime(2026, 10, 5, tzinfo=UTC))
        app.commit_cycle("2026-Q4")
        app.check_in("kr-conv", 2.2, confidence=0.6, note="chat launched",
                     at=datetime(2026, 11, 2, tzinfo=UTC))
        app.revise_key_result("kr-conv", target=2.3, reason="market slowdown")
    return app


def test_a_cycle_bundle_holds_its_initiatives_and_reviews_as_the_log(tmp_path: Path) -> None:
    """README.md promises a review from a bundle is the review from the whole log: the
    initiatives column too (a bundle left out every InitiativeAdded)."""
    from okr.domain.review import ReviewPoint, review

    app = readme_history(tmp_path / "h")
    whole = [Envelope.from_bytes(r.value).fact() for r in chained_records(app)]
    point = ReviewPoint(datetime(2026, 12, 31, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    for cycle, initiative in [("2026-Q4", "live-chat"), ("2026-Q3", "webinars")]:
        export(app, tmp_path / cycle, cycle)
        assert verify(tmp_path / cycle, tmp_path)[0] == 0
        kept = [Envelope.from_bytes(line).fact() for line in
                (tmp_path / cycle / "events.jsonl").read_bytes().splitlines()]
        assert "InitiativeAdded" in {f.type for f in kept}
        want = review(whole, cycle, point)
        assert initiative in json.dumps(want, default=str)
        assert review(kept, cycle, point) == want


def test_a_bad_line_in_a_bundle_is_named_by_file_and_line_in_one_line(
        ledgers: dict[int, OkrLedger], tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    export(ledgers[40], bundle)
    n = len((bundle / "events.jsonl").read_bytes().splitlines())
    with (bundle / "events.jsonl").open("ab") as f:
        f.write(b"garbage\n")
    for args in (["--json"], []):
        result = okr(tmp_path / "auditor", "audit", "verify", "--bundle", str(bundle), *args)
        assert result.crash is None and result.code == 1, str(result)
        text = (result.stdout + result.stderr).strip()
        assert "pydantic" not in text and "validation error" not in text, text
        if args:
            detail = json.loads(result.stdout)["first_problem"]["detail"]
            assert "\n" not in detail
            assert detail.startswith(f"events.jsonl line {n + 1}: "), detail
            assert "not JSON" in detail, detail
        else:
            assert f"events.jsonl line {n + 1}" in text, text


def test_a_bundle_missing_a_file_names_the_file_this_version_writes(
        ledgers: dict[int, OkrLedger], tmp_path: Path) -> None:
    good = tmp_path / "good"
    export(ledgers[40], good)
    for name in ("multiproof.json", "events.jsonl", "consistency.jsonl", "checkpoint.json"):
        copy = tmp_path / name.replace(".", "-")
        shutil.copytree(good, copy)
        (copy / name).unlink()
        result = okr(tmp_path / "auditor", "audit", "verify", "--bundle", str(copy),
                     "--public-key", str(good / "public-key.pem"))
        assert result.crash is None and result.code == 2, str(result)
        assert result.stderr.strip() == (f"okr: error: not a readable bundle: {copy} has no "
                                         f"{name}"), result.stderr
    result = okr(tmp_path / "auditor", "audit", "verify", "--bundle", str(tmp_path / "nosuch"),
                 "--public-key", str(good / "public-key.pem"))
    assert result.code == 2 and result.stderr.strip() == (
        f"okr: error: no bundle at {tmp_path / 'nosuch'}"), result.stderr
    # without --public-key the bundle's own copy is read, but only once it looks like a bundle
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder, missing in ((empty, "events.jsonl"), (tmp_path / "events-jsonl", "events.jsonl")):
        result = okr(tmp_path / "auditor", "audit", "verify", "--bundle", str(folder))
        assert result.code == 2 and result.stderr.strip() == (
            f"okr: error: not a readable bundle: {folder} has no {missing}"), result.stderr
    keyless = tmp_path / "keyless"
    shutil.copytree(good, keyless)
    (keyless / "public-key.pem").unlink()
    result = okr(tmp_path / "auditor", "audit", "verify", "--bundle", str(keyless))
    assert result.code == 2 and result.stderr.strip() == (
        f"okr: error: not a readable bundle: {keyless} has no public-key.pem (or give "
        "--public-key)"), result.stderr


def test_a_bundles_readme_says_how_many_consistency_proofs_it_holds(
        ledgers: dict[int, OkrLedger], tmp_path: Path) -> None:
    app = ledgers[40]
    raws = [r.value for r in chained_records(app)]
    envs = [Envelope.from_bytes(r) for r in raws]
    leaves = [merkle.envelope_leaf(e.hash) for e in envs]
    mine = cycle_records(envs, "2026-Q3")
    key = app.settings.signing_key_file
    for n_heads in (1, 2, 17, 40):
        sizes = range(len(envs) - n_heads + 1, len(envs) + 1)
        heads = {n: signing.sign(key, {"position": envs[n - 1].position,
                                       "head_hash": envs[n - 1].hash, "count": n,
                                       "root": merkle.root(leaves[:n]).hex(),
                                       "time": "2026-12-01T00:00:00.000000Z"}) for n in sizes}
        out = tmp_path / f"b{n_heads}"
        write_bundle(out, "2026-Q3", "okr.ledger", [e.position for e in envs], raws, leaves,
                     mine, heads, len(envs), signing.public_key_pem(key))
        held = len((out / "consistency.jsonl").read_bytes().splitlines())
        assert held == min(n_heads - 1, 32)
        readme = " ".join((out / "README.md").read_text().split())
        if held:
            heads_word = "head" if held == 1 else "heads"
            assert f"consistency proofs from the {held} signed tree {heads_word} before " \
                   "this one" in readme, readme
        else:
            assert "no consistency proofs" in readme, readme
        assert "from the 32 signed" not in readme or held == 32
