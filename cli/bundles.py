"""Audit bundles: a cycle's events from Kafka with one multiproof against a signed tree head,
written to a folder (`okr audit export`, and the web's bundle download, which packs that folder).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from okr.cli.context import State
from okr.cli.errors import UserError
from okr.cli.log import read_checkpoints, read_log
from okr.cli.output import writing_out


def key_or_fail(st: State, pem: str | None, beside_a_ledger: bool = True) -> str:
    """The signing key's public half: the one given, else the data directory's (never made
    here: a key made now would vouch for nothing). Where there is no key and a ledger was
    expected beside it but there is none either (a mistyped --home), that is what is said."""
    from okr.record.signing import existing_public_key_pem

    pem = pem or existing_public_key_pem(st.settings.signing_key_file)
    if pem is None:  # verifying never creates a key: one made now would vouch for nothing
        if beside_a_ledger:
            st.require_ledger()
        raise UserError(f"no signing key at {st.settings.signing_key_file}: pass the "
                        "auditor's copy with --public-key PEM (`okr keys export` prints it)")
    return pem


BUNDLE_README = """# okr-ledger audit bundle — cycle {cycle}

Exported {exported} from topic `{topic}`.

| file | what |
| --- | --- |
| `events.jsonl` | the {n_events} events a review of cycle {cycle} reads (its cycle,
  objectives, key results and their initiatives, linked and guardrail KPIs — of their
  readings, those observed during the cycle and the ones carried into it), one record per
  line, byte for byte as on Kafka |
| `checkpoint.json` | the signed tree head they are proven against: {size} events up to
  position {head}, Merkle root `{root}` |
| `multiproof.json` | `tree_size`; `leaves`: each event's `[position, leaf index]`; `nodes`:
  `[level, index, hash]` of every tree node their inclusion proofs need that they do not
  derive themselves, each once — node (l, i) covers leaves i·2^l up to (i+1)·2^l |
| `consistency.jsonl` | {consistency} |
| `public-key.pem` | the Ed25519 key the checkpoint verifies with — compare it with the copy
  you obtained independently (`okr keys export`) |

Verify offline, with no broker and no event store:

    okr audit verify --bundle {dirname} --public-key YOUR-COPY.pem [--trusted KEPT.jsonl]

