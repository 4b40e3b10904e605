"""Every worker's Faust app takes Faust's opt-in Cython fast paths (bench/results/fcon.md)."""

from __future__ import annotations

from pathlib import Path

from faust.utils.optin import cython_optimizations_enabled

from referral_bus.settings import ServiceSettings
from referral_bus.shell import Service


def test_streams_take_buffered_events_without_awaiting_the_channel(tmp_path: Path) -> None:
    """With the setting on, Faust's StreamIterator takes an event already in the buffer with get_nowait."""
    service = Service("fast-path-probe", ServiceSettings(data_dir=tmp_path))
    assert cython_optimizations_enabled(service.app.conf)
