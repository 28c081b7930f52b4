"""Events stored by earlier code must load with today's code (upcast where they changed)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from okr.domain.history import scorecard_at
from okr.ledger import views
from okr.ledger.app import OkrLedger
from okr.record.envelope import EVENT_TYPES, chained
from okr.settings import load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def restore(home: Path, name: str) -> OkrLedger:
    """A fresh SQLite store holding exactly the fixture's stored events."""
    app = OkrLedger(load_settings({"home": home}))
    rows = [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]
    app.recorder.insert_events([
        StoredEvent(originator_id=UUID(r["originator_id"]),
                    originator_version=r["originator_version"], topic=r["topic"],
                    state=json.dumps(r["state"], separators=(",", ":")).encode())
        for r in rows])
    return app


FILES = sorted(p.name for p in FIXTURES.glob("stored-events-v*.jsonl"))


def test_there_is_a_fixture_file_for_every_event_schema_so_far() -> None:
    assert FILES == ["stored-events-v1.jsonl", "stored-events-v2.jsonl",
                     "stored-events-v3.jsonl", "stored-events-v4.jsonl",
                     "stored-events-v5.jsonl", "stored-events-v6.jsonl",
                     "stored-events-v7.jsonl"]


# Event types that came after the first fixture file: the fixture version that added them.
ADDED_IN = {"UserAdded": 5, "UserTokenIssued": 5, "UserPasswordSet": 6,
            "UserTokensRevoked": 7, "UserDisabled": 7, "UserEnabled": 7}


@pytest.mark.parametrize("name", FILES)
def test_fixtures_cover_every_event_type_published_when_they_were_made(tmp_path: Path,
                                                                        name: str) -> None:
    version = int(name.removeprefix("stored-events-v").removesuffix(".jsonl"))
    app = restore(tmp_path, name)
    types = {env.type for env in chained(app)}
    assert types == {t for t, _ in EVENT_TYPES.values() if ADDED_IN.get(t, 1) <= version}


