"""`make run` in a terminal: stays up after the table, and Ctrl-C or SIGTERM stops every process it
started, its own broker and Jaeger included (a private broker here, never the shared one)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from referral_devstack import broker
from referral_devstack.jaeger import BINARY, JaegerClient
from referral_devstack.workers import free_port_pair
from tests.support.harness import FULL
from tests.support.runs import DemoRun, private_jaeger, wrapped

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


@pytest.mark.skipif(not FULL, reason="full fault suite: FAULTS_FULL=1 (make faults)")
@pytest.mark.timeout(900)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_in_a_terminal_it_stays_up_until_stopped_then_leaves_nothing(tmp_path: Path, sig: int) -> None:
    if not BINARY.exists():
        pytest.skip("Jaeger not built: `make jaeger`")
    port = free_port_pair()
    jaeger_env, query = private_jaeger()
    bootstrap = f"127.0.0.1:{port}"
    demo = DemoRun(
        {
            "REFERRAL_BUS_BROKER_PORT": str(port),
            "REFERRAL_BUS_BROKER_DIR": str(tmp_path / "kafka"),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            **jaeger_env,
        },
        tty=True,
    )
    demo.start()
    try:
        assert demo.wait_for_text("Ctrl-C stops what make run started", timeout=600), demo.text
        assert demo.text.index("expected referrals delivered") < demo.text.index("weekly statistics (anonymised")
        assert "broker started on" in demo.text and "Jaeger started" in demo.text
        assert demo.proc is not None and demo.proc.poll() is None  # still up after the table
        assert broker.answers(bootstrap) and JaegerClient(f"http://127.0.0.1:{query}").alive()
        demo.signal(sig)
        code = demo.wait(timeout=180)
    finally:
        demo.kill()
    assert code == 130, demo.text
    assert "stopped broker" in demo.text and "stopped Jaeger" in demo.text
    assert demo.leftovers() == set(), demo.text
    assert not broker.answers(bootstrap, timeout=2.0)
    assert not JaegerClient(f"http://127.0.0.1:{query}").alive()


@pytest.mark.skipif(not FULL, reason="full fault suite: FAULTS_FULL=1 (make faults)")
@pytest.mark.timeout(900)
def test_make_test_wrapper_stops_the_broker_it_started(tmp_path: Path) -> None:
    """`make test` on a machine where no broker ran: afterwards none runs (a private port and directory here)."""
    port = free_port_pair()
    bootstrap = f"127.0.0.1:{port}"
    env = {
        "REFERRAL_BUS_BROKER_PORT": str(port),
        "REFERRAL_BUS_BROKER_DIR": str(tmp_path / "kafka"),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
    }
    done = wrapped(f"from referral_devstack import broker; assert broker.answers({bootstrap!r})", env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broker started on" in done.stdout and "stopped broker" in done.stdout
    assert not broker.answers(bootstrap, timeout=2.0)
