"""A small supervisor for the service's processes: the Kafka consumer, the live projector and the
HTTP service. Each runs as a child; one that exits is started again after a growing delay
(1 s, doubling to 30 s; reset after a minute of running). SIGTERM or SIGINT stops every child
(SIGTERM, then SIGKILL after 15 s) and then the supervisor.

    python deploy/service/supervise.py --log-dir DIR NAME=COMMAND ...

Under systemd or in containers, each process is its own unit or container and the platform
restarts it (see deploy/service/README.md); this is for ``make serve`` on one machine.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

FIRST_DELAY_S, MAX_DELAY_S, STEADY_S, STOP_GRACE_S = 1.0, 30.0, 60.0, 15.0


@dataclass
class Child:
    name: str
    argv: list[str]
    log: IO[bytes]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay_s: float = FIRST_DELAY_S
    restarts: int = 0
    due_at: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started_at = time.monotonic()
        say(f"{self.name}: started (pid {self.process.pid}): {shlex.join(self.argv)}")

    def check(self, now: float) -> None:
        """Start it again if it has exited and its delay is over."""
        if self.process is not None and self.process.poll() is None:
            if now - self.started_at > STEADY_S:
                self.delay_s = FIRST_DELAY_S
            return
        if self.process is not None:
            say(f"{self.name}: exited with {self.process.returncode}; starting again in {self.delay_s:.0f} s")
            self.process, self.due_at = None, now + self.delay_s
            self.delay_s = min(self.delay_s * 2, MAX_DELAY_S)
            self.restarts += 1
        if now >= self.due_at:
            self.start()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_GRACE_S)
        say(f"{self.name}: stopped")


def say(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} supervise: {text}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("children", nargs="+", help="NAME=COMMAND (a shell-quoted command line)")
    args = parser.parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    children = []
    for spec in args.children:
        name, _, command = spec.partition("=")
        children.append(Child(name, shlex.split(command), (args.log_dir / f"{name}.log").open("ab")))
    stopping = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stopping.set())
    while not stopping.is_set():
        now = time.monotonic()
        for child in children:
            child.check(now)
        stopping.wait(0.5)
    for child in children:
        child.stop()
    say("all stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
