"""The Kafka path: the relay onto okr.ledger and the projection into DuckDB, each against the
bare kafka-python client doing the same I/O in the same run.

- relay: `Relay.publish_pending` over the whole history (read the store, map, chain, send,
  wait for each page's acknowledgements, watermark), in rounds, vs a bare kafka-python producer
  with the same settings sending the same records (key, value, headers; computed from the store
  beforehand) and flushing at the end of each round;
- projection: `Projector.catch_up` + the readers' snapshot (what `okr consume --once` does)
  into a fresh DuckDB file vs a kafka-python consumer with the same settings reading the
  same topic to its end and discarding the records.
"""

import struct
from contextlib import nullcontext
from pathlib import Path
from typing import Any, BinaryIO

from common import Result, Run, say, timed
from kafka import KafkaProducer

from okr.adapters import kafka_client
from okr.consumers.projector import Projector
from okr.ledger.app import OkrLedger
from okr.projections.store import MEMORY_LIMIT, Projection
from okr.record.envelope import chained_records
from okr.record.relay import Relay

RELAY_TARGET, PROJECTION_TARGET = 0.8, 0.6


def write_records(app: OkrLedger, path: Path) -> int:
    """The records the relay sends (key, value, headers), from the store, into a file."""
    n = 0
    with path.open("wb") as out:
        for rec in chained_records(app):
            key, typ, pos = rec.aggregate_id.encode(), rec.type.encode(), str(rec.position).encode()
            out.write(struct.pack(">IIII", len(key), len(rec.value), len(typ), len(pos)))
            out.write(key + rec.value + typ + pos)
            n += 1
    return n


def recorded(path: Path, limit: int | None = None, f: BinaryIO | None = None) -> Any:
    """Records from such a file, in order: (key, value, headers)."""
    with (open(path, "rb") if f is None else nullcontext(f)) as src:
        n = 0
        while (limit is None or n < limit) and (head := src.read(16)):
            nk, nv, nt, np = struct.unpack(">IIII", head)
            body = src.read(nk + nv + nt + np)
            n += 1
            yield (body[:nk], body[nk:nk + nv],
                   [("type", body[nk + nv:nk + nv + nt]), ("position", body[nk + nv + nt:])])


def relay(run: Run, rounds: int = 4) -> list[Result]:
    """Publish the history with the relay, a quarter at a time, each quarter followed by the
    same records (prepared from the store beforehand) through a bare producer."""
    s = run.settings
    app = OkrLedger(s)
    path = run.work / "records.bin"
    say("relay: writing the records to send into a file (not timed) …")
    total = write_records(app, path)
    r = Relay(app, run.servers)
    r.prepare()  # topics and producer made before the clock starts, as for the baseline
    raw_topic = s.topic_ledger.replace(".ledger", ".raw")
    kafka_client.ensure_topics(s, run.servers, [raw_topic])
    # kafka-python with the settings of KAFKA-NOTES and nothing of ours (its own partitioner)
    producer = KafkaProducer(bootstrap_servers=run.servers, **kafka_client.PRODUCER)
    chunk = -(-total // rounds)
    ours = base = 0.0
    published = checkpoints = sent = 0
    say(f"relay: publishing {total:,} events to {s.topic_ledger} in {rounds} rounds, "
        "each followed by the bare producer …")
    with path.open("rb") as src:
        for _ in range(rounds):
            result, seconds = timed(lambda: r.publish_pending(limit=chunk))
            ours += seconds
            published += result.published
            checkpoints += len(result.checkpoints)
            batch = list(recorded(path, chunk, src))  # read outside the timing

            def bare(batch: list[Any] = batch) -> int:
                for key, value, headers in batch:
                    producer.send(raw_topic, key=key, value=value, headers=headers)
                producer.flush(timeout=600)
                return len(batch)

            n, seconds = timed(bare)
            base += seconds
            sent += n
    r.close()
    app.close()
    producer.close()
    path.unlink()
    assert published == sent == total == run.events, (published, sent, total, run.events)
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
