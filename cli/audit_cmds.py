"""`okr audit trail|replay|verify|export`: for auditors.

`replay` and `verify` read okr.ledger from the beginning with our Kafka client and trust
neither DuckDB nor the relay; `verify --bundle DIR` needs no broker and no event store.
"""

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from okr.cli.bundles import export_bundle, key_or_fail
from okr.cli.commands import Typer
from okr.cli.context import State, state, want_json
from okr.cli.errors import UserError
from okr.cli.log import progress as _progress
from okr.cli.log import read_checkpoints, read_log
from okr.cli.log import servers as _servers
from okr.cli.output import (
    counted,
    csv_cell,
    datum,
    emit,
    format_option,
    print_table,
    table_format,
    to_json,
    write_file,
)

if TYPE_CHECKING:
    from okr.domain.history import Fact
    from okr.record.envelope import Envelope
    from okr.record.verify import Finding, Record, Verdict

JSON = typer.Option(False, "--json", help="Print JSON.")
audit_app = Typer(help="Audit: trail of changes, replay to an instant, verification, "
                  "offline bundles.", no_args_is_help=True)


# ---- trail -----------------------------------------------------------------------------

@audit_app.command("trail")
def trail(ctx: typer.Context, key: str = typer.Argument(..., help="Key of an objective, key "
                                                        "result, initiative, KPI or cycle."),
          since: str | None = typer.Option(None, "--since", help="Recorded at or after."),
          until: str | None = typer.Option(None, "--until", help="Recorded at or before (a date "
                                      "alone means the END of that day)."),
          fmt: str | None = format_option(" (csv: a row per changed field)"),
          as_json: bool = JSON) -> None:
    """Every event touching KEY: recorded and effective time, actor, reason, field diff."""
    from okr.cli.reads import open_projection
    from okr.cli.times import parse_until, parse_when, say
    from okr.domain.actors import acting
    from okr.domain.trail import trail_rows

    st = state(ctx)
    fmt = table_format("table" if fmt == "terminal" else fmt, want_json(ctx, as_json))
    zone = st.settings.timezone
    lo = parse_when(since, zone) if since else None
    hi = parse_until(until, zone) if until else None
    with open_projection(st) as proj:
        facts = list(proj.facts())
    ids = {f.aggregate_id for f in facts if f.type.endswith("Added") and f.data.get("key") == key}
    if not ids:
        raise UserError(f"nothing with key {key!r} in the ledger")

    def wanted(f: "Fact") -> bool:
        return (f.aggregate_id in ids and (lo is None or f.recorded_at >= lo)
                and (hi is None or f.recorded_at <= hi))

    rows = trail_rows(facts, wanted)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["position", "recorded_at", "effective_at", "actor", "on_behalf_of", "event",
                    "kind", "key", "field", "before", "after", "reason"])
        for r in rows:
            for field, ch in (r["changes"] or {"": {"before": "", "after": ""}}).items():
                w.writerow([csv_cell(c) for c in (
                    r["position"], _iso(r["recorded_at"]), _iso(r["effective_at"]), r["actor"],
                    r["on_behalf_of"] or "", r["event"], r["kind"], r["key"], field,
                    _cell(ch["before"]), _cell(ch["after"]), r["reason"] or "")])
        sys.stdout.write(out.getvalue())
        return

    def human() -> None:
        table = []
        for r in rows:
            diff = "; ".join(f"{k}: {_said(k, v['before'], zone) or '∅'} → "
                             f"{_said(k, v['after'], zone)}" for k, v in r["changes"].items())
            eff = "" if r["effective_at"] == r["recorded_at"] else say(r["effective_at"], zone)
            table.append([str(r["position"]), say(r["recorded_at"], zone), eff,
                          acting(r["actor"], r["on_behalf_of"]), r["event"], diff,
                          r["reason"] or ""])
        print_table(["pos", "recorded", "effective", "actor", "event", "changes", "reason"],
                    table, fmt, title=f"Audit trail of {key}")
    emit(rows, fmt == "json", human)


def _iso(t: Any) -> str:
    from okr.record.envelope import iso
    return iso(t)


