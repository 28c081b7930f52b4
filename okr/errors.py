"""The failures okr expects, and the exit code each one ends a command with.

Every failure a person can act on is one of these (or is translated into one at the edge
where a library raised it): its message is one line that names the party that failed and
says what to do. Anything else is a bug and keeps its traceback.

| exit | meaning |
| --- | --- |
| 0 | done (a stale read without `--strict` too, with a warning on stderr) |
| 1 | a verification failed (`okr audit verify`: the record does not check out) |
| 2 | bad input: arguments, settings, a refused command, no ledger in the data directory |
| 3 | incomplete or stale: the projection lacks events the store holds and `--strict` was given |
| 4 | a service is unavailable: event store, Kafka, the data directory, the projection, a port |
| 130 | interrupted (Ctrl-C) |
| 141 | the output pipe was closed early (a reader such as `head` stopped): okr stops quietly |

This module imports nothing of okr's, so every layer may raise these.
"""

OK = 0
VERIFICATION_FAILED = 1
BAD_INPUT = 2
INCOMPLETE = 3
UNAVAILABLE = 4
INTERRUPTED = 130  # Ctrl-C, as shells report a process ended by SIGINT
PIPE_CLOSED = 141  # the reader of stdout went away, as shells report a process ended by SIGPIPE


class OkrError(Exception):
    """An expected failure: its message is one line a person can act on."""

    exit_code = BAD_INPUT


class VerificationFailed(OkrError):
    """The record does not check out (chain, signatures, versions, store = Kafka)."""

    exit_code = VERIFICATION_FAILED


class BadInput(OkrError, ValueError):
    """Arguments, settings or a file given by the user are not acceptable."""

    exit_code = BAD_INPUT


class NoLedger(BadInput):
    """A read found no ledger where it looked (and created none)."""


class Incomplete(OkrError):
    """The answer lacks events the store holds."""

    exit_code = INCOMPLETE


class ServiceUnavailable(OkrError):
    """A party okr depends on cannot be used right now; nothing was written."""

    exit_code = UNAVAILABLE


class StoreUnavailable(ServiceUnavailable):
    """The event store (SQLite file or PostgreSQL) cannot be reached or read."""


class StoreCorrupt(ServiceUnavailable):
    """The event store's file is not an event store (damaged, or some other file)."""


class DataDirUnavailable(ServiceUnavailable):
    """The data directory (or a file in it) cannot be created, read or written."""


class KafkaUnavailable(ServiceUnavailable):
    """Kafka (the local broker or KAFKA_BOOTSTRAP_SERVERS) cannot be reached or is failing."""


class ProjectionUnavailable(ServiceUnavailable):
    """The DuckDB projection cannot be opened or written (held, unwritable, damaged)."""


class PortInUse(ServiceUnavailable):
    """A port okr would listen on (the local broker's, the web server's) is held by another
    program."""


class WebUnavailable(ServiceUnavailable):
    """The web server `okr up --web` runs beside the others stopped."""


# What each exit code means, as docs/cli.md and `okr --help` say it.
MEANINGS: dict[int, str] = {
    OK: "ok (a read whose projection lags the store too: it says how far on stderr and "
        "in --json as \"stale\")",
    VERIFICATION_FAILED: "verification failed (okr audit verify found a bad record)",
    BAD_INPUT: "bad input (arguments, settings, a refused command, no ledger in the data "
               "directory)",
    INCOMPLETE: "incomplete or stale (with --strict: the projection lacks events the store "
                "holds)",
    UNAVAILABLE: "service unavailable (event store, Kafka, data directory, projection, or a "
                 "port to listen on that another program holds; the message names it and what "
                 "to do)",
    INTERRUPTED: "interrupted (Ctrl-C: `okr: interrupted` on stderr)",
    PIPE_CLOSED: "output pipe closed early (a reader such as head -1 stopped reading: the rest "
                 "is not printed, nothing is said on stderr; non-zero, as a shell reports "
                 "SIGPIPE, so a cut-off okr audit verify does not pass under pipefail)",
}


def exit_code_table() -> str:
    """The exit codes as a Markdown table (docs/cli.md)."""
    rows = [f"| {code} | {meaning} |" for code, meaning in MEANINGS.items()]
    return "\n".join(["**Exit codes**:", "", "| code | meaning |", "| --- | --- |", *rows])


# The one table of exit codes, most specific class first; docs/cli.md lists it.
EXIT_CODES: tuple[tuple[type[OkrError], int, str], ...] = (
    (VerificationFailed, VERIFICATION_FAILED, "a verification failed"),
    (NoLedger, BAD_INPUT, "no ledger in the data directory"),
    (BadInput, BAD_INPUT, "bad input (arguments, settings, a refused command)"),
    (Incomplete, INCOMPLETE, "incomplete or stale answer"),
    (StoreUnavailable, UNAVAILABLE, "event store unreachable"),
    (StoreCorrupt, UNAVAILABLE, "event store damaged"),
    (DataDirUnavailable, UNAVAILABLE, "data directory not usable"),
    (KafkaUnavailable, UNAVAILABLE, "Kafka unreachable or failing"),
    (ProjectionUnavailable, UNAVAILABLE, "projection not usable"),
    (PortInUse, UNAVAILABLE, "a port to listen on is taken"),
    (WebUnavailable, UNAVAILABLE, "the web server stopped"),
)


def exit_code(exc: BaseException) -> int:
    """The exit code a failure ends a command with (2 for one okr does not know)."""
    for cls, code, _ in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return exc.exit_code if isinstance(exc, OkrError) else BAD_INPUT
