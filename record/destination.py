"""Which destination (Kafka cluster, by its id) this data directory's relay last reached, per
topic, kept in the data directory (`relay-destination.json`).

The watermarks are kept in the event store per destination (record/watermark.py), and several
data directories may share one store, each with a broker of its own. When a write cannot ask
its Kafka which cluster it is, this says whose watermark is this directory's: the one of the
cluster last reached through the same Kafka setting (KAFKA_BOOTSTRAP_SERVERS, or the local
broker). Read from a file of a few lines: no network, no query. The file is written only when
what it says changes, under a lock (okr.files.update_private_json), so two relays recording
two topics at once keep both.
"""

from typing import Any

from okr.settings import Settings

FILE = "relay-destination.json"
LOCAL = "local broker"  # the servers of a data directory's own broker (its port may change)


def _servers(settings: Settings) -> str:
    return settings.kafka_bootstrap_servers or LOCAL


def _read(settings: Settings) -> dict[str, Any]:
    """What the file says ({}: none yet, or unreadable: nothing known; written again)."""
    from okr.files import read_json_object
    return read_json_object(settings.home / FILE)


def last(settings: Settings, topic: str) -> str | None:
    """The destination last reached for `topic` through the Kafka configured now (None: none
    recorded, or it was reached through another setting)."""
    entry = _read(settings).get(topic)
    if (isinstance(entry, dict) and entry.get("servers") == _servers(settings)
            and isinstance(entry.get("destination"), str)):
        return str(entry["destination"])
    return None


def remember(settings: Settings, topic: str, destination: str) -> None:
    """Record that `topic` was reached at `destination` (a no-op when that is recorded)."""
    entry = {"servers": _servers(settings), "destination": destination}
    if _read(settings).get(topic) == entry:
        return
    from okr.files import update_private_json

    def reached(doc: dict[str, Any]) -> dict[str, Any] | None:
        # read again under the lock: another relay may have recorded another topic meanwhile
        return None if doc.get(topic) == entry else {**doc, topic: entry}

    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    update_private_json(settings.home / FILE, reached)
