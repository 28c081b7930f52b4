"""The relay's producer puts every event of an aggregate into one partition for its whole
life, even when its view of the topic's partition count changes under it. A loaded CI run
found an aggregate's events in partitions 2 and 0 after a broker restart: a producer that
lived through the restart sent by its count of before (6) into a topic a client's metadata
request had made again with Tansu's 4, then by 4 once its metadata caught up. Sent by one
count, what lands in the wrong topic lands whole and the relay makes the topic again (its
records gone); split, an aggregate's events would sit in two partitions.

The cluster's metadata is a stand-in here (fault injection: a count that changes); the
partition function is kafka-python's own murmur2, as the Java client's."""

from kafka.partitioner import DefaultPartitioner

from okr.adapters.kafka_client import KeyPartitioner


class Metadata:
    def __init__(self, count: int) -> None:
        self.count = count

    def topics(self) -> set[str]:
        return {"okr.ledger"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.count))

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions_for_topic(topic)


def test_a_key_keeps_its_partition_when_the_producers_count_changes() -> None:
    partitioner, cluster = KeyPartitioner(), Metadata(6)
    keys = [f"aggregate-{i}".encode() for i in range(200)]
    before = {k: partitioner.partition("okr.ledger", k, k, None, None, cluster) for k in keys}
    assert len(set(before.values())) == 6  # spread over the six
    assert before == {k: DefaultPartitioner().partition("okr.ledger", k, k, None, None, cluster)
                      for k in keys}  # murmur2 as kafka-python's (and the Java client's)
    cluster.count = 4  # the topic made again with the broker's default, seen by the producer
    after = {k: partitioner.partition("okr.ledger", k, k, None, None, cluster) for k in keys}
    assert after == before
    fresh = KeyPartitioner()  # a new producer (the relay makes one after it made the topic)
    assert {fresh.partition("okr.ledger", k, k, None, None, cluster) for k in keys} \
        == {0, 1, 2, 3}
