"""Users of the web app and API (`okr user add`, `okr user password`, `okr user disable`,
`okr user enable`, `okr user list`, `okr token create`, `okr token list`, `okr token revoke`):
ledger events, audited. The lists read the users' events from the store (a read: where no
ledger was started they refuse as every read does, and start none); they never show a token,
a token's hash or a password's hash."""

from typing import TYPE_CHECKING, Any

import typer

from okr.cli.commands import Typer
from okr.cli.context import state
from okr.cli.output import format_option
from okr.cli.writes import JSON, done

if TYPE_CHECKING:
    from okr.cli.context import State
    from okr.ledger.app import OkrLedger

REASON = typer.Option(None, "--reason", help="Why (required): recorded with the event.")

user_app = Typer(help="Users of the web app and API (okr serve).", no_args_is_help=True)
token_app = Typer(help="Sign-in tokens of web and API users.", no_args_is_help=True)


@user_app.write("add", starts_ledger=True)
def user_add(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name (a key: "
                                                            "letters, digits, . _ : -)."),
             role: str = typer.Option(..., "--role", help="viewer, member, planner, auditor "
                                      "or admin."),
             team: str = typer.Option("", "--team", help="The team whose key results a member "
                                      "checks in on (required for members)."),
             as_json: bool = JSON) -> None:
    """Add a user of the web app and API with a role."""
    u = state(ctx).ledger.add_user(name, role, team)
    done(ctx, as_json, f"user {u.key} added: {u.role}" + (f" of team {u.team}" if u.team else ""),
         {"name": u.key, "role": u.role, "team": u.team})


@user_app.write("password")
def user_password(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name."),
                  stdin: bool = typer.Option(False, "--stdin", help="Read the password from "
                                             "the first line of stdin (for scripts) instead of "
                                             "asking twice at a prompt."),
                  as_json: bool = JSON) -> None:
    """Set a user's password for web sign-in: asked at a prompt (twice, not echoed) or read
    from stdin, never from the command line; only its argon2id hash is recorded."""
    import sys

    from okr.cli.errors import UserError
    from okr.web.passwords import MIN_LENGTH, check_password, hash_password

    ledger = state(ctx).ledger
    ledger.user(name)  # an unknown user fails before anyone types a password
    if stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        if not sys.stdin.isatty():
            raise UserError("okr user password asks at a prompt; to pipe the password in, "
                            "give --stdin")
        password = typer.prompt(f"New password for {name} ({MIN_LENGTH}+ characters)",
                                hide_input=True, confirmation_prompt=True)
    u = ledger.set_password(name, hash_password(check_password(password)))
    done(ctx, as_json, f"password set for {u.key}", {"name": u.key, "password": "set"})


@token_app.write("create")
def token_create(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name."),
                 as_json: bool = JSON) -> None:
    """Create a sign-in token for a user: shown once, only its SHA-256 is recorded."""
    from okr.web.tokens import new_token

    token = new_token(name)
    state(ctx).ledger.issue_token(name, token.token_id, token.token_hash)
    done(ctx, as_json, f"token {token.token_id} for {name} (shown once; keep it secret):",
         {"name": name, "token_id": token.token_id, "token": token.secret}, then=[token.secret])


