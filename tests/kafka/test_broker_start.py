"""deploy/kafka/start.sh on a broker that dies or hangs while it starts: a broker of its own in a
temporary run directory (the jars of the main one), on free ports, with a small heap."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka_helpers import KAFKA, REPO

pytestmark = pytest.mark.kafka


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def formatted_run_dir(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory sharing the main broker's jars (fetched by ``kafka_bootstrap``), its storage
    formatted and its certificate made once, by a start that stops at once (timeout 0)."""
    main_run_dir = Path(os.environ.get("KAFKA_RUN_DIR") or REPO / ".run" / "kafka")
    directory = tmp_path_factory.mktemp("broker") / "kafka"
    directory.mkdir(mode=0o700)
    (directory / "lib").symlink_to(main_run_dir / "lib")
    ports = {"KAFKA_PORT": str(_free_port()), "KAFKA_CONTROLLER_PORT": str(_free_port())}
    (directory / "ports.env").write_text("".join(f"{name}={value}\n" for name, value in ports.items()))
    _start(_env(directory, KAFKA_START_TIMEOUT="0"))
    _stop(directory)
    assert (directory / "data" / "meta.properties").exists()
    return directory


@pytest.fixture
def run_dir(formatted_run_dir: Path) -> Iterator[Path]:
    """The formatted run directory; its broker stopped at the end."""
    yield formatted_run_dir
    _stop(formatted_run_dir)


def _stop(run_dir: Path) -> None:
    subprocess.run([str(KAFKA / "stop.sh")], env=_env(run_dir), capture_output=True, timeout=60)
    (run_dir / "kafka.pid").unlink(missing_ok=True)


def _env(run_dir: Path, **extra: str) -> dict[str, str]:
    ports = dict(line.split("=", 1) for line in (run_dir / "ports.env").read_text().splitlines())
    return {**os.environ, "KAFKA_RUN_DIR": str(run_dir), **ports, "KAFKA_HEAP_OPTS": "-Xmx256m -Xms64m", **extra}


def _kill_each_broker(run_dir: Path, times: int) -> tuple[threading.Thread, list[int]]:
    """SIGKILL the broker named in the pid file as soon as it is there, ``times`` times (each a new pid)."""
    killed: list[int] = []
    pid_file = run_dir / "kafka.pid"

    def watch() -> None:
        deadline = time.monotonic() + 120
        while len(killed) < times and time.monotonic() < deadline:
            try:
                pid = int(pid_file.read_text().strip() or 0)
            except (FileNotFoundError, ValueError):
                pid = 0
            if pid and pid not in killed:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher, killed


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KAFKA / "start.sh")], env=env, capture_output=True, text=True, timeout=240)


def _ready(env: dict[str, str]) -> bool:
    return subprocess.run([str(KAFKA / "wait.sh")], env=env, capture_output=True, timeout=30).returncode == 0


def test_a_broker_killed_while_it_starts_is_started_again_and_the_log_says_how_it_ended(run_dir: Path) -> None:
    env = _env(run_dir)
    watcher, killed = _kill_each_broker(run_dir, times=1)
    started = _start(env)
    watcher.join(timeout=5)
    assert len(killed) == 1
    assert started.returncode == 0, started.stderr
    assert "the broker killed by SIGKILL from outside the JVM" in started.stderr
    assert "attempt 2 of 2" in started.stderr
    assert "[kafka] memory: MemTotal:" in started.stderr
    assert _ready(env)
    assert int((run_dir / "kafka.pid").read_text()) != killed[0]


def test_a_broker_that_dies_every_time_fails_the_start_with_its_end_as_the_last_line(run_dir: Path) -> None:
    env = _env(run_dir, KAFKA_START_ATTEMPTS="2")
    watcher, killed = _kill_each_broker(run_dir, times=2)
    started = _start(env)
    watcher.join(timeout=5)
    assert started.returncode == 1
    assert len(killed) == 2
    last_line = started.stderr.strip().splitlines()[-1]
    assert last_line == ("[kafka] ERROR: the broker killed by SIGKILL from outside the JVM (the kernel kills so when "
                         "memory runs out) while starting, 2 time(s); its logs are above")
    assert "[kafka] the broker wrote nothing to" in started.stderr  # killed before its first line
    assert "[kafka] memory: MemTotal:" in started.stderr
    assert not _ready(env)


def test_a_broker_not_ready_in_time_is_stopped_and_the_start_fails(run_dir: Path) -> None:
    env = _env(run_dir, KAFKA_START_TIMEOUT="0")
    started = _start(env)
    assert started.returncode == 1
    assert started.stderr.strip().splitlines()[-1] == (
        "[kafka] ERROR: the broker did not get ready within 0s (stopped it; its logs are above)")
    assert "[kafka] memory: MemTotal:" in started.stderr
    pid = int((run_dir / "kafka.pid").read_text())  # left by a failed start
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