def _said(field: str, v: Any, zone: str | None) -> str:
    """A changed field's value in the table, for people: phased targets as `50 by <local>
    (<UTC>)`, each instant read in the person's zone (JSON and CSV keep ISO UTC)."""
    if field == "phases" and isinstance(v, list):
        from okr.cli.writes import phases_said
        return phases_said(v, zone)
    return _cell(v, True, zone)


def _cell(v: Any, for_people: bool = False, zone: str | None = None) -> str:
    """A changed field's value as text; an instant in ISO 8601: said in the person's `zone`
    with UTC beside it in a table (`for_people`), in UTC (Z) as JSON says it in CSV."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, datetime):
        from okr.cli.times import say
        return say(v, zone) if for_people else datum(v)
    return to_json(v, pretty=False) if isinstance(v, dict | list) else str(v)


# ---- replay ----------------------------------------------------------------------------

@audit_app.command("replay")
def replay(ctx: typer.Context,
           until: str = typer.Option(..., "--until", help="The instant to rebuild (valid "
                                     "time), local unless it says its zone; a date alone "
                                     "means the END of that day."),
           known_at: str | None = typer.Option(None, "--known-at", help="Transaction time "
                                               "(default: the same instant; a date alone means "
                                               "the END of that day)."),
           fmt: str | None = format_option(" (tsv and csv: one row per objective and key "
                                           "result)"),
           as_json: bool = JSON) -> None:
    """Rebuild state from okr.ledger alone (no DuckDB) and print the scorecard at an instant,
    with its team and department summaries."""
    from pydantic import ValidationError

    from okr.adapters import kafka_client
    from okr.cli.scorecard import print_scorecard, print_summaries, scorecard_rows
    from okr.cli.times import parse_until, say
    from okr.domain.history import Replay, scorecard
    from okr.domain.rollup import summaries
    from okr.record.envelope import Envelope

    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    zone = st.settings.timezone
    t = parse_until(until, zone)
    k = parse_until(known_at, zone) if known_at else t
    quiet = want_json(ctx, as_json)
    def fold_log(cuts: list[datetime]) -> tuple[Replay, int]:
        # One record at a time: memory grows with the items and cycles, not the log.
        fold, skipped = Replay(t, k, cuts), 0
        for m in kafka_client.read_topic(st.settings, _servers(st), st.settings.topic_ledger,
                                         idle=3.0, progress=_progress("replayed", quiet)):
            try:
                fold.add(Envelope.from_bytes(m.value or b"").fact())
            except (ValidationError, ValueError):
                skipped += 1  # not an envelope: `okr audit verify` names it
        if not quiet and sys.stderr.isatty():
            print(file=sys.stderr)
        return fold, skipped

    fold, skipped = fold_log([])
    if fold.world.incomplete:
        # A cycle came after readings it freezes at its end had been let go (the partitions
        # interleave): read again, keeping what each cycle's end needs from the start.
        fold, skipped = fold_log(fold.world.cuts)
    cards = scorecard(fold.world, t)
    sums = summaries(cards)  # as `okr scorecard` ends, so the two can be compared whole
    data = {"as_of": t, "known_at": k, "events": fold.facts, "invalid_records": skipped,
            "objectives": cards, "summaries": sums}
    if fmt in ("tsv", "csv"):
        print_table(*scorecard_rows(cards), fmt)
        return

    def human() -> None:
        print_scorecard(cards, say(t, zone), say(k, zone))
        if cards:
            print_summaries(sums, fmt)
    emit(data, fmt == "json", human)


# ---- verify ----------------------------------------------------------------------------

def _report(ctx: typer.Context, verdict: "Verdict", as_json: bool, source: str) -> None:
    """Exit 0 verified, 1 tampered (what and where), 3 incomplete (the topic lacks events the
    event store holds)."""
    data = {"source": source, **verdict.as_dict()}
    first = verdict.first()
    if verdict.ok:
        text = (f"OK: {counted(verdict.events, 'event')} verified ({verdict.duplicates} "
                f"identical duplicate{'' if verdict.duplicates == 1 else 's'}), chain head at "
                f"position {verdict.head_position} {verdict.head_hash[:16]}…, "
                f"{counted(verdict.checkpoints, 'signed checkpoint')} "
                f"{'matches' if verdict.checkpoints == 1 else 'match'}")
    elif verdict.status == "incomplete":
        assert first is not None
        lacking = {f.position for f in verdict.findings if f.where == "log"}
        text = (f"INCOMPLETE: the topic lacks {counted(len(lacking), 'event')} the event store "
                f"holds, from position {first.position} — run `okr relay`, then verify again")
    else:
        assert first is not None
        text = (f"FAILED: {len(verdict.findings)} problem(s); first bad {first.line()}")
    emit(data, want_json(ctx, as_json), text)
    if not verdict.ok:
        from okr.errors import INCOMPLETE, VERIFICATION_FAILED
        raise typer.Exit(INCOMPLETE if verdict.status == "incomplete" else VERIFICATION_FAILED)


def _read_trusted(path: Path | None) -> list[dict[str, Any]]:
    """Checkpoints an auditor kept (`okr audit checkpoints --out`), one JSON object a line."""
    if path is None:
        return []
    try:
        cps = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip()]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"cannot read trusted checkpoints {path}: {exc}") from None
    if not cps or not all(isinstance(cp, dict) for cp in cps):
        raise UserError(f"{path} holds no checkpoints (one JSON object a line, as "
                        "`okr audit checkpoints --out` writes them)")
    return cps


@audit_app.command("verify")
def verify_cmd(ctx: typer.Context,
               bundle: Path | None = typer.Option(None, "--bundle", help="Verify an exported "
                                                  "bundle offline instead."),
               public_key: Path | None = typer.Option(None, "--public-key", help="PEM file "
                                                      "of the auditor's copy of the key."),
               trusted: Path | None = typer.Option(None, "--trusted", help="Checkpoints you "
                                                   "kept (okr audit checkpoints --out): the "
                                                   "log must extend every one."),
               no_store: bool = typer.Option(False, "--no-store", help="Do not compare with "
                                             "the event store (auditor without access)."),
               projection: bool = typer.Option(False, "--projection", help="Also recompute "
                                               "the DuckDB tables from the log and name the "
                                               "first row of the projection files that "
                                               "differs."),
               as_json: bool = JSON) -> None:
    """Check the hash chain, checkpoint signatures and tree heads, versions per aggregate,
    that Kafka and the event store hold the same events, and that the log extends the
    checkpoints you trusted. Exit 0 verified, 1 tampered (naming the first bad position),
    3 incomplete (run `okr relay`)."""
    from okr.record.signing import verifier
    from okr.record.verify import verify

    st = state(ctx)
    pem = _read_public_key(public_key) if public_key else None
    kept = _read_trusted(trusted)
    if bundle is not None:
        _verify_bundle(ctx, bundle, pem, as_json, kept)
        return
    if not no_store:  # opened before Kafka starts: a store that cannot be read starts nothing
        st.require_ledger()
        st.ledger  # noqa: B018
    pem = key_or_fail(st, pem, beside_a_ledger=not no_store)
    quiet = want_json(ctx, as_json)
    records = read_log(st, quiet)
    store, unreadable, own = None, [], []
    if not no_store:
        from okr.record.verify import store_envelopes
        store, unreadable = store_envelopes(st.ledger, _log_hashes(records))
        own = _own_checkpoints(st)
    verdict = verify(records, store, read_checkpoints(st), verifier(pem), kept,
                     unreadable=unreadable, own=own)
    if projection:
        verdict.findings += projection_findings(st, records)
    _report(ctx, verdict, as_json, st.settings.topic_ledger)


def _log_hashes(records: "list[Record]") -> "Callable[[int], str | None]":
    """The log's hash at a position, read from the records on first use (only when a stored
    event cannot be read, to go on with the chain after it)."""
    from okr.record.envelope import Envelope
    hashes: dict[int, str] = {}

    def at(position: int) -> str | None:
        if not hashes:
            for rec in records:
                try:
                    env = Envelope.from_bytes(rec.value)
                except ValueError:
                    continue
                if env.hash_ok(rec.value):
                    hashes.setdefault(env.position, env.hash)
            hashes.setdefault(0, "")
        return hashes.get(position) or None
    return at


def _own_checkpoints(st: State) -> list[dict[str, Any]]:
    """The checkpoints the relay kept in its own file, where this machine has it (the store
    must pass through them; a line that is not a checkpoint is skipped: the topic's checks
    and the relay say so)."""
    from okr.record.checkpoints import own_file, public
    path = own_file(st.settings, st.settings.topic_ledger)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in lines:
        try:
            cp = json.loads(line)
        except ValueError:
            continue
        if isinstance(cp, dict):
            out.append(public(cp, st.settings.topic_ledger))
    return out


def projection_findings(st: State, records: "list[Record]") -> "list[Finding]":
    """Each projection file (the consumer's work file, the readers' snapshot) against the
    tables recomputed from the log's valid records up to the offsets the file says it has
    consumed: the first row that differs, per file."""
    from okr.consumers.projector import decode
    from okr.errors import ProjectionUnavailable
    from okr.projections.evidence import first_difference, recompute
    from okr.projections.store import ConsumedRecord, Projection, ProjectionLocked
    from okr.record.verify import Finding

    valid = [r for r in records if not isinstance(decode(_message(st, r)), str)]
    found = []
    for path in (st.settings.projection_work_file, st.settings.duckdb_file):
        if not path.exists():
            continue
        try:  # the file's offsets, then the file against the log's tables up to them
            with Projection(path, read_only=True, wait=10) as claimed:
                consumed = claimed.offsets(st.settings.topic_ledger)
            fresh = recompute([ConsumedRecord(r.value, r.partition, r.offset) for r in valid
                               if r.offset < consumed.get(r.partition, 0)])
            try:
                diff = first_difference(path, fresh)
            finally:
                fresh.close()
        except ProjectionLocked:
            raise ProjectionUnavailable(f"{path} is held by a running consumer; try again in "
                                        "a moment") from None
        if diff is not None:
            found.append(Finding("projection-altered", diff.row.get("position"),
                                 diff.row.get("aggregate_id"), diff.line(), where=path.name))
    return found


def _message(st: State, r: "Record") -> Any:
    from okr.adapters.kafka_client import Message
    from okr.record.envelope import Envelope
    try:
        key = Envelope.from_bytes(r.value).aggregate_id.encode()
    except ValueError:
        key = None
    return Message(st.settings.topic_ledger, r.partition, r.offset, key, r.value, ())


@audit_app.command("checkpoints")
def checkpoints_cmd(ctx: typer.Context,
                    out: Path = typer.Option(..., "--out", help="File to write (JSON lines; "
                                             "'-': stdout)."),
                    public_key: Path | None = typer.Option(None, "--public-key",
                                                           help="PEM file of your copy of "
                                                           "the key."),
                    as_json: bool = JSON) -> None:
    """Save the signed checkpoints that verify, for `okr audit verify --trusted` later."""
    from okr.record.envelope import canonical_json
    from okr.record.signing import verifier

    st = state(ctx)
    ok = verifier(key_or_fail(st, _read_public_key(public_key) if public_key else None))
    good = sorted((cp for cp in read_checkpoints(st) if ok(cp)),
                  key=lambda cp: (int(cp.get("count", 0)), str(cp.get("time", ""))))
    if not good:
        raise UserError(f"{st.settings.topic_checkpoints} holds no checkpoint that verifies: "
                        "run `okr relay`")
    lines = b"".join(canonical_json(cp) + b"\n" for cp in good)
    last = good[-1]
    if str(out) == "-":  # stdout carries the checkpoints only
        sys.stdout.write(lines.decode("utf-8"))
        print(f"okr: {len(good)} signed checkpoints; the latest covers {last['count']} events "
              f"up to position {last['position']}", file=sys.stderr)
        return
    write_file(out, lines)
    emit({"out": str(out), "checkpoints": len(good), "latest": last}, want_json(ctx, as_json),
         f"wrote {len(good)} signed checkpoints to {out}; the latest covers {last['count']} "
         f"events up to position {last['position']}")


@audit_app.command("prove")
def prove_cmd(ctx: typer.Context,
              event: str = typer.Argument(..., help="Position or event id."),
              as_json: bool = JSON) -> None:
    """Print an inclusion proof of one event in the latest signed tree head (RFC 9162)."""
    from okr.record import merkle
    from okr.record.envelope import Envelope
    from okr.record.signing import verifier

    st = state(ctx)
    ok = verifier(key_or_fail(st, None))
    envs: dict[int, Envelope] = {}
    for r in read_log(st, want_json(ctx, as_json)):
        try:
            env = Envelope.from_bytes(r.value)
        except ValueError:
            continue
        if env.hash_ok(r.value):
            envs.setdefault(env.position, env)
    ordered = [envs[p] for p in sorted(envs)]
    index = next((i for i, e in enumerate(ordered)
                  if str(e.position) == event or e.event_id == event), None)
    if index is None:
        raise UserError(f"no event {event!r} on {st.settings.topic_ledger} (give a position "
                        "or an event id)")
    leaves = [merkle.envelope_leaf(e.hash) for e in ordered]
    heads = [cp for cp in read_checkpoints(st) if "root" in cp and ok(cp)
             and index < int(cp["count"]) <= len(leaves)]
    if not heads:
        raise UserError(f"no signed tree head covers position {ordered[index].position} yet: "
                        "run `okr relay`")
    cp = max(heads, key=lambda c: int(c["count"]))
    size = int(cp["count"])
    proof = merkle.inclusion_proof(index, leaves[:size])
    try:
        merkle.verify_inclusion(index, size, leaves[index], proof, bytes.fromhex(cp["root"]))
    except merkle.ProofError as exc:
        raise UserError(f"the log does not match the signed tree head: {exc}") from None
    env = ordered[index]
    data = {"position": env.position, "event_id": env.event_id, "hash": env.hash,
            "leaf_index": index, "tree_size": size, "root": cp["root"], "checkpoint": cp,
            "proof": [p.hex() for p in proof]}
    emit(data, want_json(ctx, as_json),
         f"event at position {env.position} ({env.type}) is leaf {index} of the signed tree of "
         f"{size} events, root {cp['root'][:16]}…; audit path:\n"
         + "\n".join(p.hex() for p in proof))


def _read_public_key(path: Path) -> str:
    """The auditor's copy of the checkpoint key, checked to be an Ed25519 public key."""
    from okr.record.signing import load_public_key
    try:
        pem = path.read_text(encoding="utf-8")
        load_public_key(pem)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read public key {path}: {exc}") from None
    except (ValueError, TypeError):
        raise UserError(f"{path} is not an Ed25519 public key in PEM form "
                        "(okr keys export prints one)") from None
    return pem


