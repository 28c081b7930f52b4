"""CSV imports of check-ins and KPI readings: validate every line first, then write at once.

The whole file is decided against the ledger's current state in memory (each line sees the
lines before it), every bad line is reported by number, and the good ones are saved in ONE
transaction — so either the file is recorded, or (without `skip_invalid`) nothing is.
"""

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from eventsourcing.domain import Aggregate

from okr.domain.base import check_text, utc_now
from okr.domain.errors import DomainError, said
from okr.domain.key_result import KeyResult
from okr.domain.kpi import Kpi
from okr.domain.notices import Notice, early_reading
from okr.domain.numbers import parse_number
from okr.ledger.app import OkrLedger

Progress = Callable[[int, int], None]
ParseTime = Callable[[str], datetime]
SayTime = Callable[[datetime], str]  # how a refused line says its times (the person's zone)


class ParseTimeIn(Protocol):
    """Reads a typed time: one without an offset in `zone` (a cycle's), else in the person's
    zone, as ParseTime does."""

    def __call__(self, text: str, zone: str | None = None) -> datetime: ...

COLUMNS = {
    "checkins": (("kr", "value"), ("confidence", "note", "at")),
    "readings": (("kpi", "value"), ("at", "source", "id")),
}
MAX_ROWS = 1_000_000
MAX_NOTED = 200  # lines listed with a warning, as a plan import lists at most 200 problems
Applied = tuple[bool, Notice | None]  # (recorded, what counts in no as-of view)


@dataclass
class ImportReport:
    """What an import found and did."""

    kind: str
    rows: int = 0
    recorded: int = 0
    duplicates: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)
    written: bool = False
    before_in_force: int = 0  # lines recorded that count in no as-of view (domain/notices.py)
    before_in_force_lines: list[dict[str, Any]] = field(default_factory=list)  # the first ones

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rows": self.rows, "recorded": self.recorded,
                "duplicates": self.duplicates, "invalid": self.invalid,
                "written": self.written, "before_in_force": self.before_in_force,
                "before_in_force_lines": self.before_in_force_lines}


def note(lines: list[dict[str, Any]], line: int, notice: Notice,
         say_time: "SayTime | None") -> None:
    """Keep a line's warning, as long as fewer than MAX_NOTED are kept."""
    if len(lines) < MAX_NOTED:
        lines.append({"line": line, "warning": notice.said(say_time)})


