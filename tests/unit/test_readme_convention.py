"""The convention by which README.md runs (tests/support/readme.py; the run itself is
tests/integration/test_readme.py): what runs, what must fail, what is skipped and why."""

import re
from datetime import date

import pytest

from tests.support.readme import ConventionError, split_comment, steps

# The day the README test was written: a date typed in a command after it could lie in the
# future of a run (a check-in "at" tomorrow is refused), and the test would depend on the date.
WRITTEN = date(2026, 12, 3)


def test_readme_follows_the_convention() -> None:
    found = steps()
    runs = [s for s in found if s.kind == "sh" and s.skip is None]
    assert len(runs) >= 30
    assert any(s.expect == 2 for s in runs)  # a refusal is shown, and checked
    assert all(s.skip.strip() for s in found if s.skip is not None)
    assert any(s.kind == "file" and s.path == "q3.yaml" for s in found)
    assert any(s.kind == "python" and s.skip is None for s in found)


def test_dates_typed_in_readme_commands_are_in_the_past_of_any_run() -> None:
    for step in steps():
        if step.skip is None and step.kind != "file":
            for typed in re.findall(r"\b(\d{4}-\d\d-\d\d)\b", step.text):
                assert date.fromisoformat(typed) <= WRITTEN, f"{step.where()}: {typed}"


def test_markers_exits_not_run_continuations_and_quotes() -> None:
    text = """intro
```sh
# a whole-line comment is skipped
okr show x   # shows x

okr checkin NOPE 5   # exits 2: not found
okr up               # until Ctrl-C (not run: it runs until stopped)
okr sql "SELECT '#1' AS a" \\
    --json           # one command over two lines
```
```sh not-run: needs a server
okr relay
```
```yaml file=plan.yaml
a: 1
```
```sql
SELECT 1;
```
```python
print(1)
```
"""
    found = steps(text)
    assert [(s.kind, s.line, s.expect, s.skip) for s in found] == [
        ("sh", 4, 0, None), ("sh", 6, 2, None), ("sh", 7, 0, "it runs until stopped"),
        ("sh", 8, 0, None), ("sh", 12, 0, "needs a server"), ("file", 14, 0, None),
        ("python", 21, 0, None)]
    assert found[3].text == """okr sql "SELECT '#1' AS a"      --json"""
    assert found[5].path == "plan.yaml" and found[5].text == "a: 1\n"
    assert split_comment("okr x 'a # b' # c") == ("okr x 'a # b'", "c")


@pytest.mark.parametrize("text", [
    "```sh not-run:\nokr relay\n```\n",  # a reason is required
    "```sh skip\nokr relay\n```\n",  # an unknown marker is not silently a run
    "```sh\nokr up   # (not run: )\n```\n",
    "```sh\nokr show x\n",  # never closed
])
def test_a_marker_without_a_reason_or_a_broken_fence_is_refused(text: str) -> None:
    with pytest.raises(ConventionError, match=r"README\.md:\d+: "):
        steps(text)