def _not_an_event(exc: ValueError) -> str:
    """One line saying why a line is no event record (pydantic's own report runs to several
    lines, echoes the input and ends in a link)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return f"not an event record: {str(exc).splitlines()[0] if str(exc) else exc!r}"
    errors = exc.errors()
    first = errors[0]
    if first["type"] == "json_invalid":  # one record a line: its line is always line 1
        return "not JSON: " + first["msg"].removeprefix("Invalid JSON: ").replace(
            "at line 1 column", "at column")
    where = " ".join(".".join(str(p) for p in first["loc"]).split())[:60]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"not an event record: {where + ': ' if where else ''}{first['msg']}{more}"


def _bundle_event(line: bytes, number: int, findings: "list[Finding]") -> "Envelope | None":
    """The envelope on line `number` of a bundle's events.jsonl, or None with a "malformed"
    finding naming the line."""
    from okr.record.envelope import Envelope
    from okr.record.verify import Finding
    try:
        return Envelope.from_bytes(line)
    except ValueError as exc:
        findings.append(Finding("malformed", None, None,
                                f"events.jsonl line {number}: {_not_an_event(exc)}",
                                where="bundle"))
        return None


def _bundle_envelopes(events: list[bytes], v: "Verdict") -> "Iterator[tuple[bytes, Envelope]]":
    """Each non-empty line of a proof bundle's events.jsonl (all its lines, in order) with its
    envelope, counted as a record; a line that is no envelope gets its "malformed" finding and
    is passed over."""
    for number, raw in enumerate(events, 1):
        if not raw:
            continue
        v.records += 1
        env = _bundle_event(raw, number, v.findings)
        if env is not None:
            yield raw, env


def _bundle_bytes(bundle: Path, name: str) -> bytes:
    """A file of a bundle; a missing one is named."""
    try:
        return (bundle / name).read_bytes()
    except FileNotFoundError:
        raise UserError(f"not a readable bundle: {bundle} has no {name}") from None
    except OSError as exc:
        raise UserError(f"not a readable bundle: cannot read {bundle / name}: "
                        f"{exc.strerror or exc}") from None


def _bundle_key(bundle: Path) -> str:
    """The bundle's own copy of the public key (no --public-key given), once the folder holds
    what a bundle holds: an empty or wrong folder is named as not a bundle, not as a key."""
    for name in ("events.jsonl", "checkpoint.json", "public-key.pem"):
        if not (bundle / name).is_file():
            raise UserError(f"not a readable bundle: {bundle} has no {name}"
                            + (" (or give --public-key)" if name == "public-key.pem" else ""))
    return _read_public_key(bundle / "public-key.pem")


def _bundle_json(name: str, parse: "Callable[[], Any]") -> Any:
    """What `parse` makes of the bundle's file `name`; a file it cannot read is named."""
    try:
        return parse()
    except KeyError as exc:
        raise UserError(f"not a readable bundle: {name} has no {exc.args[0]!r}") from None
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"not a readable bundle: {name}: {first}") from None


