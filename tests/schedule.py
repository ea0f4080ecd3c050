"""Test files longest first, so the two workers of scripts/test.sh (`-n 2 --dist loadfile --no-loadscope-reorder`)
finish together instead of one of them running the last long file alone.

tests/durations.json holds each file's seconds (setup, call and teardown of its tests) from a whole run on 2 workers;
`bash scripts/test.sh --store-durations` records the files that ran again. A file it does not name runs after the
ones it names, so a stale record costs balance, never a test.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).resolve().parent / "durations.json"
_seconds: dict[str, float] = defaultdict(float)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store-durations", action="store_true",
                     help=f"write each test file's seconds to {DURATIONS.name} (the order test files start in)")


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def recorded() -> dict[str, float]:
    return json.loads(DURATIONS.read_text(encoding="utf-8")) if DURATIONS.exists() else {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds = recorded()
    items.sort(key=lambda item: -seconds.get(file_of(item.nodeid), 0.0))  # stable: a file's tests keep their order


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[file_of(report.nodeid)] += report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("--store-durations") or hasattr(session.config, "workerinput"):
        return  # only the process that saw every report (xdist's controller, or a run without workers) writes
    files = recorded()
    files.update({name: round(seconds, 1) for name, seconds in _seconds.items()})  # the files that ran
    ordered = dict(sorted(files.items(), key=lambda kv: -kv[1]))
    DURATIONS.write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
