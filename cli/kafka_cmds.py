"""Kafka commands: `okr relay`, `okr broker start|stop|status`, `okr keys export`, `okr ingest`,
`okr notify`, `okr up`."""

import sys

import typer

from okr.cli.commands import Typer
from okr.cli.context import State, state, want_json
from okr.cli.errors import UserError
from okr.cli.output import counted, emit, first_line

JSON = typer.Option(False, "--json", help="Print JSON.")
broker_app = Typer(help="The embedded local broker (used when KAFKA_BOOTSTRAP_SERVERS "
                   "is not set).", no_args_is_help=True)
keys_app = Typer(help="The checkpoint signing key.", no_args_is_help=True)


def _servers(st: State) -> str:
    from okr.adapters import kafka_client
    from okr.adapters.local_broker import BrokerError
    try:
        return kafka_client.bootstrap(st.settings, start_local=True)
    except BrokerError as exc:
        from okr.errors import KafkaUnavailable
        raise KafkaUnavailable(f"the local broker cannot be started: {exc}") from None


def relay_cmd(ctx: typer.Context,
              once: bool = typer.Option(False, "--once", help="Catch up, then exit."),
              checkpoint: bool = typer.Option(False, "--checkpoint",
                                              help="Also publish a signed checkpoint now."),
              as_json: bool = JSON) -> None:
    """Publish every stored event to Kafka (follows new events unless --once)."""
    from rich.console import Console

    from okr.adapters import kafka_client
    from okr.adapters.kafka_client import KafkaError
    from okr.record.checkpoints import HistoryContradiction
    from okr.record.pages import Backdated, PagesError
    from okr.record.relay import Relay, RelayError, StoreDiverged

    st = state(ctx)
    if once or checkpoint:
        st.require_ledger()  # nothing to publish: no store made, no broker started
    err = Console(stderr=True)
    quiet = want_json(ctx, as_json) or not err.is_terminal
    progress = None if quiet else (lambda n, pos: err.print(
        f"\rpublished {counted(n, 'event')} (position {pos})", end=""))
    relay = Relay(st.ledger, _servers(st), progress=progress)
    try:
        if once or checkpoint:
            try:
                kafka_client.answering(relay.servers)  # a refusing Kafka said at once
                result = relay.publish_pending()
                cp = relay.checkpoint_now() if checkpoint else None
            except (StoreDiverged, Backdated) as exc:  # an alarm, not an outage
                from okr.errors import VerificationFailed
                raise VerificationFailed(f"not publishing: {exc}") from None
            except (KafkaError, RelayError, PagesError) as exc:
                from okr.errors import KafkaUnavailable
                raise KafkaUnavailable(f"publishing failed: {exc}") from None
            except HistoryContradiction as exc:  # tampering, not a usage error: exit 1
                print(f"okr: ALARM: {first_line(exc)}", file=sys.stderr)
                raise typer.Exit(1) from None
            data = {**result.as_dict(), "checkpoint": cp}
            emit(data, want_json(ctx, as_json),
                 f"{'' if quiet else chr(10)}published {counted(result.published, 'event')}; "
                 f"{st.settings.topic_ledger} holds positions up to {result.position}"
                 + (f"; {result.said()}" if result.republished else "")
                 + (f"; checkpoint signed at position {cp['position']}" if cp else ""))
            return
        from okr.cli.services import run_services
        run_services(st, ["relay"], want_json(ctx, as_json))
    finally:
        relay.close()


@broker_app.command("start")
def broker_start(ctx: typer.Context, port: int | None = typer.Option(None, help="Loopback port "
                 "(default: a free one)."), as_json: bool = JSON) -> None:
    """Start the local broker in the background."""
    from okr.adapters import local_broker
    from okr.errors import KafkaUnavailable, PortInUse
    from okr.ports import CHOOSE_ANOTHER
    st = state(ctx)
    try:
        b, started = local_broker.start(st.settings.home, port, st.settings.cache_dir)
    except PortInUse as exc:
        raise PortInUse(f"the local broker cannot be started: {exc}; {CHOOSE_ANOTHER}") from None
    except local_broker.BrokerError as exc:
        raise KafkaUnavailable(f"the local broker cannot be started: {exc}") from None
    emit({"running": True, "started": started, "pid": b.pid, "port": b.port,
          "bootstrap": b.bootstrap}, want_json(ctx, as_json),
         f"local broker {'started' if started else 'already running'} on {b.bootstrap} "
         f"(pid {b.pid})")


