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

def readme_q4() -> list[list[str]]:
    """The commands of README.md's "Using it" quarter, from `okr cycle add 2026-Q4` up to its
    revision after the commit, as the reader types them."""
    from tests.support.readme import steps

    texts = [s.text for s in steps() if s.kind == "sh" and s.skip is None]
    start = texts.index("okr cycle add 2026-Q4")
    end = next(i for i, t in enumerate(texts) if i > start and t.startswith("okr kr revise"))
    cmds = [shlex.split(t) for t in texts[start:end + 1]]
    assert ["okr", "initiative", "add", "live-chat"] in [c[:4] for c in cmds]
    return [c[1:] for c in cmds]


def initiatives(r: dict) -> dict[str, list[str]]:
    return {kr["key"]: [i["key"] for i in kr["initiatives"]]
            for o in r["objectives"] for kr in o["key_results"]}


def test_the_readme_quarters_bundle_reviews_as_okr_review(env: Env, tmp_path: Path) -> None:
    """A bundle left out every InitiativeAdded: its review listed kr-conv with no initiatives,
    `okr review` with live-chat."""
    for args in readme_q4():
        env.ok(*args)
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