def test_v5_users_load_with_their_role_team_and_token_hash(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v5.jsonl")
    dee = app.user("dee")
    assert (dee.role, dee.team, dee.token_hashes) == ("member", "sales",
                                                      {"0123456789abcdef": "a" * 64})


def test_v6_users_load_with_their_password_hash(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v6.jsonl")
    assert app.user("dee").password_hash is not None
    assert app.user("dee").password_hash.startswith("$argon2id$v=19$")


def test_v6_users_read_back_with_no_token_revoked_and_enabled(tmp_path: Path) -> None:
    dee = restore(tmp_path, "stored-events-v6.jsonl").user("dee")
    assert (dee.revoked, dee.disabled) == ((), False)
    assert dee.live_token_hashes == {"0123456789abcdef": "a" * 64}


def test_v7_users_load_with_their_revoked_tokens_and_lockouts(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v7.jsonl")
    dee = app.user("dee")
    assert (list(dee.revoked), dee.disabled) == (["0123456789abcdef"], False)
    assert dee.live_token_hashes == {"fedcba9876543210": "b" * 64}  # enabled: not revived
    reasons = {env.type: env.reason for env in chained(app) if env.aggregate_type == "user"}
    assert (reasons["UserTokensRevoked"], reasons["UserDisabled"], reasons["UserEnabled"]) \
        == ("leaked in a build log", "left the team", "back")


def test_v1_events_load_into_todays_aggregates(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v1.jsonl")
    k1 = app.key_result("k1")
    assert (k1.target, k1.cycle, k1.latest_check_in()["value"]) == (30.0, "2026-Q3", 10.0)
    assert app.key_result("k2").removed and app.key_result("k2").objective == "o2"
    assert app.objective("o1").parent == "co" and app.objective("o1").owner == "cy"
    assert app.kpi("nps").retired and app.kpi("nps").green == 45.0
    assert app.cycle("2026-Q3").status == "committed"
    assert app.initiative("i1").status == "in-progress"
    facts = [e.fact() for e in chained(app)]
    (o1,) = [c for c in scorecard_at(facts, facts[-1].recorded_at, facts[-1].recorded_at)
             if c["key"] == "o1"]
    assert o1["key_results"][0]["progress"] == 10 / 30
    # CheckInRecorded v1 had no source: upcast to v2, it reads back as None.
    assert k1.latest_check_in()["source"] is None


def test_v2_check_ins_keep_their_source(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v2.jsonl")
    assert [c["source"] for c in views.check_ins(app, app.key_result("k1"))] == ["manual",
                                                                             "import"]
    envelopes = [e for e in chained(app) if e.type == "CheckInRecorded"]
    assert [e.data["source"] for e in envelopes] == ["manual", "import"]


def test_cycles_stored_before_v3_read_back_in_utc_and_in_force_when_recorded(
        tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v1.jsonl")
    cyc = app.cycle("2026-Q3")
    assert (cyc.timezone, cyc.in_force_since) == ("UTC", cyc.created_on)
    assert all(e.effective_at == e.recorded_at for e in (e.fact() for e in chained(app))
               if e.type not in ("CheckInRecorded", "KpiReadingRecorded"))


def test_v3_plan_events_say_when_they_are_in_force(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v3.jsonl")
    assert app.cycle("2026-Q3").timezone == "UTC"
    start = app.cycle("2026-Q3").start
    envelopes = [e.fact() for e in chained(app)]
    added = {e.data["key"]: e for e in envelopes if e.type.endswith("Added")
             and e.type != "KpiAdded"}
    # Typed on 1 September while the cycle was in planning: in force from its start.
    assert {k: e.effective_at for k, e in added.items()} == dict.fromkeys(added, start)
    revised, _ = [e for e in envelopes if e.type == "KeyResultRevised"]  # k1's, then k3's
    assert revised.effective_at == datetime(2026, 8, 20, tzinfo=UTC) < revised.recorded_at
    assert "effective_at" not in revised.data and added["2026-Q3"].data["timezone"] == "UTC"


@pytest.mark.parametrize("name", ["stored-events-v1.jsonl", "stored-events-v2.jsonl"])
def test_key_results_stored_before_tolerance_have_none(tmp_path: Path, name: str) -> None:
    """KeyResultAdded/Revised v1 upcast to v2 read back without a tolerance band; their
    envelopes stay as published (no tolerance field), and the replay reads that as none."""
    app = restore(tmp_path, name)
    assert [app.key_result(k).tolerance for k in ("k1", "k2")] == [None, None]
    envelopes = [e for e in chained(app) if e.type in ("KeyResultAdded", "KeyResultRevised")]
    assert envelopes and all("tolerance" not in e.data for e in envelopes)
    facts = [e.fact() for e in chained(app)]
    cards = scorecard_at(facts, facts[-1].recorded_at, facts[-1].recorded_at)
    assert [kr["tolerance"] for c in cards for kr in c["key_results"]] == [None]


def test_v3_key_results_keep_their_tolerance(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v3.jsonl")
    assert app.key_result("k3").tolerance == 20.0
    envelopes = [e for e in chained(app) if e.type in ("KeyResultAdded", "KeyResultRevised")]
    assert [e.data["tolerance"] for e in envelopes] == [None, None, 50.0, None, 20.0]


@pytest.mark.parametrize("name", FILES[:3])
def test_items_stored_before_carry_forward_were_carried_from_nothing(tmp_path: Path,
                                                                     name: str) -> None:
    """ObjectiveAdded v1 and KeyResultAdded v1/v2 upcast: no `carried_from`; their envelopes
    stay as published (without the field), and the replay reads that as none."""
    app = restore(tmp_path, name)
    assert (app.objective("o1").carried_from, app.key_result("k1").carried_from) == (None, None)
    added = [e for e in chained(app) if e.type in ("ObjectiveAdded", "KeyResultAdded")]
    assert added and all("carried_from" not in e.data for e in added)
    facts = [e.fact() for e in chained(app)]
    cards = scorecard_at(facts, facts[-1].recorded_at, facts[-1].recorded_at)
    assert cards and all(c["key"] in ("co", "o1", "o2") for c in cards)


def test_v4_carried_items_name_their_origin(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v4.jsonl")
    assert (app.objective("o1.2026-Q4").carried_from, app.key_result("k1.2026-Q4").carried_from,
            app.objective("o1").carried_from) == ("o1", "k1", None)
    added = {e.data["key"]: e.data.get("carried_from", "absent") for e in chained(app)
             if e.type in ("ObjectiveAdded", "KeyResultAdded")}
    assert added == {"co": None, "o1": None, "o2": None, "k1": None, "k2": None, "k3": None,
                     "o1.2026-Q4": "o1", "k1.2026-Q4": "k1", "o2.2026-Q4": "o2",
                     "k3.2026-Q4": "k3"}


def test_committed_json_schema_is_current_and_accepts_real_envelopes(tmp_path: Path) -> None:
    import jsonschema

    from okr.record.envelope import json_schema
    committed = json.loads((FIXTURES.parents[1] / "record" / "envelope.schema.json").read_text())
    assert committed == json_schema(), "regenerate: python -P -m okr.record.envelope"
    validator = jsonschema.Draft202012Validator(committed,
                                                format_checker=jsonschema.FormatChecker())
    envelopes = [e for name in FILES
                 for e in chained(restore(tmp_path / name, name))]
    for env in envelopes:
        validator.validate(json.loads(env.to_bytes()))
    bad = json.loads(next(e for e in envelopes if e.data).to_bytes())
    del bad["data"][next(iter(bad["data"]))]
    assert not validator.is_valid(bad)


def test_v6_names_whom_a_check_in_was_for_in_its_envelope(tmp_path: Path) -> None:
    """The stored state's key for --on-behalf-of is fixed from v6 on: it loads, and publishes
    as the envelope member, covered by the hash; events without it carry no member."""
    envelopes = list(chained(restore(tmp_path, "stored-events-v6.jsonl")))
    named = [e for e in envelopes if e.on_behalf_of is not None]
    assert [(e.type, e.actor, e.on_behalf_of) for e in named] == [
        ("CheckInRecorded", "ana", "Dana")]
    raw = named[0].to_bytes()
    assert b'"on_behalf_of":"Dana"' in raw and named[0].hash_ok(raw)
    assert not any(b'"on_behalf_of"' in e.to_bytes() for e in envelopes if e is not named[0])


def test_the_envelopes_of_stored_events_never_change(tmp_path: Path) -> None:
    """The chain is recomputed from the store by auditors and by a relay republishing a wiped
    topic: the bytes of an event's envelope are fixed the day it is stored, whatever the code
    (upcasting included) does later. These digests were taken from the v1 fixtures when they
    were first published."""
    import hashlib

    envelopes = list(chained(restore(tmp_path, "stored-events-v1.jsonl")))
    assert envelopes[-1].hash == \
        "946837de67be4e7358bc36cd54323eba890ceaa0237eb9c73f9cc90c96c6d040"
    assert hashlib.sha256(b"".join(e.to_bytes() for e in envelopes)).hexdigest() == \
        "a82ab625fbe14afb98a140bc1860e15792ca07c8aa7423bb28803e0aba5fc071"
