"""The event loop a process runs on (`EVENT_LOOP`: uvloop or asyncio) and which loops a worker runs."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from referral_bus.errors import ConfigurationError
from referral_bus.settings import EventLoopSettings

T = TypeVar("T")
FAUST_NAMES = {"uvloop": "uvloop", "asyncio": "aio"}  # EVENT_LOOP → Faust's `--loop` choice


def chosen(settings: EventLoopSettings | None = None) -> str:
    """The loop EVENT_LOOP names, once checked that this Python can run it."""
    name = (settings or EventLoopSettings()).event_loop
    if name == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigurationError(
            "EVENT_LOOP=uvloop but uvloop is not installed in this Python: install the project's dependencies "
            "(`make install`, or pip install 'uvloop>=0.21') or set EVENT_LOOP=asyncio"
        )
    return name


def settings_in(env: Mapping[str, str] | None) -> EventLoopSettings:
    """EVENT_LOOP as `env` (a child process's environment) sets it, else as this process's own."""
    if env is not None and "EVENT_LOOP" in env:
        return EventLoopSettings.model_validate({"event_loop": env["EVENT_LOOP"]})
    return EventLoopSettings()


def faust_option(name: str) -> list[str]:
    """The `faust` command-line option that runs a worker (and its consumer thread) on loop `name`."""
    return ["--loop", FAUST_NAMES[name]]


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes a new loop `name` (None: asyncio's default, as `asyncio.run` makes it)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def run(main: Coroutine[Any, Any, T], name: str | None = None) -> T:
    """`asyncio.run(main)` on loop `name` (default: EVENT_LOOP's)."""
    with asyncio.Runner(loop_factory=loop_factory(name or chosen())) as runner:
        return runner.run(main)


def kind(loop: asyncio.AbstractEventLoop | None) -> str:
    """`uvloop` or `asyncio` (the top package of the loop's class); `none` without a loop."""
    return "none" if loop is None else type(loop).__module__.split(".")[0]


def running(consumer: object) -> dict[str, str]:
    """The kinds of this thread's running loop and of the Faust consumer thread's loop (/healthz)."""
    thread = getattr(consumer, "_thread", None)
    return {"main": kind(asyncio.get_running_loop()), "consumer": kind(getattr(thread, "thread_loop", None))}
