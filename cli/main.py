"""Entry point of `okr`: global options, command groups, failures as one line + exit code."""

import sys
from collections.abc import Iterable, Mapping
from importlib import import_module
from pathlib import Path
from typing import NoReturn

import typer

from okr.cli.commands import NEGATIVE_NUMBER, Typer
from okr.cli.context import State
from okr.errors import exit_code_table

# Commands that only read: in a directory without a ledger they say so instead of creating one.
READS = frozenset({"show", "review", "retro", "scorecard", "history", "sql", "export", "audit",
                   "list", "due"})

# The module that adds each top-level command, in the order `okr --help` lists them: `okr NAME
# …` imports and builds only NAME's module, `okr --help` (or any word that is not a command
# here) all of them. Each module imports only typer at top level and the heavy libraries
# inside the commands that need them (tests/unit/test_cli_latency.py keeps both true).
COMMANDS = {
    "plan_cmds": ("cycle", "objective", "kr", "initiative"),
    "measure_cmds": ("checkin", "kpi"),
    "show_cmds": ("show",),
    "list_cmds": ("list",),
    "import_cmds": ("import",),
    "review_cmds": ("review", "retro"),
    "kafka_cmds": ("relay", "broker", "keys", "ingest", "notify", "up"),
    "projection_cmds": ("consume", "scorecard", "history", "export", "sql"),
    "audit_cmds": ("audit",),
    "due_cmds": ("due",),
    "user_cmds": ("user", "token"),
    "web_cmds": ("serve",),
}
MODULE_OF = {name: module for module, names in COMMANDS.items() for name in names}


def build_app(modules: "Iterable[str]" = COMMANDS) -> Typer:
    """The `okr` app with the commands of these modules of okr.cli (default: every one)."""
    app = Typer(
        name="okr",
        help="An event-sourced ledger of OKRs and KPIs with a full audit history.\n\n"
             "Numbers are written in ASCII decimal (12, -0.5, 1e3), negative ones too "
             "without anything before them (okr checkin kr-1 -4.5); other spellings, such as "
             "١٢٣ or 1_000, are refused. Piped, tables print whole: tab-separated, one row a "
             "line.",
        no_args_is_help=True,
        epilog=exit_code_table(),
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback(invoke_without_command=True)(main)
    for module in modules:
        import_module(f"okr.cli.{module}").register(app)
    return app


def __getattr__(name: str) -> Typer:
    """`okr.cli.main.app`: the whole app (for the docs, the tests and `typer okr.cli.main`),
    built when first asked for."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    app = globals()["app"] = build_app()
    return app


def __dir__() -> list[str]:
    return sorted({*globals(), "app"})


# Options of `okr` itself that take a value: the word after them is not the command.
_VALUED = frozenset({"--home", "--actor"})


def command_named(argv: list[str]) -> str | None:
    """The top-level command `okr ARGV` runs, read as the root group reads it; None when it
    runs none of COMMANDS (help, completion, no command, a mistyped one)."""
    words = iter(argv)
    for word in words:
        if word in _VALUED:
            next(words, None)
        elif word == "--":
            word = next(words, "")
            return word if word in MODULE_OF else None
        elif word.startswith("-") and not NEGATIVE_NUMBER.match(word):
            if word in ("-h", "--help") or word.startswith(("--install-completion",
                                                             "--show-completion")):
                return None
        else:
            return word if word in MODULE_OF else None
    return None


def app_for(argv: list[str], environ: "Mapping[str, str]") -> Typer:
    """The app `okr ARGV` needs: its command's module alone, else the whole app."""
    name = None if "_OKR_COMPLETE" in environ else command_named(argv)
    return build_app([MODULE_OF[name]]) if name is not None else build_app()


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


def run() -> None:
    """Console-script entry point."""
    import signal

    from okr.cli import interrupts

    interrupts.reset()
    previous = signal.signal(signal.SIGINT, interrupts.interrupted)
    try:
        _run()
    except interrupts.Interrupted:
        # Stop the clients' IO threads first: the process must end now, not hang on them.
        if "kafka" in sys.modules:
            from okr.adapters.kafka_client import stop_orphaned_io
            stop_orphaned_io()
        sys.exit(interrupts.ended_by_interrupt())
    finally:
        interrupts.said_after_save()
        signal.signal(signal.SIGINT, previous)


def _closed_pipe(exc: BaseException) -> bool:
    """Whether `exc` is, or was raised while handling, a write to a pipe whose reader has gone
    (`okr … | head -1`): typer answers that with sys.exit(1) — which says "verification
    failed" here — so the exit it raises is told by the error it handled."""
    import errno

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.EPIPE:
            return True
        seen = seen.__context__
    return False


def _end_on_closed_pipe() -> "NoReturn":
    """End quietly with the exit code a shell gives a process killed by SIGPIPE (non-zero, so
    `okr audit verify | head` cut short does not pass under pipefail). What is still buffered
    for stdout goes to /dev/null: flushed to the closed pipe at exit, it would fail again and
    Python would say so on stderr."""
    import os

    from okr.errors import PIPE_CLOSED
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # a stdout without a descriptor (tests write to memory)
        pass
    if "kafka" in sys.modules:
        from okr.adapters.kafka_client import stop_orphaned_io
        stop_orphaned_io()
    sys.exit(PIPE_CLOSED)


def _run() -> None:
    import os

    from okr.cli import interrupts
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
        rv = app_for(sys.argv[1:], os.environ)(standalone_mode=False)
        sys.stdout.flush()  # here, where a reader that has gone is still ours to answer
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (SystemExit, BrokenPipeError) as exc:
        if _closed_pipe(exc):
            _end_on_closed_pipe()
        raise
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
        if not interrupts.came():
            from okr.cli.failures import translate  # a command that succeeds does without it
            known = translate(exc)
            if known is None:
                raise
            failure, code = str(known), exit_code(known)
            del known  # it may be the failure itself: its traceback must not outlive this block
    if interrupts.came():  # (raised out here, for the reason given below)
        raise interrupts.Interrupted
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
