"""Users of the web app and API (`okr user add`, `okr user password`, `okr token create`):
ledger events, audited."""

import typer

from okr.cli.commands import Typer
from okr.cli.context import state
from okr.cli.writes import JSON, done

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


def register(app: typer.Typer) -> None:
    """Add `user` and `token` to the root app."""
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
