"""Best-effort publishing right after a CLI write: the write never fails because of Kafka.

What the write's own publishing needs of this machine's set-up (a signing key only its owner
can read) is asked before the write saves anything (`check_before_write`): a write refused
for it writes nothing. Whatever fails after the save is said as what it is — the write was
recorded, and was not published — never as a failed write.
"""

from typing import TYPE_CHECKING

from okr.cli.context import State
from okr.cli.output import counted, first_line
from okr.record.running import relay_running

if TYPE_CHECKING:
    from okr.record.watermark import Watermark

RELAY_PUBLISHES = "left to the running relay (okr up / okr relay) to publish"


def check_before_write(st: State) -> None:
    """Refuse a write (SettingsError, nothing saved yet) whose own inline publishing would be
    refused for the signing key's mode or directory; a write a running relay publishes, or
    one not published inline, needs nothing of the key here."""
    s = st.settings
    if not s.inline_publish or relay_running(s, s.topic_ledger):
        return
    from okr.record.key_file import check_usable
    check_usable(s.signing_key_file)


def after_write_unless_relaying(st: State) -> str:
    """`after_write`, unless a relay runs for this data directory and topic (`okr up`,
    `okr relay`): it publishes the write within a moment, and the command starts no Kafka
    client of its own (docs/benchmarks.md, "CLI latency")."""
    if relay_running(st.settings, st.settings.topic_ledger):
        return RELAY_PUBLISHES
    return after_write(st)


def after_write(st: State, kafka_errors: bool = False) -> str:
    """Publish what waits in the event store; one line saying what happened (Kafka's own
    failures are raised instead when `kafka_errors`: a read needs Kafka next anyway). Any
    other failure is said in that line too: the write before it is recorded whatever happens
    here."""
    from eventsourcing.persistence import PersistenceError

    from okr.adapters import kafka_client
    from okr.adapters.local_broker import BrokerError
    from okr.errors import OkrError
    from okr.ledger.unreadable import StoredEventUnreadable
    from okr.record.checkpoints import HistoryContradiction
    from okr.record.pages import Backdated, PagesError
    from okr.record.relay import Relay, RelayError, StoreDiverged, pending
    from okr.settings import SettingsError

    relay = None
    try:
        servers = kafka_client.bootstrap(st.settings, start_local=True)
        kafka_client.answering(servers)
        relay = Relay(st.ledger, servers, inline=True)
        result = relay.publish_pending()
        if result.published == 0:
            return ""
        again = f" ({result.said()})" if result.republished else ""
        return (f"published {result.published} event{'s' * (result.published != 1)} to "
                f"{st.settings.topic_ledger}{again}")
    except (StoreDiverged, Backdated, StoredEventUnreadable) as exc:  # an alarm: recorded
        return f"NOT PUBLISHED: {first_line(exc)}"
    except HistoryContradiction as exc:  # recorded, but the relay signs no contradicting history
        return f"ALARM, not published: {first_line(exc)}"
    except PersistenceError as exc:  # the write is recorded; only publishing needs the store
        return (f"not published now (event store unreachable: {first_line(exc)}); run "
                "'okr relay' when it is back")
    except (kafka_client.KafkaError, RelayError, PagesError, BrokerError, OSError) as exc:
        if kafka_errors and not isinstance(exc, RelayError):
            raise
        reason = first_line(exc)
        try:
            mark = _published_mark(st, relay.destination if relay else None)
            waiting = None if mark is None else pending(st.ledger, mark.position)
        except PersistenceError:
            return f"not published now (Kafka unreachable: {reason}); run 'okr relay' later"
        if waiting is None:
            return (f"events wait to be published, how many is not known: this data directory "
                    f"has no record of the Kafka it published to (Kafka unreachable: {reason}); "
                    "run 'okr relay' when it is back")
        return (f"{counted(waiting, 'event')} {'waits' if waiting == 1 else 'wait'} to be "
                f"published (Kafka "
                f"unreachable: {reason}); run 'okr relay' when it is back")
    except (OkrError, SettingsError) as exc:  # the set-up changed since the write was checked
        if kafka_errors:
            raise
        return f"recorded, but NOT PUBLISHED: {first_line(exc)}; then run 'okr relay'"
    except Exception as exc:  # a bug here; still, the write before it is recorded: say so
        if kafka_errors:
            raise
        return (f"recorded, but NOT PUBLISHED ({type(exc).__name__}: {first_line(exc)}); run "
                "'okr relay'")
    finally:
        if relay is not None:
            relay.close()


def _published_mark(st: State, asked: str | None) -> "Watermark | None":
    """The watermark of what this data directory's Kafka holds, to count what waits when it
    is unreachable: that of the destination the relay `asked` (its cluster id), else of the one
    this data directory last reached (recorded there: record/destination.py) — never another
    data directory's sharing the store. A SQLite store is its data directory's alone: a
    directory from before the record, with one destination in its store, counts from that
    one. START when nothing of this store was ever published to the topic; None when that is
    not known."""
    from okr.record.destination import last
    from okr.record.watermark import START, anywhere, load, only

    s, topic = st.settings, st.settings.topic_ledger
    reached = asked or last(s, topic)
    if reached is not None:
        return load(s, topic, reached) or START
    if not anywhere(s, topic):
        return START
    return only(s, topic) if s.store == "sqlite" else None
