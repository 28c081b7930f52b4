"""`okr import plan FILE`: a quarter's plan and results from YAML or CSV, all or nothing.

A file brings cycles, KPIs, objectives, key results, initiatives, check-ins and readings —
typically last quarter's, from a spreadsheet or another tool. Everything is recorded now, by
the importing actor, with the source `import:<file name>`; plan items are added while their
new cycle is in planning, so they are in force from the cycle's start (or from the line's
`effective` date); a KPI from the start of the quarter it guarded (`_Plan.kpi_since`);
check-ins and readings keep their own times. A quarter imported today therefore reviews as if
it had been entered on time when viewed as of a date inside it, while `--known-at` views show
honestly that it became known today.

Every line is checked against the ledger and the lines before it; any bad line is reported
with its line number and nothing is written. The good file is saved in ONE transaction.
"""

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate

from okr.domain.base import check_text, in_force, utc_now
from okr.domain.cycle import Cycle
from okr.domain.errors import DomainError, said
from okr.domain.initiative import Initiative
from okr.domain.key_result import KeyResult
from okr.domain.kpi import Kpi
from okr.domain.notices import Notice, early_key_result, early_objective, early_reading
from okr.domain.numbers import parse_number
from okr.domain.objective import Objective
from okr.domain.periods import canonical_cycle_key, zone
from okr.ledger.app import OkrLedger
from okr.ledger.imports import ParseTimeIn, SayTime, note

# Section → (required fields, optional fields). Applied in this order, whatever the file's.
SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cycles": (("key",), ("start", "end", "timezone", "committed", "closed")),
    "kpis": (("key", "name", "green", "red"),
             ("unit", "direction", "target", "cadence", "tags", "owner", "effective")),
    "objectives": (("key", "title", "cycle"),
                   ("owner", "team", "level", "type", "description", "parent", "effective")),
    "key_results": (("key", "title", "objective"),
                    ("kind", "start", "target", "target_high", "unit", "weight", "kpi",
                     "effective")),
    "initiatives": (("key", "title", "kr"), ("owner", "status", "effective")),
    "checkins": (("kr", "value"), ("confidence", "note", "at")),
    "readings": (("kpi", "value"), ("at", "id")),
}
# A CSV row names its section in the `section` column, singular or plural.
SINGULAR = {"cycle": "cycles", "kpi": "kpis", "objective": "objectives",
            "key_result": "key_results", "kr": "key_results", "initiative": "initiatives",
            "checkin": "checkins", "check_in": "checkins", "reading": "readings"}
MAX_BYTES = 20_000_000
# Lists and mappings inside one another in a YAML plan, at most: a plan needs four (sections,
# their lists, an entry, its phased targets); deeper is no plan, and PyYAML's parser fails on it.
MAX_DEPTH = 16
MAX_ROWS = 200_000
MAX_ERRORS = 200


@dataclass
class PlanImport:
    """What an import found and did."""

    path: str
    counts: dict[str, int] = field(default_factory=dict)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    written: bool = False
    stopped: bool = False  # more than MAX_ERRORS problems: it stopped looking after those
    # Readings and key results recorded that count in no as-of view at their own time
    # (domain/notices.py), and the first MAX_NOTED of their lines with the warning.
    before_in_force: int = 0
    before_in_force_lines: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.path, "counts": self.counts, "invalid": self.invalid,
                "written": self.written, "stopped_after": MAX_ERRORS if self.stopped else None,
                "before_in_force": self.before_in_force,
                "before_in_force_lines": self.before_in_force_lines}


Row = tuple[int, str, dict[str, str]]  # line, section, fields as text


