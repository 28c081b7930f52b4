"""The web's restatement (web/site.py `restate`) compares by the review's rule: a number equal
but for float rounding (a score summed in another order) is no restatement (the web's own
copy compared with `!=` and highlighted 0.30000000000000004 against 0.3), and an objective
and a key result sharing a key are two items."""

from typing import Any

from okr.web.site import restate


def cards(progress: float, objective_parent: str | None = None) -> list[dict[str, Any]]:
    kr = {"key": "x", "title": "K", "objective": "o", "value": 1.0, "target": 3.0,
          "progress": progress, "expected": 0.5, "status": "on-track", "confidence": None}
    # objective x before o, whose key result x came after it and took its place in the index
    return [{"key": "x", "title": "X", "status": "active", "parent": objective_parent,
             "score": None, "succeeded": None, "rollup": None, "key_results": []},
            {"key": "o", "title": "O", "status": "active", "parent": None, "score": progress,
             "succeeded": False, "rollup": progress, "key_results": [kr]}]


def test_float_rounding_is_no_restatement() -> None:
    said = restate(cards(0.1 + 0.2), cards(0.3))
    assert said.changes == []
    assert [r.changed for r in said.key_results] == [frozenset()]
    assert [o.changed for o in said.objectives] == [frozenset(), frozenset()]


def test_an_objective_sharing_a_key_result_key_is_restated_as_itself() -> None:
    said = restate(cards(0.3), cards(0.3, objective_parent="o"))
    assert said.changes == [{"kind": "objective", "key": "x", "field": "parent",
                             "before": None, "after": "o"}]
    assert [r.changed for r in said.key_results] == [frozenset()]
    assert {o.key: o.changed for o in said.objectives} == {"o": frozenset(),
                                                           "x": frozenset({"parent"})}
    assert [o.key for o in said.objectives] == ["x", "o"]
