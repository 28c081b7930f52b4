"""The ports okr listens on (the local broker's, the web server's): one another program holds
is said to be taken, before anything claims to run there."""

import errno
import socket

from okr.errors import BadInput, PortInUse

CHOOSE_ANOTHER = "choose another with --port"


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket bound to host:port and listening (2048: uvicorn's backlog); PortInUse when
    another program holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn tells them
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn and Tansu bind: connections of a predecessor that linger in TIME_WAIT must not
    # keep the port away; a program listening on it still does (Linux refuses that bind).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is in use by another program") from None
        raise BadInput(f"cannot listen on port {port} of {host}: "
                       f"{exc.strerror or exc}") from None
    except OverflowError:
        sock.close()
        raise BadInput(f"port {port} is not a port (1 to 65535)") from None
    return sock


def check(host: str, port: int) -> None:
    """PortInUse (or BadInput) unless a server could listen on host:port now."""
    listen(host, port, backlog=1).close()