def _verify_bundle(ctx: typer.Context, bundle: Path, pem: str | None, as_json: bool,
                   trusted: list[dict[str, Any]]) -> None:
    if not bundle.is_dir():
        raise UserError(f"no bundle at {bundle}" + (
            ": that is a file; a bundle is the folder `okr audit export --out` wrote"
            if bundle.exists() else ""))
    if (bundle / "checkpoint.json").exists() or not (bundle / "chain.jsonl").exists():
        # this version's bundle: a tree head and one multiproof (or, older, one proof an event)
        pem = pem or _bundle_key(bundle)
        _report(ctx, _verify_proof_bundle(bundle, pem, trusted), as_json, str(bundle))
        return
    from okr.record.envelope import Envelope
    from okr.record.signing import verifier
    from okr.record.verify import Finding, Record, verify

    # the oldest bundles: the whole chain and the signed checkpoints
    chain = _bundle_bytes(bundle, "chain.jsonl").splitlines()
    events = _bundle_bytes(bundle, "events.jsonl").splitlines()
    checkpoints = _bundle_bytes(bundle, "checkpoints.jsonl")
    cps = _bundle_json("checkpoints.jsonl", lambda: [
        json.loads(line) for line in checkpoints.decode("utf-8").splitlines() if line])
    pem = pem or _read_public_key(bundle / "public-key.pem")
    verdict = verify([Record(0, i, v) for i, v in enumerate(chain) if v], None, cps,
                     verifier(pem), trusted)
    by_position: dict[int, bytes] = {}
    for v in chain:
        try:
            by_position.setdefault(Envelope.from_bytes(v).position, v)
        except ValueError:
            continue
    for number, line in enumerate(events, 1):
        if not line:
            continue
        env = _bundle_event(line, number, verdict.findings)
        if env is None:
            continue
        if by_position.get(env.position) != line:
            verdict.findings.append(Finding("altered", env.position, env.aggregate_id,
                                            "the cycle's event differs from the chain",
                                            where="bundle"))
    if not cps:
        verdict.findings.append(Finding("missing", None, None, "the bundle has no signed "
                                        "checkpoint", where="bundle"))
    _report(ctx, verdict, as_json, str(bundle))