@user_app.write("disable")
def user_disable(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name."),
                 reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Lock a user out of the web app and API: no sign-in, and their sessions and tokens are
    refused, from a running server's next request, until `okr user enable`."""
    u = state(ctx).ledger.disable_user(name, reason)
    done(ctx, as_json, f"user {u.key} disabled: their sessions and tokens are refused",
         {"name": u.key, "disabled": True})


@user_app.write("enable")
def user_enable(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name."),
                reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Let a disabled user sign in again: their tokens not revoked work again; revoked tokens
    stay revoked and sessions made before stay ended."""
    u = state(ctx).ledger.enable_user(name, reason)
    done(ctx, as_json, f"user {u.key} enabled", {"name": u.key, "disabled": False})


@token_app.write("revoke")
def token_revoke(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name."),
                 token_id: str | None = typer.Argument(None, metavar="[TOKEN]",
                                                       help="The token's id, as okr token "
                                                       "create and okr token list show it."),
                 every: bool = typer.Option(False, "--all", help="Revoke every live token of "
                                            "the user."),
                 reason: str | None = REASON, as_json: bool = JSON) -> None:
    """Revoke a sign-in token of a user (or --all of them): refused from a running server's
    next request, and the user's web sessions end. A revoked token never works again."""
    from okr.cli.errors import UserError

    if every == (token_id is not None):
        raise UserError("give a token id, or --all" if not every else
                        "give a token id or --all, not both")
    ledger = state(ctx).ledger
    before = set(ledger.user(name).revoked)
    u = (ledger.revoke_all_tokens(name, reason) if every
         else ledger.revoke_token(name, token_id or "", reason))
    ids = sorted(set(u.revoked) - before)
    done(ctx, as_json, f"revoked {len(ids)} token{'s' if len(ids) != 1 else ''} of {u.key}: "
         + ", ".join(ids), {"name": u.key, "revoked": ids})


def reading(ctx: typer.Context) -> "State":
    """The invocation's state, marked a read: it must find a ledger, never start one."""
    st = state(ctx)
    st.reading = True
    return st


@user_app.command("list")
def user_list(ctx: typer.Context, fmt: str | None = format_option(),
              as_json: bool = JSON) -> None:
    """Every user: role, team, whether a password is set, live and revoked tokens, whether
    (since when, by whom, why) they are disabled, when and by whom they were added — never a
    token, a token's hash or a password's hash."""
    from okr.cli.context import want_json
    from okr.cli.output import NONE, emit, print_table, table_format
    from okr.cli.writes import said

    fmt = table_format(fmt, want_json(ctx, as_json))
    st = reading(ctx)
    rows = user_rows(st.ledger)

    def when(t: Any) -> str:
        return NONE if t is None else said(st, t)

    def human() -> None:
        if fmt == "table" and not rows:
            print("no users")
            return
        print_table(["user", "role", "team", "password", "live tokens", "revoked tokens",
                     "status", "disabled", "disabled by", "reason", "added", "added by"],
                    [[r["name"], r["role"], r["team"] or NONE,
                      "set" if r["password_set"] else "not set", str(r["tokens_live"]),
                      str(r["tokens_revoked"]), "disabled" if r["disabled"] else "enabled",
                      when((r["disabled"] or {}).get("at")),
                      (r["disabled"] or {}).get("by", NONE),
                      (r["disabled"] or {}).get("reason", NONE),
                      when(r["added"]["at"]), r["added"]["by"]] for r in rows],
                    fmt, title="Users")
    emit(rows, fmt == "json", human)


def user_rows(ledger: "OkrLedger") -> list[dict[str, Any]]:
    """Each user, by name, as their events in the store say (a password only as set or not,
    tokens only counted)."""
    from okr.domain.user import User
    from okr.ledger.views import all_of

    rows: list[dict[str, Any]] = []
    for u in all_of(ledger, User.UserAdded):  # type: ignore[attr-defined]  # @event classes
        row: dict[str, Any] = {"name": u.key, "role": u.role, "team": u.team,
                               "password_set": False, "password_set_at": None,
                               "tokens_live": 0, "tokens_revoked": 0, "disabled": None}
        for e in ledger.events.get(u.id, lte=u.version):
            said_by = {"at": e.timestamp, "by": getattr(e, "actor", None),
                       "on_behalf_of": e.on_behalf_of}
            if isinstance(e, User.UserAdded):  # type: ignore[attr-defined]
                row["added"] = said_by
            elif isinstance(e, User.UserPasswordSet):  # type: ignore[attr-defined]
                row["password_set"], row["password_set_at"] = True, e.timestamp
            elif isinstance(e, User.UserDisabled):  # type: ignore[attr-defined]
                row["disabled"] = {**said_by, "reason": e.reason}
            elif isinstance(e, User.UserEnabled):  # type: ignore[attr-defined]
                row["disabled"] = None
        row["tokens_revoked"] = len(set(u.revoked))
        row["tokens_live"] = len(set(u.token_hashes) - set(u.revoked))
        rows.append(row)
    return rows


@token_app.command("list")
def token_list(ctx: typer.Context, name: str | None = typer.Argument(
                   None, metavar="[USER]", help="Only this user's tokens."),
               as_json: bool = JSON) -> None:
    """The sign-in tokens of every user (or of USER): id, when and by whom it was created,
    and whether and why it was revoked — never the token or its hash."""
    from okr.cli.context import want_json
    from okr.cli.output import emit, print_table
    from okr.cli.writes import said

    st = reading(ctx)
    rows = token_rows(st.ledger, name)

    def human() -> None:
        def when(t: Any) -> str:
            return "" if t is None else said(st, t)
        print_table(["user", "token", "created", "by", "revoked", "by", "reason", "user status"],
                    [[r["user"], r["token_id"], when(r["created_at"]), r["created_by"],
                      when(r["revoked"] and r["revoked"]["at"]),
                      (r["revoked"] or {}).get("by", ""), (r["revoked"] or {}).get("reason", ""),
                      "disabled" if r["user_disabled"] else "enabled"] for r in rows],
                    title="Sign-in tokens")
    emit(rows, want_json(ctx, as_json), human)


def token_rows(ledger: "OkrLedger", name: str | None) -> list[dict[str, Any]]:
    """Each token of the user (or of every user), read from their events in the store."""
    from okr.domain.user import User
    from okr.ledger.views import all_of

    users: list[User] = [ledger.user(name)] if name is not None else all_of(
        ledger, User.UserAdded)  # type: ignore[attr-defined]  # @event classes: made at runtime
    rows: list[dict[str, Any]] = []
    for u in users:
        mine: dict[str, dict[str, Any]] = {}
        for e in ledger.events.get(u.id, lte=u.version):
            if isinstance(e, User.UserTokenIssued):  # type: ignore[attr-defined]
                mine[e.token_id] = {"user": u.key, "token_id": e.token_id,
                                    "created_at": e.timestamp, "created_by": e.actor,
                                    "revoked": None, "user_disabled": u.disabled}
            elif isinstance(e, User.UserTokensRevoked):  # type: ignore[attr-defined]
                for token_id in e.token_ids:
                    mine[token_id]["revoked"] = {"at": e.timestamp, "by": e.actor,
                                                 "reason": e.reason}
        rows.extend(mine.values())
    return rows


def register(app: typer.Typer) -> None:
    """Add `user` and `token` to the root app."""
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
