"""benchmarks/sweep.py's storage part runs and prints both storages side by side (the trial parts train, so
they run only by hand)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_storage_part_compares_journal_and_sqlite_under_two_agents():
    result = subprocess.run([sys.executable, "benchmarks/sweep.py", "--parts", "storage", "--storage-trials", "5"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith(("journal", "sqlite"))}
    assert rows["journal"][1] == rows["sqlite"][1] == "10" and rows["journal"][2] == rows["sqlite"][2] == "0"
    assert rows["journal"][-1] == "no" and rows["sqlite"][-1] == "yes"  # heartbeats
