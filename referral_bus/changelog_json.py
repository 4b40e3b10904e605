"""A changelog record's key and value in Faust's JSON, written by one encoder built once: Faust's very bytes.

Faust serialises each changelog key and value through the topic, its schema, the serializer registry and the
"json" codec, whose `faust.utils.json.dumps` builds a new `JSONEncoder(separators=(",", ":"))` for every call
(~1.7 µs a key, ~4 µs a value). For a key or value whose exact type is a plain JSON one (dict, list, str, int,
float, bool; None as a value only: a None key is no bytes at all) under the "json" serializer, that chain ends in
`encoder.encode(value)` UTF-8 encoded, whatever the value holds (Faust's `default` for nested UUIDs, dates, …),
so one such encoder, built once and stateless between calls, writes the same bytes or raises the same error.
Anything else takes Faust's own path: another serializer ("raw" tombstones), bytes, a Faust model or another
mapping type, and a Faust whose chain is not the stock one (orjson or simplejson in place of `json`, a "json"
codec replaced by an extension, a topic, schema or registry class of its own).
"""

from __future__ import annotations

import json
from typing import Any

from faust.channels import SerializedChannel
from faust.serializers import codecs
from faust.serializers.registry import Registry
from faust.serializers.schemas import Schema
from faust.utils import json as faust_json

from referral_bus.packed import encoded, unpack

PLAIN_VALUES = frozenset({dict, list, str, int, float, bool, type(None)})
PLAIN_KEYS = PLAIN_VALUES - {type(None)}  # Faust's prepare_key turns a None key into no bytes, not b"null"


def _stock_json() -> bool:
    """Faust's "json" codec is its own over the standard library's `json` (what `faust.utils.json.dumps` assumes)."""
    codec = codecs.get_codec("json")
    return (
        getattr(faust_json, "orjson", None) is None
        and issubclass(faust_json.JSONEncoder, json.JSONEncoder)  # not simplejson's (its dumps passes more options)
        and type(codec) is codecs.json
        and len(codec.nodes) == 1
    )


class ChangelogJson:
    """One changelog topic's keys and values as Faust serialises them, plain JSON ones without Faust's chain."""

    def __init__(self, topic: Any) -> None:
        self.topic = topic
        plain = (
            _stock_json()
            and type(topic).prepare_key is SerializedChannel.prepare_key
            and type(topic).prepare_value is SerializedChannel.prepare_value
            and type(topic.schema) is Schema
            and type(topic.app.serializers) is Registry
        )
        # what faust.utils.json.dumps builds per call: json.dumps(obj, cls=JSONEncoder, separators=(",", ":"))
        self.encoder = faust_json.JSONEncoder(separators=(",", ":")) if plain else None

    def key(self, key: Any, serializer: Any) -> Any:
        """The key's bytes, as `topic.prepare_key(key, serializer)` gives them."""
        if self.encoder is not None and serializer == "json" and type(key) in PLAIN_KEYS:
            return self.encoder.encode(key).encode()
        return self.topic.prepare_key(key, serializer)[0]

    def value(self, value: Any, serializer: Any, packed: frozenset[str] = frozenset()) -> Any:
        """The value's bytes, as `topic.prepare_value(unpack(value, packed), serializer)` gives them.

        A dict's `packed` fields (packed.py) are set in place as their text when the encoder is ours.
        """
        if self.encoder is not None and serializer == "json" and type(value) in PLAIN_VALUES:
            if packed and type(value) is dict:
                return encoded(self.encoder.encode, value, packed).encode()
            return self.encoder.encode(value).encode()
        return self.topic.prepare_value(unpack(value, packed) if packed else value, serializer)[0]