@broker_app.command("stop")
def broker_stop(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Stop the local broker (memory only: its topics are gone; the relay republishes).
    Refused while `okr up` runs for this data directory: it would start the broker again."""
    from okr.adapters import local_broker
    from okr.locks import held, holder
    settings = state(ctx).settings
    if held(settings.broker_watch_lock):
        raise UserError(f"okr up (pid {holder(settings.broker_watch_lock)}) watches this data "
                        "directory's broker and would start it again at once (its topics "
                        "emptied): stop okr up first")
    b = local_broker.stop(settings.home)
    emit({"stopped": b is not None, "pid": None if b is None else b.pid},
         want_json(ctx, as_json),
         "local broker was not running" if b is None else f"local broker stopped (pid {b.pid})")


@broker_app.command("status")
def broker_status(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Say whether the local broker runs, and where."""
    from okr.adapters import local_broker
    st = state(ctx)
    b = local_broker.status(st.settings.home)
    external = st.settings.kafka_bootstrap_servers
    data = {"running": b is not None, "pid": None if b is None else b.pid,
            "port": None if b is None else b.port, "external": external}
    text = (f"local broker running on {b.bootstrap} (pid {b.pid})" if b
            else "local broker not running")
    if external:
        text += f"; KAFKA_BOOTSTRAP_SERVERS={external} is used instead"
    emit(data, want_json(ctx, as_json), text)
    if b is None and not external:
        from okr.errors import UNAVAILABLE
        raise typer.Exit(UNAVAILABLE)


@keys_app.command("export")
def keys_export(ctx: typer.Context,
                create: bool = typer.Option(False, "--create", help="Make the key if there is "
                                            "none, even where there is no ledger (a volume "
                                            "that holds only the key)."),
                as_json: bool = JSON) -> None:
    """Print the public key that verifies checkpoint signatures (for auditors).

    A missing key is made beside a ledger; where there is none (a mistyped --home or
    OKR_SIGNING_KEY) the command refuses rather than hand out a new key of no ledger, unless
    --create says to make one."""
    from okr.record.signing import public_key_pem
    st = state(ctx)
    key = st.settings.signing_key_file
    if not key.exists() and not create and not st.has_ledger():
        from okr.errors import NoLedger
        raise NoLedger(f"no ledger in {st.settings.home} and no signing key at {key}: a key "
                       "made now would belong to no ledger; point --home / OKR_HOME (or "
                       "OKR_SIGNING_KEY) at the ledger's, or give --create to make a new key "
                       "there")
    pem = public_key_pem(key)
    emit({"algorithm": "Ed25519", "public_key_pem": pem}, want_json(ctx, as_json), pem.strip())


def ingest_cmd(ctx: typer.Context,
               once: bool = typer.Option(False, "--once", help="Catch up, then exit."),
               relay: bool = typer.Option(True, "--relay/--no-relay", help="Also publish "
                                          "the readings to okr.ledger (leave it to a relay "
                                          "that runs anyway, as in docker/)."),
               as_json: bool = JSON) -> None:
    """Record KPI readings from the readings topic (follows unless --once).

    Messages are JSON {kpi, value, observed_at, source, id}; invalid ones go to the
    dead-letter topic with the reason and their original bytes. A reading observed before
    its KPI was in force is recorded with a warning line (it counts in no as-of view)."""
    from rich.console import Console

    from okr.adapters import kafka_client
    from okr.cli.services import ingest_warning
    from okr.consumers.ingest import Ingest, IngestBusy, feed_ledger, reading_alone

    st = state(ctx)
    if not once:
        from okr.cli.services import run_services
        run_services(st, ["ingest", "relay"] if relay else ["ingest"],
                     want_json(ctx, as_json))
        return
    st.require_ledger()  # readings go to KPIs it holds: no store made, no broker started
    err = Console(stderr=True)
    quiet = want_json(ctx, as_json) or not err.is_terminal
    try:
        with reading_alone(st.settings, st.settings.topic_kpi_readings):
            servers = _servers(st)
            kafka_client.answering(servers)  # a refusing Kafka said at once
            app = feed_ledger(st.settings)
            ingest = Ingest(app, servers, lambda notice, msg: print(
                f"{'' if quiet else chr(10)}okr: warning: {ingest_warning(st, notice, msg)}",
                file=sys.stderr))
            try:
                progress = ingest.catch_up(None if quiet else lambda p: err.print(
                    f"\rread {p.read} messages ({p.recorded} recorded)", end=""))
            finally:
                ingest.close()
                app.close()
    except IngestBusy as exc:
        raise UserError(str(exc)) from None
    note = ""
    if progress.recorded and relay and st.settings.inline_publish:
        from okr.cli.publish import after_write_unless_relaying
        note = after_write_unless_relaying(st)
    emit({**progress.as_dict(), "published": note}, want_json(ctx, as_json),
         f"{'' if quiet else chr(10)}{progress.said()}" + (f"; {note}" if note else ""))


def notify_cmd(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Publish the reminders `okr due` lists to okr.notifications every notify_seconds, each
    once per item per overdue period, until Ctrl-C (what `okr up` runs beside the consumer).

    Reads the readers' snapshot a running `okr consume` keeps current (docs/notifications.md)."""
    from okr.cli.services import run_services
    run_services(state(ctx), ["notify"], want_json(ctx, as_json))


def up_cmd(ctx: typer.Context, as_json: bool = JSON,
           web: bool = typer.Option(False, "--web", help="Also serve the web app and JSON "
                                    "API (okr serve; needs the web extra)."),
           host: str = typer.Option("127.0.0.1", "--host", help="With --web: address."),
           port: int = typer.Option(8000, "--port", min=1, max=65535,
                                    help="With --web: port.")) -> None:
    """Run broker (if local), relay, projection consumer, KPI ingest and the reminders on
    okr.notifications (what `okr due` lists, every notify_seconds) until Ctrl-C — and the web
    app and JSON API with --web."""
    from contextlib import nullcontext

    from okr.cli.services import BROKER_WATCH, SERVICES, run_services, web_service
    from okr.locks import exclusive
    st = state(ctx)
    _not_running_already(st)
    if web:
        from importlib.util import find_spec
        if find_spec("fastapi") is None or find_spec("uvicorn") is None:
            raise UserError("okr up --web needs the web extra: pip install 'okr-ledger[web]' "
                            "(FastAPI, uvicorn, Jinja2)")
        st.require_ledger()  # the web app signs users of an existing ledger in
        from okr.errors import PortInUse
        from okr.ports import CHOOSE_ANOTHER, listen
        try:  # held from now on: a taken port is said before anything starts
            listener = listen(host, port)
        except PortInUse as exc:
            raise PortInUse(f"{exc}; {CHOOSE_ANOTHER}") from None
    try:
        _servers(st)
        local = [] if st.settings.kafka_bootstrap_servers else list(BROKER_WATCH)
        # Held while okr up watches the local broker (`okr broker stop` is refused on it).
        with exclusive(st.settings.broker_watch_lock) if local else nullcontext():
            run_services(st, [*local, *SERVICES], want_json(ctx, as_json),
                         {"web": web_service(listener, host, port)} if web else None)
    finally:
        if web:
            listener.close()


def _not_running_already(st: State) -> None:
    """Refuse, before anything starts, an `okr up` beside one that runs for this data
    directory (or an `okr consume`): its consumer would be refused the projection, after its
    relay and reminders had started. The lock file holds the running one's pid."""
    from okr.locks import held, holder
    lock = st.settings.consumer_lock
    if held(lock):
        raise UserError(f"okr up or okr consume already runs for this data directory (pid "
                        f"{holder(lock)}); it keeps the ledger published and projected — "
                        "stop it first")


def register(app: typer.Typer) -> None:
    """Add the Kafka commands."""
    app.command("relay")(relay_cmd)
    app.add_typer(broker_app, name="broker")
    app.add_typer(keys_app, name="keys")
    app.command("ingest")(ingest_cmd)
    app.command("notify")(notify_cmd)
    app.command("up")(up_cmd)
