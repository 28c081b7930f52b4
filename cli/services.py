"""Long-running services (`okr up`, `okr relay`, `okr consume`): one thread each, one stop.

Ctrl-C or SIGTERM sets the stop flag; every loop checks it between steps, finishes the step
it is in (a relay page is flushed and its watermark written, a consumer batch committed), and
returns; then the clients are closed and the process exits 0.
"""

import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from okr.cli.context import State
from okr.cli.output import counted, first_line, visible

Log = Callable[[str, str, dict[str, Any]], None]

WATCH_EVERY = 1.0  # seconds between looks at the local broker (okr up)
RESTART_AFTER = (1.0, 30.0)  # a failed service restarts after 1 s, doubling up to 30 s


def make_log(as_json: bool) -> Log:
    lock = threading.Lock()

    def log(service: str, message: str, data: dict[str, Any]) -> None:
        with lock:
            if as_json:
                print(json.dumps({"time": datetime.now(UTC).isoformat(), "service": service,
                                  "message": message, **data}, default=str), flush=True)
            else:
                print(visible(f"[{service}] {message}"), file=sys.stderr, flush=True)
    return log


def retrying(log: Log, service: str) -> Callable[[Exception, float], None]:
    """What a service says when Kafka, the event store or the projection's file fails it
    and it backs off."""
    def failed(exc: Exception, wait: float) -> None:
        log(service, f"{_trouble(exc)} ({first_line(exc)}); retrying in {wait:.1f} s",
            {"error": str(exc)})
    return failed


def _trouble(exc: Exception) -> str:
    """Whose trouble a transient failure is, by its class (the services that retry have
    imported these modules already)."""
    from eventsourcing.persistence import PersistenceError

    from okr.errors import (
        DataDirUnavailable,
        PortInUse,
        ProjectionUnavailable,
        StoreUnavailable,
        WebUnavailable,
    )
    from okr.ledger.app import ConcurrencyError
    from okr.projections.store import ProjectionLocked

    if isinstance(exc, StoreUnavailable | PersistenceError | ConcurrencyError):
        return "event store trouble"
    if isinstance(exc, ProjectionUnavailable):
        return "projection file not usable"
    if isinstance(exc, WebUnavailable):
        return "web server trouble"
    if isinstance(exc, PortInUse):
        return "port taken"
    if isinstance(exc, ProjectionLocked):
        return "projection file busy"
    if isinstance(exc, DataDirUnavailable) or (isinstance(exc, OSError)
                                               and exc.filename is not None):
        return "data directory trouble"
    return "Kafka trouble"


def broker_service(st: State, stop: threading.Event, log: Log) -> None:
    """Keep the local broker running: one that stopped or was killed is started again, on
    the same port, so the other services find it where they left it."""
    from okr.adapters import local_broker
    from okr.errors import KafkaUnavailable

    while not stop.wait(WATCH_EVERY):
        if local_broker.status(st.settings.home) is not None:
            continue
        try:
            b, started = local_broker.start(st.settings.home,
                                            cache_dir=st.settings.cache_dir)
        except (local_broker.BrokerError, OSError) as exc:
            raise KafkaUnavailable(f"the local broker cannot be started again: "
                                   f"{first_line(exc)}") from exc
        if started:
            log("broker", f"the local broker was down; started again on {b.bootstrap} "
                f"(pid {b.pid})", {"port": b.port, "pid": b.pid})


def relay_service(st: State, stop: threading.Event, log: Log) -> None:
    """Publish the event store to Kafka until stopped."""
    from okr.adapters import kafka_client
    from okr.ledger.app import OkrLedger
    from okr.record.relay import Relay

    st.check_home()  # asked again only if the store was out of reach when okr started
    app = OkrLedger(st.settings)
    relay = Relay(app, kafka_client.bootstrap(st.settings, start_local=True))
    log("relay", f"publishing to {st.settings.topic_ledger} on {relay.servers}", {})

    def done(r: Any) -> None:
        log("relay", f"published {counted(r.published, 'event')} (position {r.position})"
            + (f" — {r.said()}" if r.republished else ""),
            r.as_dict())


    try:
        relay.run(stop.is_set, done, retrying(log, "relay"))
    finally:
        relay.close()
        app.close()