docs/envelope.md of okr-ledger specifies the hash (over each record's bytes as sent, its hash
member cut out) and the tree: leaf = sha256(0x00 || hash bytes), node = sha256(0x01 || l || r).
A bundle proves that each event it holds is in the signed log, unaltered; that it holds every
event of the cycle is proven only by verifying the whole log.
"""


CONSISTENCY_FROM = 32  # earlier signed tree heads a bundle proves its head consistent with


def _consistency_held(n: int) -> str:
    """What the bundle's consistency.jsonl holds, in its README's words."""
    if n == 0:
        return ("no consistency proofs (no signed tree head precedes this one): a checkpoint "
                "you kept (`--trusted`) is checked against the whole log")
    heads = "head" if n == 1 else "heads"
    latest = f" (the latest {CONSISTENCY_FROM} at most)" if n == CONSISTENCY_FROM else ""
    return (f"consistency proofs from the {n} signed tree {heads} before this one{latest}, "
            "for checkpoints you kept (`--trusted`; an older one is checked against the "
            "whole log)")


def signed_log(st: State, quiet: bool) -> "tuple[list[Any], list[bytes], Callable[..., bool]]":
    """The log's envelopes and raw records in position order (one valid record per position;
    conflicting records refuse), and the checkpoint signature check."""
    from okr.record.envelope import Envelope
    from okr.record.signing import verifier

    ok = verifier(key_or_fail(st, None))
    by_position: dict[int, tuple[Envelope, bytes]] = {}
    for r in read_log(st, quiet):
        try:
            env = Envelope.from_bytes(r.value)
        except ValueError:
            continue
        if not env.hash_ok(r.value):
            continue
        seen = by_position.setdefault(env.position, (env, r.value))
        if seen[0].hash != env.hash:
            raise UserError(f"{st.settings.topic_ledger} holds two different records at "
                            f"position {env.position}: run `okr audit verify`")
    ordered = [by_position[p] for p in sorted(by_position)]
    return [e for e, _ in ordered], [raw for _, raw in ordered], ok


def cycle_records(envs: "list[Any]", cycle: str) -> list[int]:
    """The indices of the envelopes (in position order) a bundle of `cycle` holds: the facts
    a review of it reads at any instant (domain.history.cycle_facts) — its items' events,
    and of their KPI readings only those a review of the cycle can see. Empty: no such
    cycle."""
    from okr.domain.history import cycle_facts

    keep = {f.position for f in cycle_facts([e.fact() for e in envs], cycle)}
    return [i for i, e in enumerate(envs) if e.position in keep]


def export_bundle(st: State, cycle: str, out: Path, quiet: bool) -> dict[str, Any]:
    """Write the bundle of a cycle to the folder `out` (read from Kafka, proven against the
    latest signed tree head covering it); what was written. `okr audit export` and the web's
    bundle download both write it here."""
    from okr.domain.periods import canonical_cycle_key
    from okr.files import new_folder
    from okr.record import merkle
    from okr.record.verify import tree_roots

    key = canonical_cycle_key(cycle)
    envs, raws, ok = signed_log(st, quiet)
    mine = cycle_records(envs, key)
    # (guardrail KPIs belong to every cycle's set: alone they do not make a cycle)
    if not mine:
        from okr.domain.errors import NotFound
        raise NotFound(f"cycle {cycle!r} not found on {st.settings.topic_ledger}")
    leaves = [merkle.envelope_leaf(e.hash) for e in envs]
    signed = [c for c in read_checkpoints(st) if "root" in c and ok(c)
              and str(c.get("count", "")).isdigit() and 0 < int(c["count"]) <= len(leaves)]
    roots = tree_roots({i: e.hash for i, e in enumerate(envs)},
                       {int(c["count"]) for c in signed})
    heads = {}  # signed tree heads that match this log, by size
    for c in signed:
        if roots.get(int(c["count"])) == c["root"]:
            heads.setdefault(int(c["count"]), c)
    covering = [n for n in heads if n > mine[-1]]
    if not covering:
        raise UserError(f"no signed tree head covers position {envs[mine[-1]].position} yet; "
                        "run `okr relay --checkpoint` first")
    size = max(covering)
    # All or nothing: written beside `out`, moved into it at the end (okr/files.py).
    with writing_out(out):
        out.absolute().parent.mkdir(parents=True, exist_ok=True)  # as `--out a/b/bundle` did
    with writing_out(out), new_folder(out) as folder:
        written = write_bundle(folder, key, st.settings.topic_ledger,
                               [e.position for e in envs], raws, leaves, mine, heads, size,
                               key_or_fail(st, None), out.name)
    return {**written, "out": str(out)}


def write_bundle(out: Path, cycle: str, topic: str, positions: list[int], raws: list[bytes],
                 leaves: list[bytes], mine: list[int], heads: dict[int, dict[str, Any]],
                 size: int, pem: str, dirname: str | None = None) -> dict[str, Any]:
    """Write the bundle of the log's records at indices `mine` (in position order), proven by
    one multiproof against the signed tree head of `size` leaves, with consistency proofs from
    the signed heads before it; what was written. `dirname`: the folder's name as its README
    gives it (`out`'s own, unless it is written elsewhere first)."""
    from datetime import UTC, datetime

    from okr.record import merkle
    from okr.record.envelope import canonical_json

    head, tree = heads[size], leaves[:size]
    out.mkdir(parents=True, exist_ok=True)
    (out / "events.jsonl").write_bytes(b"".join(raws[i] + b"\n" for i in mine))
    nodes = merkle.multiproof(mine, tree)
    (out / "multiproof.json").write_bytes(canonical_json(
        {"tree_size": size, "leaves": [[positions[i], i] for i in mine],
         "nodes": [[level, index, h.hex()] for (level, index), h in sorted(nodes.items())]})
        + b"\n")
    earlier = sorted(n for n in heads if n < size)[-CONSISTENCY_FROM:]
    (out / "consistency.jsonl").write_bytes(b"".join(canonical_json(
        {"count": n, "root": heads[n]["root"],
         "proof": [p.hex() for p in merkle.consistency_proof(n, tree)]}) + b"\n"
        for n in earlier))
    (out / "checkpoint.json").write_bytes(canonical_json(head) + b"\n")
    (out / "public-key.pem").write_text(pem, encoding="utf-8")
    (out / "README.md").write_text(BUNDLE_README.format(
        cycle=cycle, exported=datetime.now(UTC).isoformat(timespec="seconds"), topic=topic,
        n_events=len(mine), head=head["position"], size=size, root=head["root"],
        dirname=dirname or out.name, consistency=_consistency_held(len(earlier))), encoding="utf-8")
    return {"out": str(out), "cycle": cycle, "events": len(mine), "tree_size": size,
            "head_position": head["position"], "proof_nodes": len(nodes),
            "bytes": sum(f.stat().st_size for f in out.iterdir() if f.is_file())}
