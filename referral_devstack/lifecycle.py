"""Start what a command needs, remember what it started, and stop only that: what ran before is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from referral_devstack import apicurio, broker


def step(what: str) -> float:
    """Print one set-up step (flushed, so a pipe or terminal sees it at once); return its start time."""
    print(f"==> {what}", flush=True)
    return time.monotonic()


class Started:
    """The local services a command started, stopped in reverse order by `stop_all`."""

    def __init__(self) -> None:
        self._stops: list[tuple[str, Callable[[], str | None]]] = []

    @property
    def names(self) -> list[str]:
        """What was started, in order."""
        return [name for name, _ in self._stops]

    def add(self, name: str, stop: Callable[[], str | None]) -> None:
        """Remember one thing to stop at the end."""
        self._stops.append((name, stop))

    def broker(self) -> str:
        """The local broker: started unless one already answers (or KAFKA_BOOTSTRAP_SERVERS points elsewhere)."""
        local = broker.LocalBroker()
        if broker.external_bootstrap(local):
            return broker.start(local)
        if broker.answers(local.bootstrap, timeout=2.0):
            return broker.start(local) + " (left running at the end)"
        message = broker.start(local)
        self.add("broker", lambda: broker.stop(local))
        return message

    def jaeger(self) -> str:
        """The development Jaeger for traces: started unless one answers or OTEL_* points elsewhere."""
        from referral_devstack import jaeger

        message, started = jaeger.enable_local_tracing()
        if started is not None:
            instance = started
            pid = instance.proc.pid if instance.proc is not None else None

            def stop() -> str:
                instance.stop()
                return f"pid {pid}"

            self.add("Jaeger", stop)
        return message

    def registry_if_started(self, was_running: bool) -> None:
        """Stop the local schema registry at the end when it answers now but did not before (a test started it)."""
        if not was_running and apicurio.status()[0]:
            self.add("schema registry", apicurio.stop)

    def stop_all(self) -> None:
        """Stop everything started, last first; say so for each."""
        while self._stops:
            name, stop = self._stops.pop()
            try:
                note = stop()
                print(f"stopped {name}" + (f": {note}" if note else ""), flush=True)
            except Exception as exc:  # noqa: BLE001 - stopping the rest matters more than one failure
                print(f"could not stop {name}: {exc}", file=sys.stderr)


def run_guarded(command: Sequence[str]) -> int:
    """Run `command` with the local broker up; afterwards stop the broker and registry only if it started them."""
    started = Started()
    registry_before = apicurio.status()[0]
    try:
        step("local Kafka broker (first time: resolves Apache Kafka from Maven Central, about 1 min)")
        print(started.broker(), flush=True)
        return subprocess.call(list(command), env=os.environ.copy())
    finally:
        started.registry_if_started(registry_before)
        started.stop_all()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m referral_devstack.lifecycle -- COMMAND...` (used by `make test`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print("usage: python -m referral_devstack.lifecycle -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    return run_guarded(args)


if __name__ == "__main__":
    sys.exit(main())
