"""Confluent framing without a registry: parse/encode of the header, settings, and the failure reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_bus.codec import (
    CONFLUENT_HEADER_SIZE,
    HEADER_SIZE,
    MAGIC,
    Codec,
    confluent_frame,
    confluent_id,
    subject_for,
)
from referral_bus.errors import (
    ConfigurationError,
    RegistryUnavailableError,
    UndecodableError,
    UnknownSchemaError,
)
from referral_bus.schema_registry import RegistryConfig, SchemaRegistry, config_from_settings
from referral_bus.settings import SchemaRegistrySettings
from referral_devstack.workers import free_port
from tests.support.reports import valid_report

SECRET = "s3cret-Pa55"


@pytest.fixture(autouse=True)
def _no_registry_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("URL", "USERNAME", "PASSWORD", "PASSWORD_FILE"):
        monkeypatch.delenv(f"KAFKA_SCHEMA_REGISTRY_{var}", raising=False)


def dead_registry() -> SchemaRegistry:
    url = f"http://127.0.0.1:{free_port()}/apis/ccompat/v6"  # a port nothing listens on
    return SchemaRegistry(RegistryConfig(url, "agency", SECRET, timeout_seconds=1.0, max_retries=1, retry_wait_ms=1))


def test_frame_is_magic_zero_then_big_endian_id() -> None:
    framed = confluent_frame(0x01020304, b"body")
    assert framed == b"\x00\x01\x02\x03\x04body"
    assert confluent_id(framed) == 0x01020304
    assert confluent_id(confluent_frame(2**32 - 1, b"")) == 2**32 - 1
    assert CONFLUENT_HEADER_SIZE == 5
    with pytest.raises(ValueError):
        confluent_frame(2**32, b"")
    with pytest.raises(ValueError):
        confluent_frame(-1, b"")


def test_single_object_is_not_confluent() -> None:
    data = Codec(schema_registry=None).encode("CaseReport", valid_report())
    assert data[:2] == MAGIC and confluent_id(data) is None


@pytest.mark.parametrize("value", [b"\x00", b"\x00\x00\x00\x01"], ids=["magic-only", "short-id"])
def test_a_short_confluent_header_is_undecodable(value: bytes) -> None:
    with pytest.raises(UndecodableError, match="4-byte schema id"):
        Codec(schema_registry=None).decode(value, "CaseReport")


def test_confluent_framed_without_a_registry_is_unknown_schema_and_says_what_to_do() -> None:
    codec = Codec()  # nothing configured in the environment
    assert codec.schema_registry is None
    body = codec.encode("CaseReport", valid_report())[HEADER_SIZE:]
    with pytest.raises(UnknownSchemaError) as exc:
        codec.decode(confluent_frame(42, body), "CaseReport")
    message = str(exc.value)
    assert exc.value.reason == "unknown_schema"
    assert "Confluent-framed" in message and "schema id 42" in message
    assert "no schema registry is configured" in message and "KAFKA_SCHEMA_REGISTRY_URL" in message


def test_without_a_registry_encoding_stays_single_object() -> None:
    codec = Codec()
    assert codec.encode("Case", _case(codec))[:2] == MAGIC


async def test_prefetch_without_a_registry_is_a_no_op() -> None:
    await Codec(schema_registry=None).prefetch(confluent_frame(7, b""), encodes=("Case",))


def test_subjects_follow_the_record_name_strategy() -> None:
    codec = Codec(schema_registry=None)
    assert subject_for(codec.schema("CaseReport")) == "org.referralbus.v1.CaseReport"


def test_an_unreachable_registry_is_registry_unavailable_without_secrets() -> None:
    codec = Codec(schema_registry=dead_registry())
    body = Codec(schema_registry=None).encode("CaseReport", valid_report())[HEADER_SIZE:]
    with pytest.raises(RegistryUnavailableError) as exc:
        codec.decode(confluent_frame(1, body), "CaseReport")
    assert exc.value.reason == "registry_unavailable"
    assert SECRET not in str(exc.value) and "agency" not in str(exc.value)
    with pytest.raises(RegistryUnavailableError):
        codec.encode("CaseReport", valid_report())


async def test_prefetch_raises_what_decode_would() -> None:
    codec = Codec(schema_registry=dead_registry())
    with pytest.raises(RegistryUnavailableError):
        await codec.prefetch(confluent_frame(1, b""))


def test_dead_letters_stay_single_object_so_they_survive_a_registry_outage() -> None:
    codec = Codec(schema_registry=dead_registry())
    letter = {f["name"]: _blank(f["type"]) for f in codec.schema("DeadLetter").parsed["fields"]}
    data = codec.encode("DeadLetter", letter)
    assert data[:2] == MAGIC
    assert codec.decode(data, "DeadLetter")["reason"] == letter["reason"]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert config_from_settings() is None
    secret_file = tmp_path / "password"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.setenv("KAFKA_SCHEMA_REGISTRY_URL", "https://registry.example:8081")
    monkeypatch.setenv("KAFKA_SCHEMA_REGISTRY_USERNAME", "agency")
    monkeypatch.setenv("KAFKA_SCHEMA_REGISTRY_PASSWORD_FILE", str(secret_file))
    config = config_from_settings()
    assert config is not None
    assert config.password == SECRET and SECRET not in repr(config)
    assert config.client_conf()["basic.auth.user.info"] == f"agency:{SECRET}"
    assert config.where == "https://registry.example:8081"
    assert Codec().schema_registry is not None  # the codec takes the registry from the environment


def test_config_carries_every_registry_setting() -> None:
    settings = SchemaRegistrySettings(
        url="http://127.0.0.1:8081",
        timeout_seconds=1.5,
        max_retries=7,
        retry_wait_ms=11,
        retry_max_wait_ms=13,
        negative_cache_seconds=17.0,
    )
    expected = RegistryConfig("http://127.0.0.1:8081", None, None, 1.5, 7, 11, 13, 17.0)
    assert config_from_settings(settings) == expected


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (SchemaRegistrySettings(url="http://agency:pw@127.0.0.1:8081"), "must not carry credentials"),
        (SchemaRegistrySettings(url="127.0.0.1:8081"), r"http\(s\) URL"),
        (SchemaRegistrySettings(url="http://127.0.0.1:8081", password=SECRET), "USERNAME is not"),
        (
            SchemaRegistrySettings(
                url="http://127.0.0.1:8081", username="a", password=SECRET, password_file=Path("/nonexistent")
            ),
            "not both",
        ),
        (
            SchemaRegistrySettings(url="http://127.0.0.1:8081", username="a", password_file=Path("/nonexistent")),
            "cannot read",
        ),
    ],
)
def test_bad_settings_are_refused_by_name(settings: SchemaRegistrySettings, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as exc:
        config_from_settings(settings)
    assert SECRET not in str(exc.value) and ":pw@" not in str(exc.value)


def _case(codec: Codec) -> dict[str, object]:
    report = valid_report()
    report["received_at"] = report.get("received_at") or 1
    return {"case_id": "case-1", "accepted_at": 1, "report": report, "linked_reports": [], "is_update": False}


def _blank(t: object) -> object:
    if isinstance(t, list):
        return None
    if t in ("long", "int"):
        return 0
    if t == "bytes":
        return b""
    if isinstance(t, dict) and t.get("type") == "enum":
        return t["symbols"][0]
    if isinstance(t, dict) and t.get("type") == "array":
        return []
    if isinstance(t, dict) and t.get("type") == "map":
        return {}
    return "x"
