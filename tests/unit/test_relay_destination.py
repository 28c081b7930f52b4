"""The destination a data directory's relay last reached (record/destination.py): what a write
with Kafka away counts from."""

import time
from pathlib import Path

from okr.record.destination import FILE, last, remember
from okr.settings import Settings, load_settings


def settings(home: Path, servers: str = "") -> Settings:
    environ = {"OKR_HOME": str(home)}
    if servers:
        environ["KAFKA_BOOTSTRAP_SERVERS"] = servers
    return load_settings(environ=environ)


def test_the_cluster_last_reached_is_that_of_the_same_kafka_setting_and_topic(
        tmp_path: Path) -> None:
    local, external = settings(tmp_path), settings(tmp_path, "kafka.example:9092")
    assert last(local, "okr.ledger") is None  # nothing recorded yet
    remember(local, "okr.ledger", "cluster-a")
    remember(local, "other.ledger", "cluster-b")
    assert last(local, "okr.ledger") == "cluster-a"
    assert last(local, "other.ledger") == "cluster-b"
    assert last(external, "okr.ledger") is None  # reached through another setting: not known
    remember(external, "okr.ledger", "cluster-c")
    assert last(external, "okr.ledger") == "cluster-c"
    assert last(local, "okr.ledger") is None  # the record is of the Kafka used last
    assert (tmp_path / FILE).stat().st_mode & 0o077 == 0


def test_the_same_cluster_again_writes_nothing(tmp_path: Path) -> None:
    s = settings(tmp_path)
    remember(s, "okr.ledger", "cluster-a")
    before = (tmp_path / FILE).stat()
    time.sleep(0.01)
    remember(s, "okr.ledger", "cluster-a")
    after = (tmp_path / FILE).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_record_that_cannot_be_read_says_nothing_known_and_is_written_again(
        tmp_path: Path) -> None:
    s = settings(tmp_path)
    for junk in ("not json", "[1, 2]", '{"okr.ledger": "cluster-a"}',
                 '{"okr.ledger": {"servers": "local broker", "destination": 7}}'):
        (tmp_path / FILE).write_text(junk)
        assert last(s, "okr.ledger") is None, junk
    remember(s, "okr.ledger", "cluster-a")
    assert last(s, "okr.ledger") == "cluster-a"