# ---- export ----------------------------------------------------------------------------

@audit_app.command("export")
def export(ctx: typer.Context, cycle: str = typer.Option(..., "--cycle"),
           out: Path = typer.Option(..., "--out", help="Directory to write the bundle to."),
           as_json: bool = JSON) -> None:
    """Write an offline-verifiable bundle of a cycle's events with one multiproof against a
    signed tree head (its proof grows with the cycle, not the ledger)."""
    if str(out) == "-":
        raise UserError("--out names a folder for the bundle's files; '-' (stdout) cannot "
                        "hold them")
    written = export_bundle(state(ctx), cycle, out, want_json(ctx, as_json))
    emit(written, want_json(ctx, as_json),
         f"wrote {written['events']} events of {written['cycle']} with a proof of "
         f"{written['proof_nodes']} tree nodes against the signed tree of "
         f"{written['tree_size']} events to {out} ({written['bytes']} bytes)")


def _verify_proof_bundle(bundle: Path, pem: str, trusted: list[dict[str, Any]]) -> "Verdict":
    """A bundle proven against a signed tree head: every event's hash over its bytes, the
    events in that tree (one multiproof, or — bundles written before it — an inclusion proof
    each), and the head's consistency with the checkpoints the auditor kept."""
    from okr.record.signing import verifier
    from okr.record.verify import Finding, Verdict

    # Bundles written before the multiproof hold `proofs.jsonl` instead; one with neither
    # lacks this version's file, and is told so.
    multi = (bundle / "multiproof.json").exists() or not (bundle / "proofs.jsonl").exists()
    files = {name: _bundle_bytes(bundle, name) for name in (
        "checkpoint.json", "events.jsonl", "multiproof.json" if multi else "proofs.jsonl",
        "consistency.jsonl")}
    head = _bundle_json("checkpoint.json", lambda: json.loads(files["checkpoint.json"]))
    size, root = _bundle_json("checkpoint.json", lambda: (int(head["count"]),
                                                          bytes.fromhex(head["root"])))
    consistency = _bundle_json("consistency.jsonl", lambda: {
        int(c["count"]): c for c in (json.loads(line) for line in
                                     files["consistency.jsonl"].splitlines() if line)})
    events = files["events.jsonl"].splitlines()
    proof = (_bundle_json("multiproof.json", lambda: json.loads(files["multiproof.json"]))
             if multi else _bundle_json("proofs.jsonl", lambda: {
                 int(p["position"]): p for p in (json.loads(line) for line in
                                                 files["proofs.jsonl"].splitlines() if line)}))
    ok = verifier(pem)
    v = Verdict(checkpoints=1, head_position=int(head.get("position", 0)),
                head_hash=str(head.get("head_hash", "")))
    if not ok(head):
        v.findings.append(Finding("bad-signature", v.head_position, None, "the bundle's tree "
                                  "head does not verify with the public key", where="bundle"))
        return v
    if multi:
        _check_multiproof(events, proof, size, root, v)
    else:
        _check_inclusion_proofs(events, proof, size, root, v)
    _check_trusted(trusted, consistency, head, ok, v)
    return v


