"""Who could act at an instant, asked in SQL: `user_versions` says, version by version,
whether a user was disabled, which of their tokens were issued and revoked, and whether a
password was set — so an analyst's `okr sql` over a real data directory (a real broker) answers
"who was disabled at T?" and "which tokens were revoked as known at K?", and the replay of the
Kafka log and the ledger's own users agree with every answer. A projection file of the layout
before (schema version 4, no such columns) is rebuilt from Kafka on its first read, as
docs/schema.md says."""

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from okr.domain.history import Fact, world_at
from okr.ledger.app import OkrLedger
from okr.record.envelope import Envelope
from tests.integration.conftest import OKR, Env, ledger_records

pytestmark = pytest.mark.integration


def _now() -> datetime:
    return datetime.now(UTC)


def _token(env: Env, name: str) -> str:
    return str(json.loads(env.ok("token", "create", name, "--json"))["token_id"])


def _lit(t: datetime) -> str:
    return f"TIMESTAMPTZ '{t.isoformat()}'"


def _in_force(at: datetime, known: datetime) -> str:
    return (f"okr_in_force(valid_from, valid_to, recorded_at, recorded_to, {_lit(at)}, "
            f"{_lit(known)})")


def _sql(env: Env, sql: str) -> list[dict[str, object]]:
    return list(json.loads(env.ok("sql", sql, "--json")))


def _users_in_sql(env: Env, points: list[tuple[datetime, datetime]]
                  ) -> list[dict[str, dict[str, object]]]:
    """Each user in force at each (as_of, known_at) point, read in one `okr sql`."""
    values = ", ".join(f"({i}, {_lit(at)}, {_lit(known)})" for i, (at, known) in enumerate(points))
    rows = _sql(env, "SELECT p.i, key, disabled, tokens, revoked_tokens, password_set FROM "
                     f"(VALUES {values}) p(i, t, k) JOIN user_versions ON okr_in_force("
                     "valid_from, valid_to, recorded_at, recorded_to, p.t, p.k) "
                     "ORDER BY p.i, key")
    out: list[dict[str, dict[str, object]]] = [{} for _ in points]
    for r in rows:
        i, key = r.pop("i"), r.pop("key")
        assert isinstance(i, int)
        out[i][str(key)] = r
    return out


def _users_replayed(facts: list[Fact], at: datetime, known: datetime
                    ) -> dict[str, dict[str, object]]:
    return {key: {"disabled": u["disabled"], "tokens": u["tokens"],
                  "revoked_tokens": u["revoked_tokens"], "password_set": "password" in u}
            for key, u in world_at(facts, at, known).users.items()}


def _scenario(env: Env) -> dict[str, object]:
    """mia (two tokens, a password) and ben (one token); mia's first token revoked; ben
    disabled, enabled, then every token of his revoked. Returns the tokens and the instants
    between the steps."""
    env.ok("user", "add", "mia", "--role", "member", "--team", "sales")
    mia_a, mia_b = _token(env, "mia"), _token(env, "mia")
    subprocess.run([OKR, "user", "password", "mia", "--stdin"], input="mia's long password\n",
                   text=True, capture_output=True, env=env.environ, timeout=120, check=True)
    env.ok("user", "add", "ben", "--role", "viewer")
    ben_c = _token(env, "ben")
    t1 = _now()
    env.ok("token", "revoke", "mia", mia_a, "--reason", "leaked in a build log")
    t2 = _now()
    env.ok("user", "disable", "ben", "--reason", "left for a month")
    t3 = _now()
    env.ok("user", "enable", "ben", "--reason", "back")
    env.ok("token", "revoke", "ben", "--all", "--reason", "rotated")
    t4 = _now()
    return {"mia_a": mia_a, "mia_b": mia_b, "ben_c": ben_c, "t1": t1, "t2": t2, "t3": t3,
            "t4": t4}


