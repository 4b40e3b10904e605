"""A process started on a free port whose port another process took before it bound starts again on a fresh one
(referral_devstack/workers.py `spawn_on_free_port`, the probes' and the bench baselines' way)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from referral_devstack import workers
from referral_devstack.processes import stop_session

SERVE = "import http.server, sys; http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), None).serve_forever()"


def test_a_process_whose_port_was_taken_starts_again_on_a_fresh_one(
    taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks, real = iter([taken_port]), workers.free_port
    monkeypatch.setattr(workers, "free_port", lambda: next(picks, None) or real())
    log = tmp_path / "server.log"
    proc, port = workers.spawn_on_free_port(lambda p: ([sys.executable, "-c", SERVE, str(p)], {}), log, timeout=60)
    try:
        assert port != taken_port and proc.poll() is None
        assert workers.listening_ports(proc.pid) == {port}
        assert workers.PORT_TAKEN in log.read_bytes().lower()  # the first start did fail on the taken port
    finally:
        stop_session(proc, timeout=10)
    assert workers.listening_ports(proc.pid) == set()  # gone: listens on nothing


def test_a_port_taken_every_time_is_an_error_not_a_loop(
    taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "free_port", lambda: taken_port)
    with pytest.raises(RuntimeError, match="taken before it bound"):
        workers.spawn_on_free_port(lambda p: ([sys.executable, "-c", SERVE, str(p)], {}), tmp_path / "log", timeout=60)


def test_a_process_that_exits_for_another_reason_is_returned_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    proc, _ = workers.spawn_on_free_port(lambda p: ([sys.executable, "-c", "raise SystemExit(3)"], {}), log)
    assert proc.wait(timeout=30) == 3
