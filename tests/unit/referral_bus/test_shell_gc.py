"""Once a worker is ready, start-up objects are frozen and the youngest GC generation is collected less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from referral_bus.shell import GC_YOUNG_THRESHOLD, Service


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


async def test_ready_worker_freezes_and_raises_only_the_young_threshold(thresholds: None) -> None:
    gc.set_threshold(700, 11, 12)
    worker = SimpleNamespace(not_ready_reasons=lambda: [])
    await Service._freeze_startup_objects(worker)  # type: ignore[arg-type]  # only its readiness is used
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 11, 12)
    assert gc.get_freeze_count() > 0
    assert GC_YOUNG_THRESHOLD > 700, "fewer young collections than Python's default"
