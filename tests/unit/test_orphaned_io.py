"""stop_orphaned_io stops the IO thread a client leaves running when it fails to bootstrap
(kafka-python 3.0 starts it first), and only such threads."""

import threading

import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from okr.adapters.kafka_client import stop_orphaned_io


def io_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("kafka-io")]


def test_the_io_thread_of_a_client_that_failed_to_bootstrap_is_stopped() -> None:
    before = set(io_threads())
    with pytest.raises(KafkaError):  # nothing listens on port 1: refused, then timed out
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", bootstrap_timeout_ms=300)
    orphans = [t for t in io_threads() if t not in before]
    assert orphans and all(t.is_alive() for t in orphans)  # what kafka-python leaves behind
    bystander = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
    bystander.start()
    stop_orphaned_io()
    assert not any(t.is_alive() for t in orphans)
    assert bystander.is_alive()  # a thread of anything else is left alone
