"""Running the real service for the tests: a PostgreSQL database of its own with the demo's
books (a small population, twelve months), the projections built, tokens of each role, and
``fund-ledger serve`` started as a process on a free port, reading with the finance role."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, as_role

FUND_LEDGER = [sys.executable, "-m", "cli.main"]
REGION, OTHER_REGION = "210100", "210200"
HEAVY_PERSON = "P000000"  # the demo's person with the year of repeat admissions
READY_WAIT_S = 60.0


@dataclass
class RunningService:
    url: str
    env: dict[str, str]  # the application role's settings for the command line
    tokens: dict[str, str]  # role (and "finance-other") -> bearer token
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=60)

    def as_role(self, role: str, path: str, **params: Any) -> httpx.Response:
        return self.get(path, self.tokens[role], **params)


def cli(env: dict[str, str], *argv: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*FUND_LEDGER, *argv], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"fund-ledger {' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def process_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment of a command line process on ``settings``' database."""
    keep = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "FUND_LEDGER_", "PERSISTENCE_"))}
    return {**keep, **settings, "PYTHONPATH": str(REPO)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load_books(env: dict[str, str]) -> None:
    cli(env, "demo", "--people", "60", "--employers", "5")
    cli(env, "project")


def issue_tokens(env: dict[str, str]) -> dict[str, str]:
    def create(*argv: str) -> str:
        return str(json.loads(cli(env, "token", "create", "--format", "json", *argv).stdout)["token"])

    return {
        "finance": create("--role", "finance", "--region", REGION, "--name", "Finance officer 沈阳"),
        "finance-other": create("--role", "finance", "--region", OTHER_REGION, "--name", "Finance officer 大连"),
        "auditor": create("--role", "auditor", "--name", "Auditor"),
        "admin": create("--role", "admin", "--name", "Administrator"),
    }


@contextmanager
def running_service(settings: dict[str, str], log_dir: Path) -> Iterator[RunningService]:
    """The service over ``settings``' database (books loaded, tokens issued), reading as finance."""
    env = process_env(settings)
    load_books(env)
    tokens = issue_tokens(env)
    finance = as_role(settings, "finance")
    serve_env = {**env, "FUND_LEDGER_READ_USER": finance["POSTGRES_USER"], "FUND_LEDGER_READ_PASSWORD": finance["POSTGRES_PASSWORD"]}
    port = free_port()
    log = log_dir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen([*FUND_LEDGER, "serve", "--port", str(port), "--log-format", "json"], env=serve_env, cwd=REPO,
                                   stdout=output, stderr=subprocess.STDOUT)
    service = RunningService(f"http://127.0.0.1:{port}", env, tokens, process, log)
    try:
        wait_ready(service)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def wait_ready(service: RunningService) -> None:
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"fund-ledger serve exited {service.process.returncode}:\n{service.log.read_text()}")
        try:
            if httpx.get(service.url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"fund-ledger serve not ready after {READY_WAIT_S} s:\n{service.log.read_text()}")
