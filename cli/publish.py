"""Best-effort publishing right after a CLI write: the write never fails because of Kafka."""

from okr.cli.context import State
from okr.cli.output import first_line


def after_write(st: State) -> str:
    """Publish what waits in the event store; one line saying what happened."""
    from okr.ledger import kafka_client
    from okr.ledger.local_broker import BrokerError
    from okr.ledger.relay import Relay, RelayError, pending
    from okr.ledger.watermark import load

    relay = None
    try:
        servers = kafka_client.bootstrap(st.settings, start_local=True)
        relay = Relay(st.ledger, servers, inline=True)
        result = relay.publish_pending()
        if result.published == 0:
            return ""
        again = " (topic was empty: republished the whole log)" if result.republished else ""
        return (f"published {result.published} event{'s' * (result.published != 1)} to "
                f"{st.settings.topic_ledger}{again}")
    except (kafka_client.KafkaError, RelayError, BrokerError, OSError) as exc:
        waiting = pending(st.ledger, load(st.settings, st.settings.topic_ledger).position)
        reason = first_line(exc)
        return (f"{waiting} event{'s' * (waiting != 1)} wait to be published (Kafka "
                f"unreachable: {reason}); run 'okr relay' when it is back")
    finally:
        if relay is not None:
            relay.close()
