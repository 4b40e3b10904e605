"""Fixtures of the end-to-end tests: a real Jaeger v2 for each module that asks for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from referral_devstack.jaeger import Jaeger
from tests.support.tracing import running_jaeger


@pytest.fixture(scope="module")
def jaeger() -> Iterator[Jaeger]:
    """A real Jaeger v2 of the module's own (OTLP/HTTP and OTLP/gRPC on free ports), stopped after it."""
    yield from running_jaeger()
