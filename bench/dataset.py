"""The benchmark history: a deterministic synthetic organisation written through the ledger's
batched path (one transaction per 2,000 events), kept under bench/work/<scale>/ and reused
while the generator, the domain and the shape are unchanged."""

import hashlib
import json
import shutil
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from common import Result, Run, say, timed

from okr.ledger.app import OkrLedger
from tests.support.generator import Generated, Shape, generate

ROOT = Path(__file__).resolve().parent.parent


def fingerprint(shape: Shape) -> str:
    """Changes whenever what the generator would write changes."""
    h = hashlib.sha256(json.dumps(asdict(shape), sort_keys=True).encode())
    for part in ("tests/support/generator.py", "ledger/app.py", *sorted(
            str(p.relative_to(ROOT)) for p in (ROOT / "domain").glob("*.py"))):
        h.update((ROOT / part).read_bytes())
    return h.hexdigest()[:16]


def prepare(run: Run, shape: Shape) -> list[Result]:
    """Generate the history unless an identical one is on disk; fill in the run's facts."""
    home = run.settings.home
    meta_path = run.work / "dataset.json"
    key = fingerprint(shape)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    results: list[Result] = []
    if meta.get("fingerprint") != key or not run.settings.event_store_path.exists():
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        say(f"generating the {run.scale} history: {shape}")
        app = OkrLedger(run.settings)
        step = {"next": 50_000}

        def progress(n: int) -> None:
            if n >= step["next"]:
                say(f"  … {n:,} events written")
                step["next"] += 50_000

        gen, seconds = timed(lambda: generate(app, shape, batch=2000, progress=progress))
        app.close()
        assert isinstance(gen, Generated) and gen.last_recorded is not None
        meta = {"fingerprint": key, "shape": asdict(shape), "events": gen.events,
                "key_results": gen.key_results, "kpis": gen.kpis, "cycles": gen.cycles,
                "last_recorded": gen.last_recorded.isoformat(), "seconds": seconds}
        meta_path.write_text(json.dumps(meta, indent=2))
        results.append(Result("history generation (batched saves)", "events/s",
                              gen.events / seconds, None, "-", None,
                              notes={"events": gen.events, "seconds": round(seconds, 1)}))
    else:
        say(f"reusing the {run.scale} history in {home} ({meta['events']:,} events)")
    run.events = meta["events"]
    run.cycles = meta["cycles"]
    run.last_recorded = datetime.fromisoformat(meta["last_recorded"])
    run.dataset = {k: meta[k] for k in ("events", "key_results", "kpis", "cycles",
                                                 "shape")}
    say(f"history: {meta['events']:,} events, {meta['key_results']:,} key results, "
        f"{meta['kpis']} KPIs, cycles {meta['cycles'][0]} … {meta['cycles'][-1]}")
    return results
