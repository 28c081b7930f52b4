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

from okr.consumers.projector import Projector
from okr.ledger import kafka_client
from okr.ledger.app import OkrLedger
from okr.ledger.relay import Relay
from okr.projections.store import MEMORY_LIMIT, Projection

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


def relay(run: Run, rounds: int = 4) -> list[Result]:
    """Publish the history with the relay, a quarter at a time, each quarter followed by the
    same records through a bare producer."""
    s = run.settings
    app = OkrLedger(s)
    r = Relay(app, run.servers)
    r.prepare()  # topics and producer made before the clock starts, as for the baseline
    raw_topic = s.topic_ledger.replace(".ledger", ".raw")
    kafka_client.ensure_topics(s, run.servers, [raw_topic])
    producer = kafka_client.producer(s, run.servers)
    chunk = -(-run.events // rounds)
    ours = base = 0.0
    published = checkpoints = sent = 0
    say(f"relay: publishing {run.events:,} events to {s.topic_ledger} in {rounds} rounds, "
        "each followed by the bare producer …")
    for _ in range(rounds):
        path = run.work / "relayed.bin"
        with path.open("wb") as out:
            real, r.producer = r.producer, Recording(r.producer, out)
            result, seconds = timed(lambda: r.publish_pending(limit=chunk))
            r.producer = real
        ours += seconds
        published += result.published
        checkpoints += len(result.checkpoints)

        def bare(path: Path = path) -> int:
            n = 0
            for key, value, headers in recorded(path):
                producer.send(raw_topic, key=key, value=value, headers=headers)
                n += 1
            producer.flush(timeout=600)
            return n

        n, seconds = timed(bare)
        base += seconds
        sent += n
        path.unlink()
    r.close()
    app.close()
    producer.close()
    assert published == sent == run.events, (published, sent, run.events)
    ratio = (published / ours) / (sent / base)
    say(f"relay: {published:,} events in {ours:.1f} s ({published / ours:,.0f}/s); bare "
        f"producer {base:.1f} s ({sent / base:,.0f}/s)")
    return [Result("relay onto okr.ledger", "events/s", published / ours, sent / base,
                   f">= {RELAY_TARGET} of bare producer", ratio >= RELAY_TARGET,
                   notes={"events": published, "seconds": round(ours, 2),
                          "baseline_seconds": round(base, 2), "rounds": rounds,
                          "checkpoints": checkpoints})]


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
    """Project the relayed topic into a fresh DuckDB file; a bare read of the topic before and
    one after (their mean is the baseline)."""
    s = run.settings
    for path in (s.projection_work_file, s.duckdb_file):
        path.unlink(missing_ok=True)
    bare = []
    say("projection baseline: reading the topic with a bare kafka-python consumer …")
    n, seconds = timed(lambda: read_bare(run, s.topic_ledger))
    bare.append(seconds)

    proj = Projection(s.projection_work_file, memory_limit=MEMORY_LIMIT)
    projector = Projector(s, run.servers, proj)

    def consume() -> Any:
        progress = projector.catch_up()
        projector.publish()
        return progress

    say(f"projection: consuming {s.topic_ledger} into {s.projection_work_file} …")
    progress, ours_s = timed(consume)
    stored = proj.event_count()
    projector.close()
    proj.close()
    say("projection baseline: reading the topic bare again …")
    n2, seconds = timed(lambda: read_bare(run, s.topic_ledger))
    bare.append(seconds)
    assert n == n2 == progress.read
    ours = progress.read / ours_s
    baseline = n / (sum(bare) / len(bare))
    say(f"projection: {progress.read:,} records, {stored:,} events in {ours_s:.1f} s "
        f"({ours:,.0f}/s); bare consumer {bare[0]:.1f} s and {bare[1]:.1f} s")
    assert stored == run.events, f"projected {stored} events, the history has {run.events}"
    ratio = ours / baseline
    return [Result("projection into DuckDB", "events/s", ours, baseline,
                   f">= {PROJECTION_TARGET} of bare consumer", ratio >= PROJECTION_TARGET,
                   notes={"records": progress.read, "events": stored,
                          "seconds": round(ours_s, 2),
                          "baseline_seconds": [round(b, 2) for b in bare],
                          "duckdb_mb": round(s.duckdb_file.stat().st_size / 2**20, 1)})]
