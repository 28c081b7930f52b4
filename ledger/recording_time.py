"""Recording time never decreases with position: the event store refuses an event recorded
earlier than the last one it holds.

A trigger does it, in the store itself, so an insert that bypasses okr (the sqlite3 shell,
psql) is refused too; someone who can drop the trigger is caught by the relay, which refuses
to publish such an event, and by `okr audit verify`, which names it. Our own writes sort each
save's events by time (`OkrLedger.save`); a writer that took its time before another writer's
later event committed gets an IntegrityError and decides again with a fresh time.

Times are read from the stored event's JSON (`timestamp`, as eventsourcing writes it with
`datetime.isoformat()`, always UTC here). A state that is not JSON (a cipher or compressor
configured) is not checked by the trigger; the relay still checks it.
"""

from typing import Any

TRIGGER = "okr_recording_time_rises"
REFUSED = "recording time earlier than that of the last stored event"

# SQLite: compare ISO text with microseconds always written when both times are UTC, and
# julianday() otherwise; only rows whose state is JSON are checked.
_FULL = ("(CASE WHEN length({t}) = 25 THEN substr({t}, 1, 19) || '.000000' || substr({t}, 20) "
         "ELSE {t} END)")


def _sqlite_ddl(table: str) -> str:
    earlier = (f"(CASE WHEN cur.t LIKE '%+00:00' AND prev.t LIKE '%+00:00' THEN "
               f"{_FULL.format(t='cur.t')} < {_FULL.format(t='prev.t')} "
               "ELSE julianday(cur.t) < julianday(prev.t) END)")
    return (f"CREATE TRIGGER IF NOT EXISTS {TRIGGER} BEFORE INSERT ON {table} "
            "WHEN json_valid(CAST(NEW.state AS TEXT)) BEGIN "
            f"SELECT RAISE(ABORT, '{REFUSED}') FROM "
            f"(SELECT json_extract(CAST(state AS TEXT), '$.timestamp._data_') AS t FROM {table} "
            "WHERE json_valid(CAST(state AS TEXT)) ORDER BY rowid DESC LIMIT 1) AS prev, "
            "(SELECT json_extract(CAST(NEW.state AS TEXT), '$.timestamp._data_') AS t) AS cur "
            f"WHERE {earlier}; END")


def _postgres_ddl(schema: str, table: str) -> list[str]:
    qualified = f'"{schema}"."{table}"'
    function = f'"{schema}"."{TRIGGER}"'
    return [
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_at timestamptz;
  last_at timestamptz;
BEGIN
  BEGIN
    new_at := (convert_from(NEW.state, 'UTF8')::jsonb -> 'timestamp' ->> '_data_')::timestamptz;
    SELECT (convert_from(s.state, 'UTF8')::jsonb -> 'timestamp' ->> '_data_')::timestamptz
      INTO last_at FROM {qualified} s ORDER BY s.notification_id DESC LIMIT 1;
  EXCEPTION WHEN others THEN
    RETURN NEW;  -- not JSON (cipher, compressor): the relay checks it
  END;
  IF last_at IS NOT NULL AND new_at < last_at THEN
    RAISE EXCEPTION '{REFUSED} (% < %)', new_at, last_at USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""",
        f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{TRIGGER}'
                 AND tgrelid = '{qualified}'::regclass) THEN
    CREATE TRIGGER {TRIGGER} BEFORE INSERT ON {qualified}
      FOR EACH ROW EXECUTE FUNCTION {function}();
  END IF;
END $$""",
    ]


def guard(recorder: Any, store: str) -> None:
    """Install the trigger on the event store's table (idempotent; PostgreSQL callers hold the
    table-creation lock). An in-memory store (unit tests) has no trigger."""
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:
        return
    table = recorder.events_table_name
    if store == "sqlite":
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(_sqlite_ddl(table))
        return
    with datastore.transaction(commit=True) as cursor:
        for statement in _postgres_ddl(datastore.schema, table):
            cursor.execute(statement)