def _check_multiproof(events: list[bytes], proof: dict[str, Any], size: int, root: bytes,
                      v: "Verdict") -> None:
    """Each event's hash over its bytes; then the events' leaves and the multiproof's nodes
    must recompute the signed root (docs/envelope.md, "Bundles")."""
    from okr.record import merkle
    from okr.record.verify import Finding

    try:
        if int(proof["tree_size"]) != size:
            raise ValueError(f"it is for a tree of {proof['tree_size']}, the head's has {size}")
        index = {int(p): int(i) for p, i in proof["leaves"]}
        nodes = {(int(lv), int(i)): bytes.fromhex(h) for lv, i, h in proof["nodes"]}
    except (KeyError, TypeError, ValueError) as exc:
        v.findings.append(Finding("malformed", None, None, f"multiproof.json: {exc}",
                                  where="bundle"))
        return
    leaves: dict[int, bytes] = {}
    good, seen = 0, set()
    for raw, env in _bundle_envelopes(events, v):
        seen.add(env.position)
        if env.position not in index:
            v.findings.append(Finding("altered", env.position, env.aggregate_id, "the bundle "
                                      "has no leaf index for it in the signed tree",
                                      where="bundle"))
            continue
        leaves[index[env.position]] = merkle.envelope_leaf(env.hash)
        if not env.hash_ok(raw):
            v.findings.append(Finding("altered", env.position, env.aggregate_id, "the hash "
                                      "does not match the record's bytes", where="bundle"))
            continue
        good += 1
    for position in sorted(set(index) - seen):
        v.findings.append(Finding("missing", position, None, "the bundle proves an event at "
                                  "this position but does not hold it", where="bundle"))
    if set(index) - seen:
        return  # the root cannot be recomputed without that event: already said
    try:
        if len(set(index.values())) != len(index):
            raise merkle.ProofError("two events share a leaf index")
        if merkle.root_from_multiproof(size, leaves, nodes) != root:
            raise merkle.ProofError("they lead to another root")
    except merkle.ProofError as exc:
        v.findings.append(Finding("altered", None, None, f"the bundle's events are not in the "
                                  f"signed tree of {size} events: {exc}", where="bundle"))
        return
    v.events += good


