"""Partner Kafka channel: the referral produced in Avro to `referrals.partner.<recipient>.v1`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from referral_bus.codec import Codec
from referral_bus.contracts import contracts
from referral_bus.directory import Recipient

Send = Callable[[str, bytes, bytes], Awaitable[None]]  # (recipient id, key, value)


def _withheld(schema: Any) -> Any:
    """The value that stands for a withheld field: null where allowed, else the type's empty value."""
    if isinstance(schema, list):
        return None if "null" in schema else _withheld(schema[0])
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "enum":
            return schema.get("default", schema["symbols"][0])
        if kind == "array":
            return []
        if kind == "record":
            return {f["name"]: _withheld(f["type"]) for f in schema["fields"]}
        return _withheld(kind)
    return {"string": "[withheld]", "boolean": False, "long": 0, "int": 0, "bytes": b"", "null": None}.get(schema)


def fit_schema(schema: dict[str, Any], redacted: dict[str, Any]) -> dict[str, Any]:
    """A record of `schema` holding the redacted values; every field the profile removed is withheld."""
    out: dict[str, Any] = {}
    for f in schema["fields"]:
        name, ftype = f["name"], f["type"]
        if name not in redacted:
            out[name] = _withheld(ftype)
        elif isinstance(ftype, dict) and ftype.get("type") == "record" and isinstance(redacted[name], dict):
            out[name] = fit_schema(ftype, redacted[name])
        else:
            out[name] = redacted[name]
    return out


class PartnerTopic:
    """Produces each referral, redacted to the recipient's profile, to the recipient's own topic."""

    name = "kafka"

    def __init__(self, codec: Codec, send: Send) -> None:
        self.codec = codec
        self.send = send
        self._case_schema = contracts().current["Case"].expanded

    async def deliver(self, recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any]) -> None:
        """Encode as a Referral whose case carries only what the profile allows."""
        record = dict(referral)
        record["case"] = fit_schema(self._case_schema, doc["case"])
        record["last_error"] = None
        value = self.codec.encode("Referral", record)
        await self.send(recipient.id, referral["case_id"].encode(), value)

    async def close(self) -> None:
        """Nothing to release: the Faust producer belongs to the app."""
