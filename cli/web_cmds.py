"""`okr serve`: the web app and JSON API (okr.web), on uvicorn."""

import typer

from okr.cli.context import state
from okr.cli.errors import UserError
from okr.errors import BadInput

INSTALL_HINT = ("okr serve needs the web extra: pip install 'okr-ledger[web]' (FastAPI, "
                "uvicorn, Jinja2)")


def web_libraries_missing() -> str | None:
    """The web library that cannot be imported, or None when all can."""
    import importlib
    for module in ("fastapi", "uvicorn", "jinja2", "python_multipart"):
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


def serve(ctx: typer.Context,
          host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
          port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port."),
          listen_fd: int | None = typer.Option(None, "--listen-fd", hidden=True,
                                               help="A socket bound to --host/--port already "
                                               "(okr up --web passes its own).")) -> None:
    """Serve the web app and JSON API (/api/v1) until Ctrl-C."""
    missing = web_libraries_missing()
    if missing is not None:
        raise BadInput(f"{INSTALL_HINT}; {missing} is not installed")
    import socket

    import uvicorn

    from okr.errors import PortInUse
    from okr.ports import CHOOSE_ANOTHER, listen
    from okr.web.app import create_app

    st = state(ctx)
    st.require_ledger()
    if listen_fd is not None:
        try:  # the listening socket okr up bound and handed over
            sock = socket.socket(fileno=listen_fd)
        except OSError as exc:
            raise UserError(f"--listen-fd {listen_fd} is not an open socket ({exc.strerror}); "
                            "it is for okr up, which passes the port it bound") from None
    else:
        try:  # bound here, not by uvicorn: "serving" is said only once it is true
            sock = listen(host, port)
        except PortInUse as exc:
            raise PortInUse(f"{exc}; {CHOOSE_ANOTHER}") from None
    app = create_app(st.settings)
    print(f"okr: serving {st.settings.home} on http://{host}:{port}/ (Ctrl-C to stop)",
          flush=True)
    # proxy_headers off: a client's address is its connection's, never what its own
    # X-Forwarded-For says (uvicorn trusts that header from 127.0.0.1 — every client of the
    # default --host — so the sign-in limit per address was a limit per header value).
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, proxy_headers=False))
    try:
        server.run(sockets=[sock])
    finally:
        app.state.site.close()
        sock.close()


def register(app: typer.Typer) -> None:
    """Add `serve` to the root app."""
    app.command("serve")(serve)