def _text(value: Any) -> str:
    """A scalar as the text a spreadsheet would hold (YAML reads dates and numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        raise DomainError("a nested mapping is not a value")
    return str(value).strip()


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DomainError(f"file {path} not found") from None
    except OSError as exc:  # the user's file, not the data directory: bad input
        raise DomainError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size > MAX_BYTES:
        raise DomainError(f"{path}: {size} bytes; at most {MAX_BYTES} — split the file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError(f"file {path} is not UTF-8 text") from None
    except OSError as exc:  # a directory, unreadable, a device that fails
        raise DomainError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_yaml(path: Path) -> list[Row]:
    """Rows of a YAML file: a mapping of section name → list of mappings."""
    import yaml

    text = _read_text(path)

    class Loader(yaml.SafeLoader):  # type: ignore[misc]  # pyyaml ships no type hints
        pass

    def mapping(loader: Any, node: Any) -> dict[str, Any]:
        value: dict[str, Any] = loader.construct_mapping(node, deep=True)
        value["__line__"] = node.start_mark.line + 1
        return value

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:  # aliases can multiply a small file into a huge one: refuse them
        depth = 0
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            line = ev.start_mark.line + 1 if ev.start_mark else 0
            if isinstance(ev, yaml.AliasEvent):
                raise DomainError(f"{path}:{line}: YAML aliases (*name) are not accepted")
            # PyYAML composes nested lists and mappings recursively (a RecursionError past
            # ~1,000 levels) and parses deep nesting in quadratic time: stop at once
            if isinstance(ev, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise DomainError(f"{path}:{line}: nested more than {MAX_DEPTH} deep; a plan "
                                      "is a mapping of sections, each a list of entries")
            elif isinstance(ev, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                depth -= 1
        doc = yaml.load(text, Loader=Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise DomainError(f"{path}{where}: not valid YAML ({problem}); nothing was "
                          "written") from None
    if not isinstance(doc, dict):
        raise DomainError(f"{path}: the file must be a mapping of sections "
                          f"({', '.join(SECTIONS)})")
    rows: list[Row] = []
    for name, items in doc.items():
        if name == "__line__":
            continue
        if name not in SECTIONS:
            raise DomainError(f"{path}: unknown section {str(name)[:40]!r}; use "
                              f"{', '.join(SECTIONS)}")
        if not isinstance(items, list):
            raise DomainError(f"{path}: section {name} must be a list of entries")
        for item in items:
            if not isinstance(item, dict):
                raise DomainError(f"{path}: every entry of {name} must be a mapping")
            line = int(item.pop("__line__"))
            try:
                rows.append((line, name, {str(k): _text(v) for k, v in item.items()}))
            except DomainError as exc:
                rows.append((line, name, {"__error__": str(exc)}))
            if len(rows) > MAX_ROWS:
                raise DomainError(f"{path}: more than {MAX_ROWS} entries; split the file")
    return rows


def read_csv(path: Path) -> list[Row]:
    """Rows of a CSV file with a header; the `section` column says what each row is."""
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    rows: list[Row] = []
    try:
        header = [h.strip() for h in reader.fieldnames or []]
        known = {"section"} | {f for req, opt in SECTIONS.values() for f in req + opt}
        unknown = [h for h in header if h not in known]
        if "section" not in header or unknown:
            raise DomainError(f"{path}: the header must name a 'section' column and fields "
                              f"of the sections" + (f"; unknown column(s) "
                                                    f"{', '.join(map(repr, unknown))}"
                                                    if unknown else ""))
        reader.fieldnames = header
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise DomainError(f"{path}: more than {MAX_ROWS} rows; split the file")
            if None in row:
                rows.append((reader.line_num, "", {"__error__": "more fields than the header "
                                                   "names"}))
                continue
            fields = {k: (v or "").strip() for k, v in row.items() if (v or "").strip()}
            section = fields.pop("section", "").lower().replace("-", "_")
            rows.append((reader.line_num, SINGULAR.get(section, section), fields))
    except csv.Error as exc:
        raise DomainError(f"{path}:{reader.line_num + 1}: not valid CSV ({exc}); nothing was "
                          "written") from None
    return rows


def _opt_number(row: dict[str, str], name: str) -> float | None:
    return parse_number(row[name], name) if row.get(name) else None


def _flag(row: dict[str, str], name: str) -> bool:
    value = row.get(name, "").lower()
    if value in ("", "false", "no", "0"):
        return False
    if value in ("true", "yes", "1"):
        return True
    raise DomainError(f"{name} must be true or false, not {value!r}")


class _Plan:
    """The file's items and the ledger's, changed in memory in line order."""

    def __init__(self, app: OkrLedger, parse_time: ParseTimeIn, source: str) -> None:
        self.app, self.parse_time, self.source = app, parse_time, source
        self.now = utc_now()
        self.actor = app.principal
        self.items: dict[tuple[str, str], Aggregate] = {}
        self.new: set[tuple[str, str]] = set()
        self.to_commit: list[str] = []
        self.to_close: list[str] = []
        self.rows: list[Row] = []  # the file's, for what a line reads of later ones
        self._uses: dict[str, tuple[datetime | None, set[str]]] | None = None  # _kpi_uses

    def get(self, kind: str, key: str) -> Any:
        if (kind, key) not in self.items:
            self.items[(kind, key)] = getattr(self.app, kind)(key)  # NotFound names it
        return self.items[(kind, key)]

    def create(self, kind: str, key: str, build: Callable[[], Aggregate]) -> Any:
        if (kind, key) in self.items or self.app.exists(kind, key):
            raise DomainError(f"{kind.replace('_', ' ')} {key!r} already exists")
        agg = build()
        self.items[(kind, key)] = agg
        self.new.add((kind, key))
        return agg

    def time(self, row: dict[str, str], name: str, zone: str | None = None) -> datetime | None:
        """The row's time `name` (None when blank); without an offset, in `zone`, else in the
        importer's."""
        text = row.get(name, "")
        return None if not text else self.parse_time(text, zone)

    def in_force(self, cyc: Cycle, row: dict[str, str], what: str) -> datetime | None:
        return in_force(self.time(row, "effective"), self.source, planning=not
                        cyc.plan_committed, cycle_start=cyc.start, now=self.now, latest=None,
                        what=what)

    # ---- one method per section ---------------------------------------------------------

    def cycles(self, row: dict[str, str]) -> None:
        key = canonical_cycle_key(row["key"])
        tz = row.get("timezone") or self.app.settings.org_timezone
        zone(tz)  # an unknown zone is this line's error, before its dates are read in it
        # Its dates are the cycle's days, as `okr cycle add` reads them: local midnight in
        # the cycle's zone, whoever imports the file, wherever they are.
        self.create("cycle", key, lambda: Cycle.add(
            key, self.time(row, "start", tz), self.time(row, "end", tz), self.actor, tz,
            now=self.now))
        if _flag(row, "committed"):
            self.to_commit.append(key)
        if _flag(row, "closed"):
            self.to_close.append(key)

    def kpis(self, row: dict[str, str]) -> None:
        key = row["key"]
        effective = self.time(row, "effective")
        eff = (self.kpi_since(key) if effective is None else
               in_force(effective, self.source, planning=False, cycle_start=None, now=self.now,
                        latest=None, what=f"adding KPI {key}"))
        self.create("kpi", key, lambda: Kpi.add(
            key, row["name"], row.get("unit", ""), row.get("direction") or "up",
            _opt_number(row, "target"), parse_number(row["green"], "green"),
            parse_number(row["red"], "red"), row.get("cadence") or "weekly",
            [t for t in row.get("tags", "").split(",") if t.strip()],
            row.get("owner") or self.actor, self.actor, effective_at=eff))

    def kpi_since(self, key: str) -> datetime | None:
        """When a KPI the file brings without `effective` is in force from: the start of the
        quarters of the file it guarded — the one its first reading in the file falls in, and
        those whose key results in the file it measures — or that first reading, whichever
        is earliest, if before now; else when recorded. (Any other quarter the file brings,
        an archive one, does not move it.)"""
        first_read, cycles_measured = self._kpi_uses().get(key, (None, set()))
        cycles = {item[1]: agg for item, agg in self.items.items()
                  if isinstance(agg, Cycle) and item in self.new}
        guarded = set(cycles_measured)
        if first_read is not None:
            guarded |= {k for k, c in cycles.items() if c.window.contains(first_read)}
        times = [*([first_read] if first_read else []),
                 *(cycles[k].start for k in guarded if k in cycles)]
        since = min(times, default=None)
        return since if since is not None and since < self.now else None

    def _kpi_uses(self) -> dict[str, tuple[datetime | None, set[str]]]:
        """KPI → (its first reading in the file, the cycles whose key results in the file
        measure it): one pass over the file's rows, made once for all its KPIs."""
        if self._uses is not None:
            return self._uses
        first: dict[str, datetime] = {}
        objectives: dict[str, str] = {}  # objective → its cycle, as the file says
        measuring: dict[str, set[str]] = {}  # KPI → objectives whose key results measure it
        for _, section, row in self.rows:
            if section == "readings" and row.get("kpi") and row.get("at"):
                with suppress(DomainError, ValueError):  # a bad time is its own line's error
                    t = self.parse_time(row["at"])
                    first[row["kpi"]] = min(t, first.get(row["kpi"], t))
            elif section == "objectives" and row.get("key") and row.get("cycle"):
                with suppress(DomainError, ValueError):
                    objectives[row["key"]] = canonical_cycle_key(row["cycle"])
            elif section == "key_results" and row.get("kpi") and row.get("objective"):
                measuring.setdefault(row["kpi"], set()).add(row["objective"])
        self._uses = {kpi: (first.get(kpi), {objectives[o] for o in measuring.get(kpi, ())
                                               if o in objectives})
                      for kpi in first.keys() | measuring.keys()}
        return self._uses

    def objectives(self, row: dict[str, str]) -> Notice | None:
        cyc = self.get("cycle", canonical_cycle_key(row["cycle"]))
        cyc.check_open("adding an objective")
        if row.get("parent"):
            self.get("objective", row["parent"])
        eff = self.in_force(cyc, row, f"adding objective {row['key']}")
        obj = self.create("objective", row["key"], lambda: Objective.add(
            row["key"], row["title"], cyc.key, row.get("owner") or self.actor,
            row.get("team", ""), row.get("level") or "team", row.get("type") or "committed",
            row.get("description", ""), row.get("parent") or None, self.actor,
            plan_revision=cyc.plan_committed, reason=self.source, effective_at=eff))
        return early_objective(obj.key, obj.in_force_since, cyc)

    def key_results(self, row: dict[str, str]) -> Notice | None:
        obj = self.get("objective", row["objective"])
        cyc = self.get("cycle", obj.cycle)
        cyc.check_open("adding a key result")
        kpi = self.get("kpi", row["kpi"]) if row.get("kpi") else None
        eff = self.in_force(cyc, row, f"adding key result {row['key']}")

        def build() -> KeyResult:
            kr = KeyResult.add(
                row["key"], row["title"], obj.key, cyc.key, row.get("kind") or "increase",
                _opt_number(row, "start") or 0.0,
                1.0 if not row.get("target") else parse_number(row["target"], "target"),
                _opt_number(row, "target_high"), row.get("unit", ""),
                _opt_number(row, "weight") or 1.0, [], cyc.window, self.actor,
                plan_revision=cyc.plan_committed, reason=self.source, effective_at=eff)
            if kpi is not None:
                kr.link_kpi(kpi.key, self.actor, self.source, effective_at=eff)
            return kr

        kr = self.create("key_result", row["key"], build)
        return early_key_result(kr.key, kr.in_force_since, obj, cyc)

    def initiatives(self, row: dict[str, str]) -> None:
        kr = self.get("key_result", row["kr"])
        cyc = self.get("cycle", kr.cycle)
        eff = self.in_force(cyc, row, f"adding initiative {row['key']}")
        ini = self.create("initiative", row["key"], lambda: Initiative.add(
            row["key"], row["title"], kr.key, row.get("owner") or self.actor, self.actor,
            effective_at=eff))
        if row.get("status") and row["status"] != ini.status:
            ini.set_status(row["status"], self.actor, self.source, effective_at=eff)

    def checkins(self, row: dict[str, str]) -> None:
        kr = self.get("key_result", row["kr"])
        cyc = self.get("cycle", kr.cycle)
        cyc.check_open("a check-in")
        kr.check_in(parse_number(row["value"], "value"), _opt_number(row, "confidence"),
                    row.get("note", ""), self.time(row, "at") or self.now, self.now,
                    cyc.window, self.actor, source=self.source)

    def readings(self, row: dict[str, str]) -> Notice | None:
        kpi = self.get("kpi", row["kpi"])
        at = self.time(row, "at") or self.now
        new = kpi.record(parse_number(row["value"], "value"), at, self.source,
                         row.get("id") or None, self.now, self.actor,
                         earlier=self.app.reading_of(kpi))
        return early_reading(kpi, at) if new else None

    def finish(self) -> None:
        """Commit and close the cycles the file says are, after their items are in."""
        for key in self.to_commit:
            self.get("cycle", key).commit(self.actor)
        for key in self.to_close:
            self.get("cycle", key).close(self.actor, self.source)


