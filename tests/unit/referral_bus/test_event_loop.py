"""EVENT_LOOP: which loop a process runs on (referral_bus/event_loop.py), and the worker command it gives."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

import pytest
from pydantic import ValidationError

from bench.stacks import Tuning
from referral_bus import event_loop
from referral_bus.errors import ConfigurationError
from referral_bus.settings import EventLoopSettings
from referral_devstack.workers import worker_command


def test_asyncio_is_the_default_and_uvloop_the_alternative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENT_LOOP", raising=False)
    assert event_loop.chosen() == "asyncio"
    monkeypatch.setenv("EVENT_LOOP", "uvloop")
    assert event_loop.chosen() == "uvloop"


def test_an_unknown_loop_is_refused_naming_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_LOOP", "aio")  # Faust's name, not ours
    with pytest.raises(ValidationError, match="'uvloop' or 'asyncio'"):
        EventLoopSettings()


def test_uvloop_asked_for_but_not_installed_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a))
    with pytest.raises(ConfigurationError, match="EVENT_LOOP=asyncio"):
        event_loop.chosen(EventLoopSettings(event_loop="uvloop"))
    assert event_loop.chosen(EventLoopSettings(event_loop="asyncio")) == "asyncio"  # asyncio needs nothing more


@pytest.mark.parametrize("name", ["uvloop", "asyncio"])
def test_run_runs_the_coroutine_on_the_loop_named(name: str) -> None:
    async def which() -> str:
        return event_loop.kind(asyncio.get_running_loop())

    assert event_loop.run(which(), name) == name


@pytest.mark.parametrize(("name", "faust"), [("uvloop", "uvloop"), ("asyncio", "aio")])
def test_the_worker_command_asks_faust_for_the_loop_of_its_environment(
    name: str, faust: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_LOOP", "uvloop" if name == "asyncio" else "asyncio")  # ours differs: the child's wins
    cmd = worker_command("services.intake.app", env={"EVENT_LOOP": name})
    assert cmd[:5] == [sys.executable, "-m", "faust", "--loop", faust] and cmd[5:7] == ["-A", "services.intake.app"]
    monkeypatch.setenv("EVENT_LOOP", name)
    assert worker_command("services.intake.app", env={})[3:5] == ["--loop", faust]  # none given: ours


@pytest.mark.parametrize("name", ["uvloop", "asyncio"])
def test_the_bench_runs_every_stack_on_the_one_loop_of_the_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_LOOP", name)
    tuning = Tuning()
    assert tuning.event_loop == name
    assert tuning.service_env()["EVENT_LOOP"] == tuning.baseline_env()["EVENT_LOOP"] == name


def test_a_worker_names_no_consumer_loop_before_its_consumer_thread_runs() -> None:
    async def loops() -> dict[str, str]:
        return event_loop.running(object())

    assert event_loop.run(loops(), "asyncio") == {"main": "asyncio", "consumer": "none"}