def read_rows(path: Path, kind: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV file with a header naming the columns."""
    required, optional = COLUMNS[kind]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DomainError(f"file {path} not found") from None
    except UnicodeDecodeError:
        raise DomainError(f"file {path} is not UTF-8 text") from None
    # strict: a quote left open must not swallow the lines after it into one field
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in required if c not in header]
        unknown = [c for c in header if c not in required + optional]
        twice = sorted({c for c in header if header.count(c) > 1})
        if missing or unknown or twice:
            want = ", ".join(required) + " (and optionally " + ", ".join(optional) + ")"
            raise DomainError(f"{path}: header must name {want}; "
                              + (f"missing {', '.join(missing)}" if missing else
                                 f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown
                                 else f"{', '.join(map(repr, twice))} named more than once"))
        reader.fieldnames = header
        for row in reader:
            if reader.line_num - 1 > MAX_ROWS:
                raise DomainError(f"{path}: more than {MAX_ROWS} rows; split the file")
            if None in row:
                yield reader.line_num, {"__error__": "more fields than the header names"}
                continue
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}
    except csv.Error as exc:  # broken quoting, a field over csv's size limit
        # DictReader.line_num is where the last good record ended: the broken one starts next
        raise DomainError(f"{path}:{reader.line_num + 1}: not valid CSV ({exc}); nothing was "
                          "written") from None


def _optional_number(text: str, what: str) -> float | None:
    return parse_number(text, what) if text else None


class _Batch:
    """Aggregates loaded once and changed in memory, in the order lines touched them."""

    def __init__(self, app: OkrLedger) -> None:
        self.app = app
        self.loaded: dict[tuple[str, str], Aggregate] = {}
        self.windows: dict[str, Any] = {}

    def key_result(self, key: str) -> KeyResult:
        if ("kr", key) not in self.loaded:
            kr = self.app.key_result(key)
            cycle = self.app.cycle_of_kr(kr)
            cycle.check_open("a check-in")
            self.windows[key] = cycle.window
            self.loaded[("kr", key)] = kr
        agg = self.loaded[("kr", key)]
        assert isinstance(agg, KeyResult)
        return agg

    def kpi(self, key: str) -> Kpi:
        if ("kpi", key) not in self.loaded:
            self.loaded[("kpi", key)] = self.app.kpi(key)
        agg = self.loaded[("kpi", key)]
        assert isinstance(agg, Kpi)
        return agg


def _when(row: dict[str, str], parse_time: ParseTime, now: datetime) -> datetime:
    """The line's time; blank or 'now' is the import's own instant (a 'now' read later
    would lie in the future of the instant every line is checked against)."""
    text = row.get("at", "")
    return now if text.lower() in ("", "now") else parse_time(text)


def _apply_checkin(batch: _Batch, row: dict[str, str], parse_time: ParseTime,
                   now: datetime, actor: str, source: str) -> Applied:
    kr = batch.key_result(row["kr"])
    confidence = _optional_number(row.get("confidence", ""), "confidence")
    at = _when(row, parse_time, now)
    kr.check_in(parse_number(row["value"], "value"), confidence, row.get("note", ""), at, now,
                batch.windows[row["kr"]], actor, source=source)
    return True, None  # a check-in before its key result was in force is refused


def _apply_reading(batch: _Batch, row: dict[str, str], parse_time: ParseTime,
                   now: datetime, actor: str, source: str) -> Applied:
    kpi = batch.kpi(row["kpi"])
    at = _when(row, parse_time, now)
    new = kpi.record(parse_number(row["value"], "value"), at, row.get("source") or source,
                     row.get("id") or None, now, actor, earlier=batch.app.reading_of(kpi))
    return new, early_reading(kpi, at) if new else None


APPLY = {"checkins": _apply_checkin, "readings": _apply_reading}


def import_csv(app: OkrLedger, path: Path, kind: str, parse_time: ParseTime,
               skip_invalid: bool = False, progress: Progress | None = None,
               say_time: SayTime | None = None) -> ImportReport:
    """Validate every line of the file, then record the valid ones in one transaction."""
    report = ImportReport(kind)
    rows = list(read_rows(path, kind))
    if not rows:
        raise DomainError(f"{path}: nothing to import (no lines under the header); nothing "
                          "was written")
    report.rows = len(rows)
    batch = _Batch(app)
    actor = app.principal  # who every write is recorded under (ledger/principal.py)
    now = utc_now()
    source = check_text(f"import:{path.name}", "source", max_len=200)  # which file it came from
    for done, (line, row) in enumerate(rows, 1):
        try:
            if "__error__" in row:
                raise DomainError(row["__error__"])
            missing = [c for c in COLUMNS[kind][0] if not row.get(c)]
            if missing:
                raise DomainError(f"missing {', '.join(missing)}")
            new, notice = APPLY[kind](batch, row, parse_time, now, actor, source)
            if new:
                report.recorded += 1
            else:
                report.duplicates += 1
            if notice is not None:
                report.before_in_force += 1
                note(report.before_in_force_lines, line, notice, say_time)
        except (DomainError, ValueError) as exc:
            report.invalid.append({"line": line, "error": said(exc, say_time)})
        if progress is not None and (done % 500 == 0 or done == len(rows)):
            progress(done, len(rows))
    if report.invalid and not skip_invalid:
        report.recorded = report.before_in_force = 0
        report.before_in_force_lines = []
        return report
    report.written = app.save_checked(list(batch.loaded.values()))
    return report
