"""Many OS processes writing the same key result and objective at the same instant: each accepted
command is recorded exactly once, each rejected one says why in one line and leaves nothing,
and versions stay contiguous — on SQLite and on PostgreSQL (a schema of its own on
127.0.0.1:5432, database `test`).

Three workloads: `okr` processes released together; worker processes whose threads share one
OkrLedger; `okr import checkins` racing check-ins. Contention is made real and counted by
instrumentation in the test only: the `okr` processes load a `sitecustomize` (on their
PYTHONPATH) that holds each one at a barrier after building its ledger until all of its round
have, slows its saves a little, and logs every save that collided with another writer's
(IntegrityError); the workers wrap their ledger's `save`. Set OKR_SOAK=1 for the long version.
"""

import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from okr.ledger.app import ConcurrencyError, OkrLedger
from okr.settings import Settings, load_settings
from tests.fuzzing import LIVE_CYCLE, live_window
from tests.integration.ledger_facts import StoredEvent, stored_events, tag_counts, version_gaps
from tests.pg import private_schema

pytestmark = pytest.mark.integration

OKR = str(Path(sys.executable).parent / "okr")
SOAK = os.environ.get("OKR_SOAK") == "1"

# ---- counts: (default run, OKR_SOAK=1) ---------------------------------------------------------
PROCESSES = 12 if SOAK else 8          # okr processes released together, per round
ROUNDS = 10 if SOAK else 2             # rounds of those
SAVE_DELAY = 0.1                       # s added to their saves (a slow link widens the race)
WORKERS = 8 if SOAK else 4             # API worker processes, one OkrLedger each
THREADS = 6 if SOAK else 4             # threads per worker sharing its OkrLedger
WRITES = 150 if SOAK else 25           # writes per thread (every 5th retitles the objective)
IMPORTS = 8 if SOAK else 4             # `okr import checkins` racing check-ins on k1
IMPORT_LINES = 1000 if SOAK else 200   # half on the import's own key result, then half on k1
MIN_CONFLICTS_CLI = ROUNDS * 4         # collisions the okr processes must have met, at least
MIN_CONFLICTS_API = WORKERS            # and the worker processes

REJECTED = "okr: error: others kept changing the same item; the command was not recorded"

HOOK = '''
"""Test instrumentation: a barrier after building the ledger; a slower save; collisions logged."""
import os, time
_gate, _log = os.environ.get("OKR_TEST_GATE"), os.environ.get("OKR_TEST_LOG")
if _gate and _log:
    from eventsourcing.persistence import IntegrityError
    from okr.ledger.app import OkrLedger
    _init, _save = OkrLedger.__init__, OkrLedger.save

    def _note(what):
        with open(_log, "a") as f:
            f.write(f"{os.getpid()} {what}\\n")

    def __init__(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        open(os.path.join(_gate, str(os.getpid())), "w").close()
        parties, deadline = int(os.environ["OKR_TEST_PARTIES"]), time.monotonic() + 60
        while len(os.listdir(_gate)) < parties and time.monotonic() < deadline:
            time.sleep(0.005)
        _note("together" if len(os.listdir(_gate)) >= parties else "alone")

    def save(self, *args, **kwargs):
        time.sleep(float(os.environ["OKR_TEST_SAVE_DELAY"]))
        try:
            return _save(self, *args, **kwargs)
        except IntegrityError:
            _note("conflict")
            raise

    OkrLedger.__init__, OkrLedger.save = __init__, save
'''


# ---- a ledger on either store ----------------------------------------------------------------