def _rows(path: Path) -> Iterator[Row]:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        yield from read_yaml(path)
    elif suffix == ".csv":
        yield from read_csv(path)
    else:
        raise DomainError(f"{path}: use a .yaml/.yml or .csv file")


def import_plan(app: OkrLedger, path: Path, parse_time: ParseTimeIn,
                say_time: SayTime | None = None) -> PlanImport:
    """Check every line of the file, then record all of it in one transaction, or nothing
    (a refused line's times said by `say_time`, default UTC). `parse_time(text, zone)` reads
    a time without an offset in `zone` — a cycle's dates in the cycle's — else in the
    importer's."""
    report = PlanImport(str(path))
    rows = list(_rows(path))
    if not rows:
        raise DomainError(f"{path}: nothing to import (no entries in any section); nothing "
                          "was written")
    order = {name: i for i, name in enumerate(SECTIONS)}
    plan = _Plan(app, parse_time, check_text(f"import:{path.name}", "source", max_len=200))
    plan.rows = rows
    for line, section, row in sorted(rows, key=lambda r: (order.get(r[1], -1), r[0])):
        try:
            if "__error__" in row:
                raise DomainError(row["__error__"])
            if section not in SECTIONS:
                raise DomainError(f"unknown section {section[:40]!r}; use "
                                  f"{', '.join(SINGULAR)}")
            required, optional = SECTIONS[section]
            missing = [f for f in required if not row.get(f)]
            extra = sorted(set(row) - set(required) - set(optional))
            if missing or extra:
                raise DomainError(f"{section}: " + (f"missing {', '.join(missing)}" if missing
                                                    else f"no field(s) {', '.join(extra)}"))
            notice = getattr(plan, section)(row)
            report.counts[section] = report.counts.get(section, 0) + 1
            if notice is not None:
                report.before_in_force += 1
                note(report.before_in_force_lines, line, notice, say_time)
        except (DomainError, ValueError) as exc:
            if len(report.invalid) == MAX_ERRORS:  # one more: there are more than listed
                report.stopped = True
                break
            report.invalid.append({"line": line, "error": said(exc, say_time)})
    if not report.invalid:
        try:
            plan.finish()
        except DomainError as exc:
            report.invalid.append({"line": 0, "error": said(exc, say_time)})
    if report.invalid:
        report.invalid.sort(key=lambda bad: bad["line"])
        report.before_in_force, report.before_in_force_lines = 0, []  # nothing was written
        return report
    report.before_in_force_lines.sort(key=lambda noted: noted["line"])
    report.written = app.save_checked(list(plan.items.values()))
    return report
