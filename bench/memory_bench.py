"""Peak memory of the long readers of the whole log: the projection consumer
(`okr consume --once` into a fresh DuckDB file) and `okr audit replay`, each measured over
the first half of the history and over all of it, so growth with history length shows."""

import json
import shutil

from common import OKR, Result, Run, measure, say

from okr.ledger.app import OkrLedger
from okr.record.relay import Relay

LIMIT_MB = 300.0  # issue 20: okr consume over the whole history


def _half_topic(run: Run) -> str:
    """A topic holding the first half of the history (relayed now)."""
    s = run.settings.model_copy(update={
        "topic_ledger": run.settings.topic_ledger.replace(".ledger", "-half.ledger")})
    app = OkrLedger(s)
    relay = Relay(app, run.servers)
    try:
        relay.publish_pending(limit=run.events // 2)
    finally:
        relay.close()
        app.close()
    return s.topic_ledger


def run(run: Run) -> list[Result]:
    assert run.last_recorded is not None
    say("memory: relaying the first half of the history to its own topic …")
    topics = {"half": _half_topic(run), "full": run.settings.topic_ledger}
    until = run.last_recorded.isoformat()
    peaks: dict[str, dict[str, float]] = {"consume": {}, "replay": {}}
    for label, topic in topics.items():
        home = run.work / f"memory-{label}"
        shutil.rmtree(home, ignore_errors=True)
        # The relay's key: without it the consumer can verify no checkpoint, and its gate
        # holds every record unapplied (a consume that measured that held 471 MB of waiting
        # records at 97,086 events and applied none).
        env = run.environ(OKR_HOME=str(home), OKR_TOPIC_LEDGER=topic,
                          OKR_DUCKDB=str(home / "okr.duckdb"),
                          OKR_SIGNING_KEY=str(run.settings.signing_key_file))
        for name, args in (("consume", ["consume", "--once", "--json"]),
                           ("replay", ["audit", "replay", "--until", until, "--json"])):
            m = measure([OKR, *args], env)
            assert m.code == 0, f"okr {' '.join(args)}: {m.stderr}"
            if name == "consume":  # it applied the history, not merely held it
                stored = json.loads(m.stdout)["stored"]
                expected = run.events if label == "full" else run.events // 2
                assert stored == expected, f"okr consume stored {stored} of {expected} events"
            peaks[name][label] = m.peak_rss_mb
            say(f"memory: okr {args[0]} {args[1]} over the {label} history: peak "
                f"{m.peak_rss_mb:,.0f} MB in {m.seconds:.1f} s")
        shutil.rmtree(home, ignore_errors=True)
    out = []
    for name, what in (("consume", "projection consumer (okr consume)"),
                       ("replay", "audit replay (okr audit replay)")):
        full, half = peaks[name]["full"], peaks[name]["half"]
        out.append(Result(f"memory: {what}", "MB peak RSS", full, None,
                          f"<= {LIMIT_MB:g} MB", full <= LIMIT_MB, lower_is_better=True,
                          notes={"half_history_mb": round(half, 1),
                                 "full_history_mb": round(full, 1),
                                 "growth_full_over_half": round(full / half, 2),
                                 "events_full": run.events, "events_half": run.events // 2}))
    return out
