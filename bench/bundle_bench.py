"""The size of a cycle's audit bundle: `okr audit export --cycle Q` for a cycle of one key
result with two check-ins, typed now into the benchmark history.

Ours: the bundle as written today (the records, one multiproof — each tree node its events'
inclusion proofs need, once — and the consistency proofs). Baseline, the same run: the same
bundle with an RFC 9162 inclusion proof per event (`proofs.jsonl`, the format before), where a
node shared by many events' paths was written once per event. The ratio is baseline / ours.
The records and the signed head come from the event store (byte for byte what the relay
publishes), so no broker is needed. The notes also give what the bundle held before it kept
only the KPI readings a review of the cycle reads (`items_*`: every event of its items).
"""

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from common import Result, Run, say

from okr.cli.bundles import cycle_records, write_bundle
from okr.domain.history import cycle_dependencies
from okr.domain.periods import cycle_of
from okr.ledger.app import OkrLedger
from okr.record import merkle, signing
from okr.record.envelope import Envelope, canonical_json, chained_records
from okr.settings import load_settings


def run(r: Run) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir(mode=0o700)
        shutil.copy(r.settings.event_store_path, home / "events.sqlite")
        app = OkrLedger(load_settings({"home": home}, environ={}))
        cycle = cycle_of(datetime.now(UTC))
        app.add_cycle(cycle)
        app.add_objective("bundle-o", "One objective", cycle=cycle, owner="bench")
        app.add_key_result("bundle-kr", "One key result", objective="bundle-o", start=0,
                           target=10)
        app.check_in("bundle-kr", 2)
        app.check_in("bundle-kr", 4)
        say("bundle: reading the chain from the store")
        raws = [rec.value for rec in chained_records(app)]
        envs = [Envelope.from_bytes(raw) for raw in raws]
        app.close()
        leaves = [merkle.envelope_leaf(e.hash) for e in envs]
        mine = cycle_records(envs, cycle)
        # Before bundles held only what a review reads, they held every event of the items
        # it depends on — guardrail KPIs' readings of all time among them.
        wanted = cycle_dependencies([e.fact() for e in envs], cycle)
        items = [i for i, e in enumerate(envs) if e.aggregate_id in wanted]
        key = home / "signing-key.pem"
        size = len(envs)
        head = signing.sign(key, {"position": envs[-1].position, "head_hash": envs[-1].hash,
                                  "count": size, "root": merkle.root(leaves).hex(),
                                  "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
        out = Path(tmp) / "bundle"
        written = write_bundle(out, cycle, r.settings.topic_ledger,
                               [e.position for e in envs], raws, leaves, mine, {size: head},
                               size, signing.public_key_pem(key))
        before = write_bundle(Path(tmp) / "items", cycle, r.settings.topic_ledger,
                              [e.position for e in envs], raws, leaves, items, {size: head},
                              size, signing.public_key_pem(key))
        multiproof = (out / "multiproof.json").stat().st_size
        per_event = sum(len(canonical_json(
            {"position": envs[i].position, "leaf_index": i,
             "proof": [h.hex() for h in path]})) + 1
            for i, path in zip(mine, merkle.inclusion_proofs(mine, leaves), strict=True))
    ours = written["bytes"] / 1e6
    baseline = (written["bytes"] - multiproof + per_event) / 1e6
    records = sum(len(raws[i]) + 1 for i in mine)
    say(f"bundle: {len(mine):,} of {size:,} events, {records / 1e6:.2f} MB of records (with "
        f"every event of its items: {len(items):,} events, a {before['bytes'] / 1e6:.2f} MB "
        f"bundle); "
        f"multiproof {multiproof / 1e6:.2f} MB ({written['proof_nodes']:,} nodes), "
        f"per-event proofs {per_event / 1e6:.2f} MB")
    return [Result("cycle bundle (one KR, two check-ins)", "MB", round(ours, 3),
                   round(baseline, 3), "proof grows with the cycle, not the ledger", None,
                   lower_is_better=True,
                   notes={"events": len(mine), "tree_size": size,
                          "records_mb": round(records / 1e6, 2),
                          "items_events": len(items),
                          "items_bundle_mb": round(before["bytes"] / 1e6, 2),
                          "multiproof_mb": round(multiproof / 1e6, 3),
                          "proof_nodes": written["proof_nodes"],
                          "per_event_proofs_mb": round(per_event / 1e6, 3)})]
