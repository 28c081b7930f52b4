"""The Kafka path: the relay onto okr.ledger and the projection into DuckDB, each against the
bare kafka-python client doing the same I/O in the same run.

- relay: `Relay.publish_pending` over the whole history (read the store, map, chain, send,
  flush per page, watermark) vs a kafka-python producer with the same settings sending the same
  records (key, value, headers) — recorded on their way out by a pass-through file writer —
  and flushing once at the end;
- projection: `Projector.catch_up` + the readers' snapshot (what `okr consume --once` does)
  into a fresh DuckDB file vs a kafka-python consumer with the same settings reading the
  same topic to its end and discarding the records.
"""

import struct
from pathlib import Path
from typing import Any, BinaryIO

from common import Result, Run, say, timed

from okr.consumers.projector import Projector, publish_snapshot
from okr.ledger import kafka_client
from okr.ledger.app import OkrLedger
from okr.ledger.relay import Relay
from okr.projections.store import Projection

RELAY_TARGET, PROJECTION_TARGET = 0.8, 0.6


class Recording:
    """Passes sends through to the producer and appends each record to a file."""

    def __init__(self, producer: Any, out: BinaryIO) -> None:
        self.producer, self.out = producer, out

    def send(self, topic: str, key: bytes, value: bytes,
             headers: list[tuple[str, bytes]] | None = None) -> Any:
        if headers is not None and topic.endswith(".ledger"):
            typ, pos = headers[0][1], headers[1][1]
            self.out.write(struct.pack(">IIII", len(key), len(value), len(typ), len(pos)))
            self.out.write(key + value + typ + pos)
        return self.producer.send(topic, key=key, value=value, headers=headers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)


def recorded(path: Path) -> Any:
    """The records a Recording wrote, in order: (key, value, headers)."""
    with path.open("rb") as f:
        while head := f.read(16):
            nk, nv, nt, np = struct.unpack(">IIII", head)
            body = f.read(nk + nv + nt + np)
            yield (body[:nk], body[nk:nk + nv],
                   [("type", body[nk + nv:nk + nv + nt]), ("position", body[nk + nv + nt:])])


def relay(run: Run) -> list[Result]:
    """Publish the history with the relay, then the same records with a bare producer."""
    s = run.settings
    app = OkrLedger(s)
    sent = run.work / "relayed.bin"
    r = Relay(app, run.servers)
    r.prepare()  # topics and producer made before the clock starts, as for the baseline
    say(f"relay: publishing {run.events:,} events to {s.topic_ledger} …")
    with sent.open("wb") as out:
        r.producer = Recording(r.producer, out)
        result, seconds = timed(r.publish_pending)
    r.close()
    app.close()
    ours = result.published / seconds
    say(f"relay: {result.published:,} events in {seconds:.1f} s ({ours:,.0f}/s)")

    raw_topic = s.topic_ledger.replace(".ledger", ".raw")
    kafka_client.ensure_topics(s, run.servers, [raw_topic])
    producer = kafka_client.producer(s, run.servers)

    def bare() -> int:
        n = 0
        for key, value, headers in recorded(sent):
            producer.send(raw_topic, key=key, value=value, headers=headers)
            n += 1
        producer.flush(timeout=600)
        return n

    say("relay baseline: the same records through a bare kafka-python producer …")
    n, base_seconds = timed(bare)
    producer.close()
    sent.unlink()
    baseline = n / base_seconds
    ratio = ours / baseline
    return [Result("relay onto okr.ledger", "events/s", ours, baseline,
                   f">= {RELAY_TARGET} of bare producer", ratio >= RELAY_TARGET,
                   notes={"events": result.published, "seconds": round(seconds, 2),
                          "baseline_seconds": round(base_seconds, 2),
                          "checkpoints": len(result.checkpoints)})]


def read_bare(run: Run, topic: str) -> int:
    """Read a topic to its end with a bare kafka-python consumer, discarding the records."""
    from kafka import TopicPartition

    s = run.settings
    c = kafka_client.consumer(s, run.servers, group_id=None, fetch_max_bytes=52_428_800,
                              max_partition_fetch_bytes=10_485_760)
    parts = [TopicPartition(topic, p) for p in kafka_client.topic_partitions(c, topic)]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    n = 0
    while True:
        for records in c.poll(timeout_ms=200, max_records=5000).values():
            n += len(records)
        marks = [c.highwater(tp) for tp in parts]
        if all(m is not None for m in marks) and all(
                c.position(tp) >= m for tp, m in zip(parts, marks, strict=True)):
            break
    c.close()
    return n


def projection(run: Run) -> list[Result]:
    """Project the relayed topic into a fresh DuckDB file, then read it bare."""
    s = run.settings
    for path in (s.projection_work_file, s.duckdb_file):
        path.unlink(missing_ok=True)
    say("projection baseline: reading the topic with a bare kafka-python consumer …")
    n, base_seconds = timed(lambda: read_bare(run, s.topic_ledger))
    baseline = n / base_seconds
    say(f"projection baseline: {n:,} records in {base_seconds:.1f} s ({baseline:,.0f}/s)")

    proj = Projection(s.projection_work_file)
    projector = Projector(s, run.servers, proj)

    def consume() -> Any:
        progress = projector.catch_up()
        publish_snapshot(proj, s)
        return progress

    say(f"projection: consuming {s.topic_ledger} into {s.projection_work_file} …")
    progress, seconds = timed(consume)
    stored = proj.event_count()
    projector.close()
    proj.close()
    ours = progress.read / seconds
    say(f"projection: {progress.read:,} records, {stored:,} events in {seconds:.1f} s "
        f"({ours:,.0f}/s)")
    assert stored == run.events, f"projected {stored} events, the history has {run.events}"
    ratio = ours / baseline
    return [Result("projection into DuckDB", "events/s", ours, baseline,
                   f">= {PROJECTION_TARGET} of bare consumer", ratio >= PROJECTION_TARGET,
                   notes={"records": progress.read, "events": stored,
                          "seconds": round(seconds, 2), "baseline_seconds": round(base_seconds, 2),
                          "duckdb_mb": round(s.duckdb_file.stat().st_size / 2**20, 1)})]