def consume_service(st: State, stop: threading.Event, log: Log) -> None:
    """Project okr.ledger into DuckDB until stopped (owns the projection's work file)."""
    from okr.adapters import kafka_client
    from okr.consumers.projector import Projector
    from okr.locks import exclusive
    from okr.projections.access import owning
    from okr.projections.store import MEMORY_LIMIT, Projection

    # The long-running consumer's own lock (a second `okr up` is refused on it, a second
    # `okr consume` waits); the projection's lock is also taken briefly by reads.
    with exclusive(st.settings.consumer_lock, stop.is_set, lambda holder: log(
            "consume", f"another consumer runs for this data directory (pid {holder}); "
            "waiting for it", {"waiting_for": holder})) as ours:
        if not ours:
            return
        with owning(st.settings, wait=False):
            proj = Projection(st.settings.projection_work_file, memory_limit=MEMORY_LIMIT)
            projector = Projector(st.settings,
                                  kafka_client.bootstrap(st.settings, start_local=True), proj)
            log("consume", f"projecting {st.settings.topic_ledger} into "
                f"{st.settings.duckdb_file}", {})

            def batch(p: Any) -> None:
                log("consume", p.said(), p.as_dict())

            try:
                projector.run(stop.is_set, batch, retrying(log, "consume"))
                if projector.snapshot_due():
                    projector.publish()
            finally:
                projector.close()
                proj.close()


def ingest_warning(st: State, notice: Any, msg: Any) -> str:
    """What the ingest says of a reading recorded that counts in no as-of view: which message
    (its reading id and source, data from the feed) and why, in the person's zone."""
    from okr.cli.times import say
    return visible(f"reading {msg.id!r} from {msg.source!r}: "
                   f"{notice.said(lambda t: say(t, st.settings.timezone))}")


def ingest_service(st: State, stop: threading.Event, log: Log) -> None:
    """Turn messages of the KPI readings topic into ledger readings until stopped."""
    from okr.adapters import kafka_client
    from okr.consumers.ingest import Ingest, feed_ledger, reading_alone

    topic = st.settings.topic_kpi_readings
    with reading_alone(st.settings, topic, stop.is_set, lambda holder: log(
            "ingest", f"another ingest is reading {topic} here (pid {holder}); waiting for it",
            {"waiting_for": holder})) as ours:
        if not ours:
            return
        st.check_home()  # asked again only if the store was out of reach when okr started
        app = feed_ledger(st.settings)
        ingest = Ingest(app, kafka_client.bootstrap(st.settings, start_local=True),
                        lambda notice, msg: log(
                            "ingest", f"warning: {ingest_warning(st, notice, msg)}",
                            {"warning": notice.said(), "kpi": msg.kpi, "reading_id": msg.id,
                             "before_in_force": True}))
        log("ingest", f"reading KPI readings from {topic}", {})

        def batch(p: Any) -> None:
            log("ingest", p.said(), p.as_dict())

        try:
            ingest.run(stop.is_set, batch, retrying(log, "ingest"))
        finally:
            ingest.close()
            app.close()


NOTIFY_RETRY = (1.0, 60.0)  # a failed reminder round is tried again after 1 s, doubling


def notify_service(st: State, stop: threading.Event, log: Log) -> None:
    """Publish the reminders `okr due` lists to okr.notifications every notify_seconds
    (consumers/notify.py: each once per item per overdue period) until stopped."""
    from okr.adapters import kafka_client
    from okr.consumers.notify import Notifier
    from okr.locks import exclusive

    s = st.settings
    # One notifier per data directory: two would send each reminder twice and lose ids of
    # the sent ones (notifications.json, last writer wins). A second one waits.
    with exclusive(s.home / "notify.lock", stop.is_set, lambda holder: log(
            "notify", f"another notifier runs for this data directory (pid {holder}); waiting "
            "for it", {"waiting_for": holder})) as ours:
        if ours:
            _notify(st, stop, log, Notifier(s, kafka_client.bootstrap(s, start_local=True)))


def _notify(st: State, stop: threading.Event, log: Log, notifier: Any) -> None:
    """The notifier's rounds until stopped (notify_service holds its lock)."""
    from okr.adapters import kafka_client
    from okr.errors import ProjectionUnavailable
    from okr.projections.store import ProjectionLocked

    s = st.settings
    log("notify", f"reminders to {s.topic_notifications} every {s.notify_seconds:g} s "
        f"(check-in cadence {s.checkin_cadence})", {})
    failed = retrying(log, "notify")
    wait, next_round = NOTIFY_RETRY[0], time.monotonic()
    try:
        while not stop.is_set():
            if time.monotonic() >= next_round:
                try:
                    sent = notifier.round()
                except (kafka_client.KafkaError, OSError, ProjectionLocked,
                        ProjectionUnavailable) as exc:
                    notifier.close()
                    failed(exc, wait)
                    next_round, wait = time.monotonic() + wait, min(wait * 2, NOTIFY_RETRY[1])
                    continue
                wait = NOTIFY_RETRY[0]
                if sent is None:  # no snapshot yet: the consumer is about to write the first
                    next_round = time.monotonic() + min(5.0, s.notify_seconds)
                    continue
                if sent:
                    log("notify", f"sent {len(sent)} reminders", {"sent": len(sent),
                                                                  "ids": [m["id"] for m in sent]})
                next_round = time.monotonic() + s.notify_seconds
            stop.wait(0.2)
    finally:
        notifier.close()


