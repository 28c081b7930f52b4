"""The projector's decoder before `record.envelope.checked` (kept as the oracle the quick path
is held to): pydantic's Envelope reads and validates the record, then the hash over its bytes,
then its Kafka key. The projector still falls back to exactly this for every record the quick
path does not accept, and this is what says why a record is rejected."""

from pydantic import ValidationError

from okr.adapters.kafka_client import Message
from okr.consumers.projector import reject_reason
from okr.record.envelope import Envelope


def old_decode(message: Message) -> Envelope | str:
    """The envelope of a record, or why it is rejected."""
    if message.value is None:
        return "invalid envelope: empty record (tombstone)"
    try:
        env = Envelope.from_bytes(message.value)
    except (ValidationError, ValueError) as exc:
        return reject_reason(exc)
    if not env.hash_ok(message.value):
        return f"hash mismatch at position {env.position}: the envelope was altered"
    if message.key is not None and message.key != env.aggregate_id.encode():
        return "record key does not match the envelope's aggregate_id"
    return env