@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def environ(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """okr settings for a fresh ledger: a SQLite file, or a private schema on 127.0.0.1:5432."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "POSTGRES_"))}
    env = {**base, "OKR_HOME": str(tmp_path / "home"), "OKR_TZ": "UTC",
           "OKR_INLINE_PUBLISH": "off"}
    if request.param == "sqlite":
        yield env
        return
    with private_schema("okr_conc") as pg:
        yield {**env, **pg}


def set_up(settings: Settings) -> int:
    """A committed cycle with objective o1 and key result k1 (target 10); how many events."""
    app = OkrLedger(settings)
    try:
        app.add_cycle(LIVE_CYCLE, *live_window())
        app.add_objective("o1", "Grow", cycle=LIVE_CYCLE, owner="ana")
        app.add_key_result("k1", "Key result", objective="o1", start=0, target=10)
        app.commit_cycle(LIVE_CYCLE)
    finally:
        app.close()
    return len(stored_events(settings))


def assert_exactly_once(events: list[StoredEvent], accepted: set[str], rejected: set[str],
                        setup_events: int) -> None:
    """Accepted tags stored once, rejected ones not at all, nothing else; versions 1..n."""
    counts: Counter[str] = Counter()
    for kind in ("CheckInRecorded", "KeyResultRevised", "ObjectiveRetitled"):
        counts.update(tag_counts(events, kind))
    assert not {t: n for t, n in counts.items() if n > 1}, "recorded more than once"
    assert accepted <= set(counts), f"accepted but absent: {sorted(accepted - set(counts))[:10]}"
    assert not rejected & set(counts), f"rejected but recorded: {sorted(rejected & set(counts))}"
    assert len(events) == setup_events + len(accepted), "events nobody asked for are stored"
    assert not version_gaps(events), f"versions not contiguous: {version_gaps(events)}"


# ---- okr processes fired together -------------------------------------------------------------

@dataclass
class Run:
    kind: str
    tag: str
    proc: subprocess.CompletedProcess[str]


def fire_round(env: dict[str, str], hook: Path, log: Path, r: int) -> list[Run]:
    """PROCESSES okr commands on k1 and o1, released together once all have started."""
    gate = log.parent / f"gate-{r}"
    gate.mkdir()
    extra = {"PYTHONPATH": str(hook), "OKR_TEST_GATE": str(gate),
             "OKR_TEST_PARTIES": str(PROCESSES), "OKR_TEST_LOG": str(log),
             "OKR_TEST_SAVE_DELAY": str(SAVE_DELAY)}
    started = []
    for i in range(PROCESSES):
        tag = f"r{r}-p{i}"
        kind = ("checkin", "revise", "retitle", "checkin")[i % 4]
        args = {"checkin": ["checkin", "k1", str(1000 + r * 100 + i), "--note", tag],
                "revise": ["kr", "revise", "k1", "--target", str(20 + r * 100 + i),
                           "--reason", tag],
                "retitle": ["objective", "update", "o1", "--title", tag, "--reason", tag]}[kind]
        started.append((kind, tag, args, subprocess.Popen(
            [OKR, *args], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**env, **extra})))
    runs = []
    for kind, tag, args, p in started:
        out, err = p.communicate(timeout=300)
        runs.append(Run(kind, tag, subprocess.CompletedProcess(args, p.returncode, out, err)))
    return runs


def test_okr_processes_fired_together_record_each_accepted_command_exactly_once(
        environ: dict[str, str], tmp_path: Path) -> None:
    began = time.monotonic()
    settings = load_settings(environ=environ)
    setup_events = set_up(settings)
    hook, log = tmp_path / "hook", tmp_path / "contention.log"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    runs = [run for r in range(ROUNDS) for run in fire_round(environ, hook, log, r)]

    broken = [f"okr {' '.join(run.proc.args)} → {run.proc.returncode}: {run.proc.stderr}"
              for run in runs if run.proc.returncode != 0 and (
                  run.proc.returncode != 2 or not run.proc.stderr.startswith(REJECTED)
                  or len(run.proc.stderr.strip().splitlines()) != 1)]
    assert not broken, "not a success, nor one line saying why:\n" + "\n".join(broken[:5])
    accepted = {run.tag for run in runs if run.proc.returncode == 0}
    rejected = {run.tag for run in runs if run.proc.returncode == 2}
    events = stored_events(settings)
    assert_exactly_once(events, accepted, rejected, setup_events)

    # What each process printed matches the store: the version an objective update reported
    # holds its title; the old target a revision reported is the one its predecessor set.
    by_tag = {e.tag: e for e in events if e.tag is not None}
    revisions = sorted((e for e in events if e.type == "KeyResultRevised"),
                       key=lambda e: e.version)
    before = {e.tag: (p.event.target if p else 10.0)
              for p, e in zip([None, *revisions], revisions, strict=False)}
    for run in runs:
        if run.proc.returncode != 0:
            continue
        if run.kind == "retitle":
            version = int(re.search(r"\(version (\d+)\)", run.proc.stdout).group(1))
            assert by_tag[run.tag].version == version, run.proc.stdout
        elif run.kind == "revise":
            old, new = re.search(r"target (\S+) → (\S+)", run.proc.stdout).groups()
            assert (float(old), float(new)) == (before[run.tag], by_tag[run.tag].event.target)
        else:
            value = float(run.proc.args[2])
            assert run.proc.stdout.startswith(f"check-in on k1: {value:g}"), run.proc.stdout
            assert by_tag[run.tag].event.value == value

    notes = Counter(line.split()[1] for line in log.read_text().splitlines())
    print(f"\n{environ.get('OKR_STORE', 'sqlite')}: {len(runs)} okr processes in {ROUNDS} "
          f"rounds of {PROCESSES} ({notes['together']} released together) in "
          f"{time.monotonic() - began:.1f} s: {len(accepted)} recorded, {len(rejected)} "
          f"rejected (others kept changing the same item), {notes['conflict']} collisions "
          f"retried")
    assert notes["together"] == len(runs), "the processes did not start together"
    assert notes["conflict"] >= MIN_CONFLICTS_CLI, "too little contention to prove anything"


# ---- worker processes, each with threads sharing one OkrLedger ------------------------------

def api_worker(env: dict[str, str], w: int, barrier: Any, out: str) -> None:
    """THREADS threads sharing one ledger; every write's outcome written to `out` as JSON."""
    app = OkrLedger(load_settings(environ=env))
    conflicts = [0]
    save = app.save

    def counting_save(*args: Any, **kwargs: Any) -> Any:
        try:
            return save(*args, **kwargs)
        except IntegrityError:
            conflicts[0] += 1
            raise

    app.save = counting_save  # type: ignore[method-assign]  # instrumentation, this test only
    results: list[dict[str, str]] = []

    def writes(t: int) -> None:
        for n in range(WRITES):
            tag = f"w{w}-t{t}-{n}"
            try:
                if n % 5 == 4:
                    app.update_objective("o1", title=tag)
                else:
                    app.check_in("k1", float(n), note=tag)
            except ConcurrencyError:
                results.append({"tag": tag, "outcome": "rejected"})
            except Exception as exc:
                results.append({"tag": tag, "outcome": f"{type(exc).__name__}: {exc}"})
            else:
                results.append({"tag": tag, "outcome": "ok"})

    threads = [threading.Thread(target=writes, args=(t,)) for t in range(THREADS)]
    barrier.wait(timeout=60)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    app.close()
    Path(out).write_text(json.dumps({"results": results, "conflicts": conflicts[0]}))


def test_worker_processes_with_threads_sharing_a_ledger_lose_and_double_nothing(
        environ: dict[str, str], tmp_path: Path) -> None:
    began = time.monotonic()
    settings = load_settings(environ=environ)
    setup_events = set_up(settings)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    outs = [tmp_path / f"worker-{w}.json" for w in range(WORKERS)]
    procs = [ctx.Process(target=api_worker, args=(environ, w, barrier, str(outs[w])))
             for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    reports = [json.loads(o.read_text()) for o in outs]
    results = [r for rep in reports for r in rep["results"]]
    conflicts = sum(rep["conflicts"] for rep in reports)

    outcomes = Counter(r["outcome"] for r in results)
    print(f"\n{environ.get('OKR_STORE', 'sqlite')}: {WORKERS} processes × {THREADS} threads × "
          f"{WRITES} writes in {time.monotonic() - began:.1f} s: {outcomes['ok']} recorded, "
          f"{outcomes['rejected']} rejected, {conflicts} collisions retried")
    odd = {o: n for o, n in outcomes.items() if o not in ("ok", "rejected")}
    assert not odd, f"writes that failed other than by a ConcurrencyError: {odd}"
    assert len(results) == WORKERS * THREADS * WRITES
    accepted = {r["tag"] for r in results if r["outcome"] == "ok"}
    rejected = {r["tag"] for r in results if r["outcome"] == "rejected"}
    assert_exactly_once(stored_events(settings), accepted, rejected, setup_events)
    assert conflicts >= MIN_CONFLICTS_API, "too little contention to prove anything"



# ---- imports racing check-ins ------------------------------------------------------------------

def hammer(env: dict[str, str], stop: str, out: str) -> None:
    """Check in on k1 again and again until the file `stop` exists."""
    app = OkrLedger(load_settings(environ=env))
    results: dict[str, list[str]] = {"ok": [], "rejected": []}
    n = 0
    while not os.path.exists(stop):
        n += 1
        tag = f"h{os.getpid()}-{n}"
        try:
            app.check_in("k1", 1.0, note=tag)
        except ConcurrencyError:
            results["rejected"].append(tag)
        else:
            results["ok"].append(tag)
        time.sleep(0.02)  # k1 changes every few ms: an import may get through, most will not
    app.close()
    Path(out).write_text(json.dumps(results))


def test_an_import_racing_check_ins_is_recorded_whole_or_not_at_all(
        environ: dict[str, str], tmp_path: Path) -> None:
    began = time.monotonic()
    settings = load_settings(environ=environ)
    set_up(settings)
    app = OkrLedger(settings)
    for j in range(IMPORTS):
        app.add_key_result(f"p{j}", "Only its import writes it", objective="o1", start=0,
                           target=10, reason="import race")
    app.close()
    setup_events = len(stored_events(settings))
    files, tags = [], []
    for j in range(IMPORTS):  # its own key result first, so a torn save would keep that half
        lines = [(f"p{j}" if n < IMPORT_LINES // 2 else "k1", f"imp{j}-{n}")
                 for n in range(IMPORT_LINES)]
        files.append(tmp_path / f"import-{j}.csv")
        files[-1].write_text("kr,value,note\n" + "".join(f"{kr},1,{t}\n" for kr, t in lines))
        tags.append({t for _, t in lines})

    ctx = multiprocessing.get_context("fork")
    stop, outs = tmp_path / "stop", [tmp_path / f"hammer-{h}.json" for h in range(2)]
    hammers = [ctx.Process(target=hammer, args=(environ, str(stop), str(o))) for o in outs]
    for h in hammers:
        h.start()
    time.sleep(1.0)  # the hammers are under way
    imports = [subprocess.Popen([OKR, "import", "checkins", str(f)], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ)
               for f in files]
    answers = [p.communicate(timeout=300) for p in imports]
    stop.touch()
    for h in hammers:
        h.join(timeout=120)
    hammered = [json.loads(o.read_text()) for o in outs]

    accepted = {t for h in hammered for t in h["ok"]}
    rejected = {t for h in hammered for t in h["rejected"]}
    refusal = "okr: error: the ledger changed while the file was being checked; nothing was written"
    for p, (_out, err), imported in zip(imports, answers, tags, strict=True):
        if p.returncode == 0:
            accepted |= imported
        else:
            assert p.returncode == 2 and err.startswith(refusal), err
            assert len(err.strip().splitlines()) == 1, err
            rejected |= imported
    refused = sum(p.returncode == 2 for p in imports)
    print(f"\n{environ.get('OKR_STORE', 'sqlite')}: {IMPORTS} imports of {IMPORT_LINES} lines "
          f"racing {len(accepted | rejected) - IMPORTS * IMPORT_LINES} check-ins in "
          f"{time.monotonic() - began:.1f} s: {IMPORTS - refused} recorded whole, {refused} "
          f"refused whole")
    assert_exactly_once(stored_events(settings), accepted, rejected, setup_events)
    assert refused >= 1, "no import met a concurrent check-in: no contention, nothing proven"
