"""`referral-bus trace`: rendering a trace, and a readable error when Jaeger is unreachable."""

from __future__ import annotations

import argparse

import pytest

from referral_cli.commands.trace import outcome, render


def _span(sid: str, parent: str | None, pid: str, name: str, start: int, tags: list[dict[str, object]]) -> dict:
    refs = [{"refType": "CHILD_OF", "traceID": "t1", "spanID": parent}] if parent else []
    return {
        "traceID": "t1",
        "spanID": sid,
        "operationName": name,
        "references": refs,
        "startTime": start,
        "duration": 2000,
        "processID": pid,
        "tags": tags,
    }


def test_render_prints_an_indented_tree_with_service_duration_and_outcome() -> None:
    trace = {
        "traceID": "t1",
        "processes": {"p1": {"serviceName": "referral-bus-cli"}, "p2": {"serviceName": "referral-bus-intake"}},
        "spans": [
            _span("c", "b", "p2", "intake validate", 3000, [{"key": "referral_bus.case_id", "value": "case-9"}]),
            _span("a", None, "p1", "referral-bus produce", 1000, [{"key": "referral_bus.report_id", "value": "R-9"}]),
            _span("b", "a", "p2", "x process", 2000, []),
            _span(
                "d",
                "b",
                "p2",
                "failing",
                4000,
                [{"key": "otel.status_code", "value": "ERROR"}, {"key": "error.type", "value": "invalid_field"}],
            ),
        ],
    }
    lines = render(trace)
    assert lines[0].startswith("trace t1 (report_id R-9, case_id case-9): 4 spans, 2 services")
    body = lines[1:]
    names = ["referral-bus produce", "x process", "intake validate", "failing"]
    columns = [line.index(name) for line, name in zip(body, names, strict=True)]
    indents = [c - columns[0] for c in columns]
    assert indents == [0, 2, 4, 4]
    assert "+0.0ms" in body[0] and "2.0ms" in body[0]
    assert body[3].endswith("[ERROR (invalid_field)]")
    assert outcome({"tags": [{"key": "http.response.status_code", "value": 200}]}) == "HTTP 200"


def test_trace_command_says_what_to_do_when_jaeger_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    from referral_cli.main import main
    from referral_devstack.jaeger import free_ports

    (port,) = free_ports(1)
    assert main(["trace", "HL111-2026-0001", "--jaeger", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach Jaeger" in err and "referral_devstack.jaeger start" in err


class _EmptyJaeger:
    """A Jaeger that holds spans of `services` but no trace of the id asked for."""

    services_seen: tuple[str, ...] = ()

    def __init__(self, base_url: str) -> None:
        pass

    def services(self) -> list[str]:
        return list(self.services_seen)

    def find(self, service: str, tags: dict[str, str], **kwargs: object) -> list[object]:
        return []

    def trace(self, trace_id: str) -> None:
        return None


@pytest.mark.parametrize(
    ("sampler", "ratio", "services", "said"),
    [
        ("parentbased_traceidratio", "0.1", ["referral-bus-intake"], "OTEL_TRACES_SAMPLER_ARG=0.1"),
        ("ParentBased_TraceIdRatio", "", ["referral-bus-intake"], "OTEL_TRACES_SAMPLER_ARG=1.0 (unset)"),
        (None, None, ["referral-bus-intake"], "parentbased_traceidratio"),  # the setting named among the causes
        ("parentbased_always_on", None, [], "OTEL_EXPORTER_OTLP_ENDPOINT"),  # nothing exported at all
    ],
    ids=["sampled here", "sampled, rate unset", "not sampled here", "nothing exported"],
)
def test_a_report_without_a_trace_gets_our_error_naming_what_to_check_without_the_id(
    sampler: str | None,
    ratio: str | None,
    services: list[str],
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from referral_cli.commands import trace as command
    from referral_cli.main import main
    from referral_devstack.errors import TraceNotFoundError

    for name, value in (("OTEL_TRACES_SAMPLER", sampler), ("OTEL_TRACES_SAMPLER_ARG", ratio)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(_EmptyJaeger, "services_seen", tuple(services))
    monkeypatch.setattr(command, "JaegerClient", _EmptyJaeger)
    with pytest.raises(TraceNotFoundError) as raised:
        command._run(argparse.Namespace(id="HL111-2026-0099", jaeger="http://127.0.0.1:1"))
    assert said in str(raised.value) and "HL111-2026-0099" not in str(raised.value)
    if sampler and "ratio" in sampler.lower():
        assert "not sampled" in str(raised.value) and "OTEL_TRACES_SAMPLER=parentbased_traceidratio" in str(
            raised.value
        )
    assert main(["trace", "HL111-2026-0099", "--jaeger", "http://127.0.0.1:1"]) == 1
    assert capsys.readouterr().err.strip() == f"referral-bus: {raised.value}"
