"""Reading okr.ledger and okr.checkpoints from the beginning with our Kafka client (what
`okr audit verify` and the web app's verify page check), trusting neither DuckDB nor the
relay."""

import json
import sys
from typing import TYPE_CHECKING, Any

from okr.cli.context import State
from okr.cli.errors import UserError

if TYPE_CHECKING:
    from okr.record.verify import Record


def servers(st: State) -> str:
    """The cluster to read, once one of its bootstrap servers can answer: one that refuses
    or names an unknown host is said at once (KafkaError), not after the client's bootstrap."""
    from okr.adapters import kafka_client
    from okr.adapters.local_broker import BrokerError
    try:
        found = kafka_client.bootstrap(st.settings, start_local=True)
    except BrokerError as exc:
        raise UserError(str(exc)) from None
    kafka_client.answering(found)
    return found


def progress(label: str, quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    return lambda n: print(f"\r{label} {n} records", end="", file=sys.stderr, flush=True)


def read_log(st: State, quiet: bool) -> "list[Record]":
    """Every record of okr.ledger, from the beginning, with a progress line."""
    from okr.adapters import kafka_client
    from okr.record.verify import Record
    records = [Record(m.partition, m.offset, m.value or b"") for m in kafka_client.read_topic(
        st.settings, servers(st), st.settings.topic_ledger, idle=3.0,
        progress=progress("read", quiet))]
    if not quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    return records


def read_checkpoints(st: State) -> list[dict[str, Any]]:
    from okr.adapters import kafka_client
    out = []
    for m in kafka_client.read_topic(st.settings, servers(st), st.settings.topic_checkpoints,
                                     idle=2.0):
        try:
            cp = json.loads(m.value or b"")
        except ValueError:
            cp = {"position": 0, "malformed": True}
        if isinstance(cp, dict) and cp.get("topic", st.settings.topic_ledger) == \
                st.settings.topic_ledger:
            out.append(cp)
    return out
