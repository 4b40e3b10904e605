"""`make test`'s wrapper (python -m referral_devstack.lifecycle): it stops the schema registry a test started and
leaves alone the broker that was already running (here the shared one). Stopping a broker it started
itself is in tests/faults/test_run_lifecycle.py (make faults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_devstack import apicurio, broker
from referral_devstack.jaeger import free_ports
from tests.support.runs import wrapped

pytestmark = [pytest.mark.kafka]


@pytest.mark.timeout(600)
def test_stops_the_registry_a_test_started_and_leaves_the_running_broker(kafka: str, tmp_path: Path) -> None:
    (registry_port,) = free_ports(1)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "REFERRAL_BUS_REGISTRY_PORT": str(registry_port),
        "REFERRAL_BUS_REGISTRY_DIR": str(tmp_path / "registry"),
    }
    # the inner command plays a test session that needed the registry and started it
    done = wrapped("from referral_devstack import apicurio; print(apicurio.start())", env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(left running at the end)" in done.stdout and "schema registry started" in done.stdout
    assert "stopped schema registry" in done.stdout and "stopped broker" not in done.stdout
    assert not apicurio.answers(apicurio.LocalRegistry(port=registry_port).url)
    assert broker.answers(kafka)


def test_passes_the_exit_code_on(kafka: str) -> None:
    done = wrapped("raise SystemExit(3)", {"KAFKA_BOOTSTRAP_SERVERS": kafka})
    assert done.returncode == 3, done.stderr
