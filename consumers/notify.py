"""Reminders on okr.notifications: what `okr due` lists, published by `okr up` on a schedule.

Every `notify_seconds` the notifier reads the readers' DuckDB snapshot (the consumer keeps it
current; the notifier never touches the consumer's work file), asks domain.due what is due
now, and publishes each reminder not sent yet — a reminder is one item, its reasons and one
cadence period of being overdue (domain.due.reminder_id), so an item overdue for three weeks
on a weekly cadence is announced three times, not every hour. The ids sent are kept in
`notifications.json` in the data directory, written only after the producer's flush
succeeded: a crash between the two sends a reminder again (at least once; a bridge dedupes on
`id`). The message is a public contract: docs/notifications.md and notification.schema.json.
"""

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from okr.adapters import kafka_client
from okr.domain.base import utc_now
from okr.domain.due import DueItem, due_items, reminder_id
from okr.settings import Settings

SCHEMA = "okr.notification/1"
STATE_FILE = "notifications.json"


def iso(t: datetime | None) -> str | None:
    """UTC, ISO 8601 with a Z, to the second."""
    if t is None:
        return None
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def text(item: DueItem) -> str:
    """One sentence a chat or mail bridge can show (stored text inside: escape it there)."""
    what = "key result" if item["kind"] == "key_result" else "KPI"
    whose = item["owner"] or "no owner"
    team = f", team {item['team']}" if item["team"] else ""
    why = {"no-check-in": f"no check-in within its cadence ({item['cadence']})",
           "stale": f"no reading within its cadence ({item['cadence']})",
           "red": "red"}
    return (f"{what} {item['key']} ({item['title']}) of {whose}{team}: "
            f"{'; '.join(why[r] for r in item['reasons'])} — due since {iso(item['due_at'])}")


def message(item: DueItem, now: datetime) -> dict[str, Any]:
    """The JSON message of one reminder (schema: notification.schema.json)."""
    return {"schema": SCHEMA, "id": reminder_id(item, now), "sent_at": iso(now),
            "kind": item["kind"], "key": item["key"], "title": item["title"],
            "owner": item["owner"], "team": item["team"], "teams": item["teams"],
            "cycle": item["cycle"], "reasons": item["reasons"], "cadence": item["cadence"],
            "last_at": iso(item["last_at"]), "due_at": iso(item["due_at"]),
            "overdue_seconds": item["overdue_seconds"], "value": item["value"],
            "health": item["health"], "text": text(item)}


def schema() -> dict[str, Any]:
    """The JSON Schema of the messages."""
    doc: dict[str, Any] = json.loads(resources.files("okr.consumers")
                                     .joinpath("notification.schema.json")
                                     .read_text(encoding="utf-8"))
    return doc


class Notifier:
    """Publishes the reminders due; use from one thread."""

    def __init__(self, settings: Settings, servers: str) -> None:
        self.settings = settings
        self.servers = servers
        self.state = settings.home / STATE_FILE
        self.producer: Any = None

    def close(self) -> None:
        kafka_client.close_quietly(self.producer)
        self.producer = None

    def _sent(self) -> set[str]:
        try:
            return set(json.loads(self.state.read_text(encoding="utf-8"))["sent"])
        except FileNotFoundError:
            return set()
        except (ValueError, KeyError, TypeError):
            return set()  # a damaged file: reminders go out again rather than never

    def _save(self, ids: set[str]) -> None:
        from okr.files import new_file
        with new_file(self.state) as tmp:
            tmp.write_text(json.dumps({"sent": sorted(ids)}), encoding="utf-8")

    def due_now(self, now: datetime) -> list[DueItem] | None:
        """What is due at `now` by the snapshot; None when there is no snapshot yet."""
        from okr.projections.store import Projection

        snap: Path = self.settings.duckdb_file
        if not snap.exists():
            return None
        with Projection(snap, read_only=True, wait=5.0) as proj:
            krs, kpis = proj.due_inputs(now)
        return due_items(krs, kpis, self.settings.checkin_cadence, now)

    def round(self, now: datetime | None = None) -> list[dict[str, Any]] | None:
        """Publish the reminders due and not sent yet; returns them (None: no snapshot)."""
        now = now or utc_now()
        items = self.due_now(now)
        if items is None:
            return None
        sent = self._sent()
        current = {reminder_id(i, now): i for i in items}
        new = [message(i, now) for rid, i in current.items() if rid not in sent]
        if new:
            topic = self.settings.topic_notifications
            kafka_client.ensure_topics(self.settings, self.servers, [topic])
            if self.producer is None:
                self.producer = kafka_client.producer(self.settings, self.servers,
                                                      client_id="okr-notify")
            futures = [self.producer.send(topic, key=f"{m['kind']}:{m['key']}".encode(),
                                          value=json.dumps(m, ensure_ascii=False).encode(),
                                          headers=[("schema", SCHEMA.encode())])
                       for m in new]
            self.producer.flush(timeout=30)
            failed = [f for f in futures if not f.succeeded()]
            if failed:
                raise kafka_client.KafkaError(f"could not publish {len(failed)} reminders")
        # Keep only what is still due: an item no longer due drops out, so the file stays as
        # small as the list of reminders.
        self._save(set(current))
        return new
