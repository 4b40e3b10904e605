"""Fault-suite fixtures: a stack per scenario, and the scenario table printed at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_bus.settings import REPO_ROOT
from referral_devstack.workers import temp_workdir
from tests.support.harness import RESULTS, Stack, table

TABLE_FILE = REPO_ROOT / ".local" / "faults" / "last-table.txt"


@pytest.fixture
def stack(kafka: str, namespace: str) -> Iterator[Stack]:
    """A stack (not yet started) on the shared broker in this test's namespace; always torn down."""
    with temp_workdir("faults-") as work:
        s = Stack(work=Path(work), namespace=namespace, bootstrap=kafka)
        try:
            yield s
        finally:
            s.close_sync()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the books of every scenario that ran, and keep them in .local/faults/last-table.txt."""
    if not RESULTS:
        return
    text = table(RESULTS)
    terminalreporter.write_sep("=", "fault scenarios")
    terminalreporter.write_line(text)
    TABLE_FILE.parent.mkdir(parents=True, exist_ok=True)
    TABLE_FILE.write_text(text + "\n", encoding="utf-8")