def test_an_analyst_asks_sql_who_was_disabled_and_which_tokens_were_revoked(env: Env) -> None:
    s = _scenario(env)
    t1, t2, t3, t4 = (s[k] for k in ("t1", "t2", "t3", "t4"))
    assert isinstance(t1, datetime) and isinstance(t2, datetime)
    assert isinstance(t3, datetime) and isinstance(t4, datetime)

    def disabled(at: datetime, known: datetime) -> list[object]:
        return [r["key"] for r in _sql(env, "SELECT key FROM user_versions WHERE "
                                            f"{_in_force(at, known)} AND disabled ORDER BY key")]

    assert disabled(t3, t4) == ["ben"]  # disabled then, as known later
    assert disabled(t2, t4) == [] and disabled(t4, t4) == []  # before and after
    assert disabled(t4, t3) == ["ben"]  # as known at t3, he was still disabled

    def revoked(known: datetime) -> dict[object, object]:
        return {r["key"]: r["revoked_tokens"] for r in _sql(
            env, "SELECT key, revoked_tokens FROM user_versions WHERE "
                 f"{_in_force(known, known)} ORDER BY key")}

    assert revoked(t1) == {"ben": [], "mia": []}
    assert revoked(t3) == {"ben": [], "mia": [s["mia_a"]]}
    assert revoked(t4) == {"ben": [s["ben_c"]], "mia": [s["mia_a"]]}

    # who could act at t3 (as known at t4): enabled, with a live token or a password
    could = _sql(env, "SELECT key FROM user_versions WHERE " + _in_force(t3, t4)
                 + " AND NOT disabled AND (password_set OR len(list_filter(tokens, "
                   "lambda t: NOT list_contains(revoked_tokens, t))) > 0) ORDER BY key")
    assert could == [{"key": "mia"}]

    # the replay of the Kafka log agrees at every pair of instants
    facts = [Envelope.from_bytes(m.value or b"").fact() for m in ledger_records(env.settings)]
    assert len(facts) == 10
    instants = [t1, t2, t3, t4]
    points = [(at, known) for at in instants for known in instants]
    assert _users_in_sql(env, points) == [_users_replayed(facts, *p) for p in points]
    # and so do the ledger's users, now
    app = OkrLedger(env.settings)
    try:
        ledger = {k: {"disabled": u.disabled, "tokens": list(u.token_hashes),
                      "revoked_tokens": sorted(u.revoked),
                      "password_set": u.password_hash is not None}
                  for k in ("ben", "mia") for u in (app.user(k),)}
    finally:
        app.close()
    now = _now()
    assert _users_in_sql(env, [(now, now)]) == [ledger]


def _as_version_4(path: Path) -> None:
    """The file as okr of schema version 4 left it: user_versions without the new columns."""
    con = duckdb.connect(str(path))
    try:
        for column in ("disabled", "tokens", "revoked_tokens", "password_set"):
            con.execute(f'ALTER TABLE user_versions DROP COLUMN "{column}"')
        con.execute("UPDATE projection_meta SET schema_version = 4, digest = 'older'")
    finally:
        con.close()


def test_a_projection_file_of_schema_version_4_is_rebuilt_from_kafka_on_its_first_read(
        env: Env) -> None:
    env.ok("user", "add", "ben", "--role", "viewer")
    env.ok("user", "disable", "ben", "--reason", "left for a month")
    assert _sql(env, "SELECT count(*) AS n FROM events") == [{"n": 2}]
    settings = env.settings
    for path in (settings.projection_work_file, settings.duckdb_file):
        if path.exists():
            _as_version_4(path)
    now = _now()
    rows = _sql(env, f"SELECT key, disabled FROM user_versions WHERE {_in_force(now, now)}")
    assert rows == [{"key": "ben", "disabled": True}]
    assert _sql(env, "SELECT count(*) AS n FROM events") == [{"n": 2}]  # rebuilt, not doubled
    con = duckdb.connect(str(settings.projection_work_file), read_only=True)
    try:
        assert con.execute("SELECT schema_version FROM projection_meta").fetchall() != [(4,)]
    finally:
        con.close()