def web_service(listener: socket.socket, host: str, port: int
                ) -> Callable[[State, threading.Event, Log], None]:
    """`okr serve` beside the others (`okr up --web`), as a child process: the consumer in this
    process owns the projection's work file, and DuckDB lets one process hold a file either
    for writing or for reading — the web server reads it as any other reader does.

    `listener` is the web port, bound by okr up before anything started (a port another program
    holds is said then, in one line): each child serves on it, so it is "serving" once it runs,
    and a restarted child finds the port still its own. The child ends when okr up does, even
    by SIGKILL (cli/lifeline.py)."""
    def serve(st: State, stop: threading.Event, log: Log) -> None:
        import os
        import subprocess

        from okr.errors import WebUnavailable

        fd = listener.fileno()
        cmd = [sys.executable, "-P", "-c",
               f"from okr.cli.lifeline import end_with; end_with({os.getpid()}); "
               "from okr.cli.main import run; run()",
               "--home", str(st.settings.home), "serve", "--host", host, "--port", str(port),
               "--listen-fd", str(fd)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, pass_fds=(fd,))
        try:  # from the start: a log line that fails must not leave the child behind
            log("web", f"serving http://{host}:{port}/ (pid {proc.pid})",
                {"url": f"http://{host}:{port}/", "pid": proc.pid})
            while not stop.wait(0.2):
                code = proc.poll()
                if code is not None:
                    raise WebUnavailable(f"the web server stopped (exit {code})")
        finally:  # the child never outlives this thread (see cli/lifeline.py)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return serve


# Name → loop. `okr up` runs all of them; other modules add theirs here.
SERVICES: dict[str, Callable[[State, threading.Event, Log], None]] = {
    "relay": relay_service,
    "consume": consume_service,
    "ingest": ingest_service,
    "notify": notify_service,
}
# Run by `okr up` beside them when the broker is the local one.
BROKER_WATCH = {"broker": broker_service}


def run_services(st: State, names: list[str], as_json: bool,
                 extra: dict[str, Callable[[State, threading.Event, Log], None]] | None = None
                 ) -> None:
    """Run the named services (and `extra` ones) until Ctrl-C / SIGTERM, then stop them
    cleanly."""
    # a data directory serving another ledger: refused before anything runs (a store out of
    # reach now: the relay and the ingest check when they open it)
    st.check_home_when_reachable()
    stop = threading.Event()
    log = make_log(as_json)
    errors: list[BaseException] = []
    services = {**SERVICES, **BROKER_WATCH, **(extra or {})}
    names = [*names, *(extra or {})]

    def guard(name: str) -> None:
        """Run one service; when a party it needs fails it (store, Kafka, the data directory,
        the projection's file), restart it after a back-off, so the others keep running; any
        other failure is a bug and stops everything."""
        from okr.cli.failures import translate
        from okr.errors import ServiceUnavailable

        wait = RESTART_AFTER[0]
        while not stop.is_set():
            began = time.monotonic()
            try:
                services[name](st, stop, log)
                return
            except BaseException as exc:
                known = translate(exc) if isinstance(exc, Exception) else None
                if not isinstance(known, ServiceUnavailable):
                    errors.append(exc)
                    log(name, f"stopped by an error: {exc}", {"error": repr(exc)})
                    stop.set()
                    return
                if time.monotonic() - began > 60:  # it had been running: start over
                    wait = RESTART_AFTER[0]
                log(name, f"{_trouble(known)} ({known}); restarting in {wait:.0f} s",
                    {"error": str(known), "restart_in": wait})
                del exc, known
            stop.wait(wait)
            wait = min(wait * 2, RESTART_AFTER[1])

    previous = {s: signal.signal(s, lambda *_: stop.set())
                for s in (signal.SIGINT, signal.SIGTERM)}
    threads = [threading.Thread(target=guard, args=(n,), name=n, daemon=True) for n in names]
    for t in threads:
        t.start()
    log("okr", f"running {', '.join(names)}; Ctrl-C to stop", {"services": names})
    try:
        while not stop.is_set() and any(t.is_alive() for t in threads):
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        for s, handler in previous.items():
            signal.signal(s, handler)
        if "kafka" in sys.modules:  # clients that never bootstrapped leave their IO threads
            from okr.adapters.kafka_client import stop_orphaned_io
            stop_orphaned_io()
    log("okr", "stopped", {})
    if errors:  # the first failure's code (okr/errors.py); 1 for a bug, as Python's own
        from okr.cli.failures import translate
        from okr.errors import exit_code
        known = translate(errors[0])
        raise SystemExit(1 if known is None else exit_code(known))
