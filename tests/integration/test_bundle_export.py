"""`okr audit export` against a real broker: README.md's quarter, exported from Kafka, reviews
from the bundle as `okr review` does from the whole log."""

import json
import shlex
from pathlib import Path

import pytest

from okr.domain.review import ReviewPoint, review
from okr.record.envelope import Envelope
from tests.integration.conftest import Env

pytestmark = pytest.mark.integration

README_Q4 = """\
cycle add 2026-Q4
objective add rev-2x "Double revenue by year's end" --cycle 2026-Q4 --owner ana --team sales --type committed
kr add kr-conv "Website conversion up 20%" --objective rev-2x --kind increase --start 2.0 --target 2.4 --unit %
kr add kr-intl "Close 2 international contracts" --objective rev-2x --kind increase --start 0 --target 2
initiative add live-chat "Implement live chat on website" --kr kr-conv
kpi add wau "Weekly active users" --unit users --direction up --target 15000 --green 14000 --red 12000 --cadence weekly
kpi record wau 13250 --at 2026-10-05
cycle commit 2026-Q4
checkin kr-conv 2.2 --confidence 0.6 --note "chat launched" --at 2026-11-02
kr revise kr-conv --target 2.3 --reason "market slowdown"
"""


def initiatives(r: dict) -> dict[str, list[str]]:
    return {kr["key"]: [i["key"] for i in kr["initiatives"]]
            for o in r["objectives"] for kr in o["key_results"]}


def test_the_readme_quarters_bundle_reviews_as_okr_review(env: Env, tmp_path: Path) -> None:
    """A bundle left out every InitiativeAdded: its review listed kr-conv with no initiatives,
    `okr review` with live-chat."""
    for line in README_Q4.splitlines():
        env.ok(*shlex.split(line))
    env.ok("relay", "--once", "--checkpoint")
    out = tmp_path / "qb"
    env.ok("audit", "export", "--cycle", "2026-Q4", "--out", str(out))
    facts = [Envelope.from_bytes(line).fact()
             for line in (out / "events.jsonl").read_bytes().splitlines()]
    assert "InitiativeAdded" in {f.type for f in facts}
    logged = json.loads(env.ok("review", "2026-Q4", "--json"))
    assert initiatives(logged)["kr-conv"] == ["live-chat"]
    point = ReviewPoint(facts[-1].recorded_at, facts[-1].recorded_at)
    assert initiatives(review(facts, "2026-Q4", point)) == initiatives(logged)
