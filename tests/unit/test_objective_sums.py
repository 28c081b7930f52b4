"""An objective's score and its roll-up are sums of floats, and a float sum depends on its
order: `measure_objective` and `roll_up` (one pass of scoring.weighted_sums) must give the
digits of the rule as written — objective_score over (progress, weight) pairs, the key results'
terms in card order, then the children's — on hostile trees, compared with ==."""

import random
from typing import Any

from okr.domain import scoring
from okr.domain.cards import measure_objective
from okr.domain.rollup import CHILD_WEIGHT, counts_in_parent, roll_up


def reference_rollups(cards: list[dict[str, Any]]) -> dict[str, tuple[float, float] | None]:
    """The rule as docs/scoring.md writes it, recursively (the trees here have no cycle)."""
    by_key = {c["key"]: c for c in cards}
    done: dict[str, tuple[float, float] | None] = {}

    def rolled(key: str) -> tuple[float, float] | None:
        if key not in done:
            krs = by_key[key]["key_results"]
            scores = [(k["progress"], k["weight"]) for k in krs]
            expected = [(k["expected"], k["weight"]) for k in krs]
            for c in cards:
                if c["parent"] == key and counts_in_parent(c):
                    got = rolled(c["key"])
                    if got is not None:
                        scores.append((got[0], CHILD_WEIGHT))
                        expected.append((got[1], CHILD_WEIGHT))
            s, e = scoring.objective_score(scores), scoring.objective_score(expected)
            done[key] = None if s is None or e is None else (s, e)
        return done[key]

    return {c["key"]: rolled(c["key"]) for c in cards}


def hostile_cards(rnd: random.Random) -> list[dict[str, Any]]:
    """A random forest: floats with every digit, weights of 0, ints and awkward fractions,
    objectives without key results, learning and abandoned children."""
    def number() -> float:
        return rnd.choice([0.1, 0.2, 0.3, 0.7, 1 / 3, 0.0, 1.0, rnd.random(), rnd.random()])

    cards: list[dict[str, Any]] = []
    for i in range(rnd.randrange(1, 40)):
        parent = rnd.choice([None, *(c["key"] for c in cards)]) if cards else None
        krs = [{"progress": number(), "expected": number(),
                "weight": rnd.choice([0, 1, 2, 3, 0.1, 0.3, 1.5, 1e-3, rnd.random()])}
               for _ in range(rnd.choice([0, 0, 1, 2, 3, 5, 9]))]
        cards.append({"key": f"o{i:02d}", "parent": parent, "key_results": krs,
                      "okr_type": rnd.choice(["committed", "aspirational", "learning"]),
                      "status": rnd.choice(["active", "active", "abandoned"])})
    rnd.shuffle(cards)
    return cards


def test_measure_objective_has_the_digits_of_objective_score_over_pairs() -> None:
    rnd = random.Random(20)
    for _ in range(300):
        for card in hostile_cards(rnd):
            krs = card["key_results"]
            score = scoring.objective_score([(k["progress"], k["weight"]) for k in krs])
            expected = scoring.objective_score([(k["expected"], k["weight"]) for k in krs])
            got = measure_objective(card["okr_type"], krs)
            assert (got["score"], got["expected"]) == (score, expected)
            assert got["track"] == (None if score is None or expected is None
                                    else scoring.status(score, expected))


def test_roll_up_has_the_digits_of_the_rule_as_written() -> None:
    rnd = random.Random(21)
    rolled_up = 0
    for _ in range(300):
        cards = hostile_cards(rnd)
        want = reference_rollups(cards)
        got = roll_up(cards)
        assert {k: None if g["rollup"] is None else (g["rollup"], g["rollup_expected"])
                for k, g in got.items()} == want
        rolled_up += sum(1 for c in cards if c["parent"] is not None and want[c["parent"]])
    assert rolled_up > 1000  # children were summed in, not only leaves
