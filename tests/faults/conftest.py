"""Fault-suite fixtures: a stack per scenario (the scenario table printed at the end is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_devstack.workers import temp_workdir
from tests.support.harness import Stack


@pytest.fixture
def stack(kafka: str, namespace: str) -> Iterator[Stack]:
    """A stack (not yet started) on the shared broker in this test's namespace; always torn down."""
    with temp_workdir("faults-") as work:
        s = Stack(work=Path(work), namespace=namespace, bootstrap=kafka)
        try:
            yield s
        finally:
            s.close_sync()