def _check_inclusion_proofs(events: list[bytes], proofs: dict[int, Any], size: int,
                            root: bytes, v: "Verdict") -> None:
    """Bundles written before the multiproof: an RFC 9162 inclusion proof per event."""
    from okr.record import merkle
    from okr.record.verify import Finding

    seen = set()
    for raw, env in _bundle_envelopes(events, v):
        seen.add(env.position)
        proof = proofs.get(env.position)
        try:
            if not env.hash_ok(raw):
                raise merkle.ProofError("the hash does not match the record's bytes")
            if proof is None:
                raise merkle.ProofError("the bundle has no inclusion proof for it")
            merkle.verify_inclusion(int(proof["leaf_index"]), size,
                                    merkle.envelope_leaf(env.hash),
                                    [bytes.fromhex(p) for p in proof["proof"]], root)
        except (merkle.ProofError, ValueError, KeyError, TypeError) as exc:
            v.findings.append(Finding("altered", env.position, env.aggregate_id,
                                      f"not in the signed tree of {size} events: {exc}",
                                      where="bundle"))
            continue
        v.events += 1
    for position in sorted(set(proofs) - seen):
        v.findings.append(Finding("missing", position, None, "the bundle proves an event at "
                                  "this position but does not hold it", where="bundle"))


def _check_trusted(trusted: list[dict[str, Any]], consistency: dict[int, Any],
                   head: dict[str, Any], ok: "Callable[..., bool]", v: "Verdict") -> None:
    """The bundle's signed head must extend every checkpoint the auditor kept."""
    from okr.record import merkle
    from okr.record.verify import INCOMPLETE, Finding

    size, root = int(head["count"]), bytes.fromhex(head["root"])
    for cp in trusted:
        count = int(cp.get("count", 0)) if str(cp.get("count", "")).isdigit() else -1
        if not ok(cp) or "root" not in cp:
            v.findings.append(Finding("bad-signature", count, None, "a trusted checkpoint does "
                                      "not verify with the public key (or has no tree head)",
                                      where="trusted"))
        elif count > size:
            v.findings.append(Finding("truncated", int(cp.get("position", 0)), None,
                                      f"you trusted a tree of {count} events; the bundle's "
                                      f"head has {size}", where="trusted"))
        elif count == size and cp["root"] != head["root"]:
            v.findings.append(Finding("altered", int(cp.get("position", 0)), None,
                                      "the bundle's tree head differs from the one you "
                                      "trusted", where="trusted"))
        elif count < size:
            c = consistency.get(count)
            if c is None:
                v.findings.append(Finding(INCOMPLETE, int(cp.get("position", 0)), None,
                                          f"the bundle carries no consistency proof from the "
                                          f"tree of {count} you trusted", where="trusted"))
                continue
            try:
                merkle.verify_consistency(count, size, bytes.fromhex(cp["root"]), root,
                                          [bytes.fromhex(p) for p in c["proof"]])
            except (merkle.ProofError, ValueError) as exc:
                v.findings.append(Finding("altered", int(cp.get("position", 0)), None,
                                          f"the bundle's log does not extend the tree of "
                                          f"{count} you trusted: {exc}", where="trusted"))


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
