"""A PostgreSQL server of a test's own (initdb into a temporary directory, a free port) that the
test may stop, kill and restart, and a TCP link in front of it that can lose a COMMIT's reply.

The server binaries come from $OKR_PG_BIN (default /usr/lib/postgresql/15/bin). PostgreSQL
refuses to run as root, so as root every server command runs as the `postgres` OS user.
"""

import contextlib
import os
import pwd
import select
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import psycopg

BIN = Path(os.environ.get("OKR_PG_BIN", "/usr/lib/postgresql/15/bin"))


def why_unavailable() -> str | None:
    """Why a private server cannot be started here, or None when it can."""
    if not (BIN / "initdb").is_file() or not (BIN / "pg_ctl").is_file():
        return f"PostgreSQL server binaries (initdb, pg_ctl) not found in {BIN}; set OKR_PG_BIN"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' OS user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and 'runuser' is missing (needed to run as 'postgres')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """One private server: `kill()` is a crash (`pg_ctl stop -m immediate`), `start()` recovers."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="okr-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._server(BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                     "-E", "UTF8", "--locale=C", "--no-sync")

    def _server(self, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, text=True, capture_output=True, timeout=120)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr or proc.stdout}")
        return proc

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   "-c unix_socket_directories='' -c max_connections=200")
        self._server(BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options,
                     "-w", "-t", "60", "start")

    def kill(self) -> None:
        """A crash: every backend dies at once, no shutdown checkpoint; start() recovers."""
        self._server(BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._server(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def terminate_backends(self, dbname: str) -> int:
        """Cut every client connection to a database (pg_terminate_backend); how many were cut."""
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()",
                                (dbname,)).fetchall()
        return sum(1 for (done,) in rows if done)

    def environ(self, dbname: str) -> dict[str, str]:
        """The okr settings that point at this server."""
        return {"OKR_STORE": "postgres", "POSTGRES_HOST": "127.0.0.1",
                "POSTGRES_PORT": str(self.port), "POSTGRES_USER": "postgres",
                "POSTGRES_DBNAME": dbname}

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class LossyLink:
    """A TCP forwarder to the server that can lose the reply to a COMMIT the server executed.

    Only transactions that insert rows count (events, watermarks), not the creation of tables.
    `lose_commit_replies(n)`: the next n such COMMITs lose their reply: the connection is cut
    instead (the transaction is committed; the client only learns the connection broke).
    `down_after_commit()`: the next such COMMIT's reply is delivered; the next connection
    opened after it takes the link down: every connection is cut, new ones refused (the server
    went away right after that transaction) until `up()`.
    """

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.to_lose = 0
        self.lost = 0
        self.down_armed = False
        self.down_on_connect = False
        self.down_with_loss = False
        self.is_down = False
        self.sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_commit_replies(self, n: int = 1, then_down: bool = False) -> None:
        """Lose the next n COMMIT replies; `then_down`: the link goes down with the last."""
        with self.lock:
            self.to_lose += n
            self.down_with_loss = then_down

    def up(self) -> None:
        with self.lock:
            self.is_down = False

    def down_after_commit(self) -> None:
        with self.lock:
            self.down_armed = True

    def _go_down(self) -> None:
        with self.lock:
            self.is_down, self.down_armed, self.down_on_connect = True, False, False
            self.down_with_loss = False
            open_sockets, self.sockets = list(self.sockets), set()
        for s in open_sockets:
            _cut(s)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                down = self.is_down or self.down_on_connect
            if down:
                self._go_down()
                _cut(client)
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.server_port), timeout=5)
            except OSError:
                _cut(client)
                continue
            with self.lock:
                self.sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        inserted = commit_sent = False
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [])
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    inserted = (inserted and b"ROLLBACK" not in data) or _inserts(data)
                    commit_sent = commit_sent or (inserted and b"COMMIT" in data)
                    server.sendall(data)
                if server in ready:
                    data = server.recv(65536)
                    if not data:
                        return
                    if commit_sent and b"COMMIT\x00" in data:  # CommandComplete of COMMIT
                        inserted = commit_sent = False
                        with self.lock:
                            lose = self.to_lose > 0
                            self.to_lose -= lose
                            self.lost += lose
                            down = self.down_armed and not lose
                            crash = lose and self.to_lose == 0 and self.down_with_loss
                        if crash:
                            self._go_down()
                        if lose:
                            return
                        if down:
                            with self.lock:
                                self.down_on_connect = True
                    client.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            _cut(client)
            _cut(server)
            with self.lock:
                self.sockets -= {client, server}

    def close(self) -> None:
        self.listener.close()
        self._go_down()


def _inserts(data: bytes) -> bool:
    """Client bytes that insert rows (not DDL, whose function bodies may mention INSERT)."""
    return b"INSERT INTO" in data and b"CREATE " not in data


def _cut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()
