"""Entry point of `okr`: global options, command groups, failures as one line + exit code."""

import sys
from pathlib import Path

import typer

from okr.cli.commands import Typer
from okr.cli.context import State
from okr.errors import exit_code_table

# Commands that only read: in a directory without a ledger they say so instead of creating one.
READS = frozenset({"show", "review", "retro", "scorecard", "history", "sql", "export", "audit",
                   "list", "due"})

app = Typer(
    name="okr",
    help="An event-sourced ledger of OKRs and KPIs with a full audit history.\n\n"
         "Numbers are written in ASCII decimal (12, -0.5, 1e3), negative ones too without "
         "anything before them (okr checkin kr-1 -4.5); other spellings, such as ١٢٣ or 1_000, "
         "are refused. Piped, tables print whole: tab-separated, one row a line.",
    no_args_is_help=True,
    epilog=exit_code_table(),
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    actor: str | None = typer.Option(None, "--actor", hidden=True,
                                     help="Refused: the actor is the authenticated account; "
                                     "see --on-behalf-of."),
    home: Path | None = typer.Option(None, "--home", help="Data directory (default $OKR_HOME, "
                                     "else ./.okr)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    strict: bool = typer.Option(False, "--strict", help="A read whose projection lacks "
                                "events the store holds fails with exit code 3 instead of "
                                "showing them with a warning."),
    version: bool = typer.Option(False, "--version", help="Print okr's version and exit "
                                 "(with --json: as JSON)."),
) -> None:
    """okr — objectives, key results, initiatives and KPIs, every change an immutable event."""
    if version:
        _print_version(json_out)
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        ctx.fail("Missing command.")
    from okr.cli.output import NOTES
    NOTES.clear()  # one invocation's notes (a process may run several, as the tests do)
    if actor is not None:  # it used to record any name given as the actor
        raise typer.BadParameter("--actor is not accepted any more: a write is recorded under "
                                 "who you are signed in as (the operating-system account, or "
                                 "the PostgreSQL role); to record whom a write is for, give "
                                 "the command --on-behalf-of NAME (okr checkin KR VALUE "
                                 "--on-behalf-of NAME)", param_hint="'--actor'")
    overrides = {"home": home}
    ctx.obj = State(overrides={k: v for k, v in overrides.items() if v is not None},
                    json=json_out, reading=ctx.invoked_subcommand in READS, strict=strict)
    ctx.call_on_close(ctx.obj.close)


def _print_version(as_json: bool) -> None:
    from importlib.metadata import version

    from okr.cli.output import emit
    name = "okr-ledger"
    emit({"name": name, "version": version(name)}, as_json, f"okr {version(name)}")


def _register() -> None:
    # Each command module only imports typer at top level; the heavy libraries load inside
    # the commands that need them, so `okr --help` stays fast.
    from okr.cli import (
        audit_cmds,
        due_cmds,
        import_cmds,
        kafka_cmds,
        list_cmds,
        measure_cmds,
        plan_cmds,
        projection_cmds,
        review_cmds,
        show_cmds,
        user_cmds,
        web_cmds,
    )
    plan_cmds.register(app)
    measure_cmds.register(app)
    show_cmds.register(app)
    list_cmds.register(app)
    import_cmds.register(app)
    review_cmds.register(app)
    kafka_cmds.register(app)
    projection_cmds.register(app)
    audit_cmds.register(app)
    due_cmds.register(app)
    user_cmds.register(app)
    web_cmds.register(app)


_register()


def _not_utf8(argv: list[str], environ: dict[str, str]) -> str | None:
    """Why an argument or okr setting from the OS is not text we can store, else None.

    Bytes that are not UTF-8 reach Python as lone surrogates (PEP 383); they cannot be
    encoded again, so they would fail deep inside the event store or the terminal output.
    """
    named = [(f"argument {i}", a) for i, a in enumerate(argv, 1)]
    named += [(f"environment variable {k}", v) for k, v in sorted(environ.items())
              if k.startswith(("OKR_", "KAFKA_", "POSTGRES_"))]
    for what, value in named:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogateescape")
            shown = repr(raw[:60]) + ("…" if len(raw) > 60 else "")
            return f"{what} is not valid UTF-8 text: {shown}"
    return None


class Interrupted(BaseException):
    """Ctrl-C. Not a KeyboardInterrupt, which click would catch and answer with an empty line
    and 'Aborted!': run() ends every command on it in one line, exit 130."""


def _interrupted(signum: int, frame: object) -> None:
    raise Interrupted


def run() -> None:
    """Console-script entry point."""
    import signal

    previous = signal.signal(signal.SIGINT, _interrupted)
    try:
        _run()
    except Interrupted:
        # Stop the clients' IO threads first: the process must end now, not hang on them.
        if "kafka" in sys.modules:
            from okr.adapters.kafka_client import stop_orphaned_io
            stop_orphaned_io()
        from okr.errors import INTERRUPTED
        print("okr: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    finally:
        signal.signal(signal.SIGINT, previous)


def _run() -> None:
    import os

    from okr.cli.failures import translate
    from okr.errors import BAD_INPUT, INTERRUPTED, exit_code

    # Everything okr creates is private (files 0600, directories 0700) whatever the umask:
    # the ledger, the DuckDB files, broker.json, the logs — and exports, which hold the same.
    os.umask(os.umask(0o077) | 0o077)
    bad = _not_utf8(sys.argv[1:], dict(os.environ))
    if bad is not None:
        print(f"okr: error: {bad}", file=sys.stderr)
        sys.exit(BAD_INPUT)
    failure, code = None, BAD_INPUT
    try:
        rv = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("okr: aborted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except typer.TyperException as exc:  # bad flags or arguments: one line, exit 2
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            sys.exit(BAD_INPUT)
        hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
        failure = f"{exc.format_message()}{hint}"
    except Exception as exc:  # expected failures speak to people; anything else is a bug
        known = translate(exc)
        if known is None:
            raise
        failure, code = str(known), exit_code(known)
        del known  # it may be the failure itself: its traceback must not outlive this block
    if failure is not None:
        # Exit outside the except block: an exit raised in it would keep the failure's
        # traceback (and the DuckDB objects in its frames) alive until the interpreter shuts
        # down, which the DuckDB bindings then report as leaks on stderr.
        from okr.cli.output import visible
        print(f"okr: error: {visible(failure)}", file=sys.stderr)
        if "kafka" in sys.modules:
            from okr.adapters.kafka_client import stop_orphaned_io
            stop_orphaned_io()
        sys.exit(code)
    sys.exit(rv if isinstance(rv, int) else 0)
