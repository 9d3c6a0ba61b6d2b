"""The demo, run as a user would: ``fund-ledger demo`` on a fresh SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fen_of(yuan: str) -> int:
    """'-1,234.56' -> -123456."""
    sign = -1 if yuan.startswith("-") else 1
    whole, _, fen = yuan.lstrip("-").replace(",", "").partition(".")
    return sign * (int(whole) * 100 + int(fen))


def test_the_demo_prints_a_balanced_trial_balance(tmp_path: Path) -> None:
    store = tmp_path / "demo.sqlite"
    env = {name: value for name, value in os.environ.items() if name != "PERSISTENCE_MODULE" and not name.startswith("POSTGRES_")}
    env.update({"FUND_LEDGER_SQLITE": str(store), "PYTHONPATH": str(REPO)})
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--people", "300", "--employers", "10", "--months", "3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout
    assert "NOT BALANCED" not in output
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("Trial balance"))
    end = next(index for index in range(start, len(lines)) if lines[index].strip().startswith("total"))
    total_line = lines[end]
    assert total_line.rstrip().endswith("(balanced)"), total_line
    assert fen_of(total_line.split()[1]) == 0
    # the printed account lines themselves add up to zero, and money actually moved
    amounts = [fen_of(line.split()[-1]) for line in lines[start + 1:end] if line.strip()]
    assert len(amounts) >= 4
    assert sum(amounts) == 0
    assert any(amount != 0 for amount in amounts)
    assert store.exists()
