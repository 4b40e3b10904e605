"""Dead letters always fit the broker's limit (`fit` cuts the original as little as needed, with digests);
their bytes-free copy keeps the reason and the digest only."""

from __future__ import annotations

import functools
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus.codec import Codec
from referral_bus.deadletter import HEADROOM_BYTES, MAX_KEY_BYTES, budget, dead_letter, fit, letter_key, without_bytes
from referral_bus.errors import InvalidFieldError, UndecodableError
from referral_bus.message import SourceMessage

CODEC = Codec(schema_registry=None)
ENCODE = functools.partial(CODEC.encode, "DeadLetter")


def source(key: bytes | None, value: bytes | None, headers: tuple[tuple[str, bytes | None], ...] = ()) -> SourceMessage:
    return SourceMessage("t.referrals.intake.v1", 3, 1234, key, value, headers)


def letter(src: SourceMessage) -> dict[str, object]:
    return dead_letter(src, "intake", UndecodableError("not Avro"))


sizes = st.integers(min_value=0, max_value=40_000)


@settings(max_examples=150, deadline=None)
@given(
    key_size=st.one_of(st.none(), sizes),
    value_size=st.one_of(st.none(), sizes),
    header_sizes=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 20_000)), max_size=6),
    limit=st.integers(min_value=2_000, max_value=60_000),
    byte=st.binary(min_size=1, max_size=1),
)
def test_every_dead_letter_fits_and_a_cut_is_recorded_with_its_digest(
    key_size: int | None, value_size: int | None, header_sizes: list[tuple[int, int]], limit: int, byte: bytes
) -> None:
    key = None if key_size is None else bytes(range(256)) * (key_size // 256) + byte * (key_size % 256)
    value = None if value_size is None else byte * value_size
    headers = tuple((f"h{i}-" + "k" * k, byte * v) for i, (k, v) in enumerate(header_sizes))
    record = letter(source(key, value, headers))
    whole = ENCODE(record)
    fitted, encoded = fit(record, ENCODE, limit)
    assert len(encoded) <= limit
    assert CODEC.decode(encoded, "DeadLetter") == fitted
    if len(whole) <= limit:
        assert fitted == {**record, "truncated": []} and encoded == whole
        return
    assert fitted["truncated"], "a cut must say so"
    originals = {"original_value": value, "original_key": key}
    for cut in fitted["truncated"]:
        if cut["part"] in originals:
            data = originals[cut["part"]]
            assert data is not None and cut["size"] == len(data)
            assert cut["sha256"] == hashlib.sha256(data).hexdigest()
            assert fitted[cut["part"]] == data[: cut["kept"]]
        else:
            assert cut["part"] == "original_headers" and fitted["original_headers"] == []
    # the position of the whole original is always kept
    assert (fitted["source_topic"], fitted["source_partition"], fitted["source_offset"]) == (
        "t.referrals.intake.v1",
        3,
        1234,
    )


def test_a_value_just_under_a_one_mib_limit_keeps_almost_all_of_it() -> None:
    limit = 1_048_576
    value = b"\xab" * (limit - 200)
    fitted, encoded = fit(letter(source(b"agency-x/r-1", value)), ENCODE, budget(limit))
    assert len(encoded) <= limit - HEADROOM_BYTES
    (cut,) = fitted["truncated"]
    assert cut["part"] == "original_value" and cut["size"] == len(value)
    assert len(value) - cut["kept"] < HEADROOM_BYTES + 1024  # cut as little as needed
    assert fitted["original_key"] == b"agency-x/r-1"


def test_an_overlong_message_text_is_shortened() -> None:
    record = {**letter(source(b"k", b"v")), "message": "m" * 10_000, "field": "f" * 10_000}
    fitted, _ = fit(record, ENCODE, 1_048_576)
    assert len(fitted["message"]) == 2000 and len(fitted["field"]) == 2000 and not fitted["truncated"]


def test_the_dead_letters_own_key_is_bounded() -> None:
    assert letter_key(None) is None and letter_key(b"case-1") == b"case-1"
    long_key = b"k" * (MAX_KEY_BYTES + 1)
    assert letter_key(long_key) == b"sha256:" + hashlib.sha256(long_key).hexdigest().encode()


def test_a_v1_dead_letter_reads_as_untruncated() -> None:
    v1 = CODEC._contracts.history["DeadLetter"][0]
    import io

    from fastavro import schemaless_writer

    record = {k: v for k, v in letter(source(b"k", b"v")).items() if k not in ("truncated", "original_digest")}
    buf = io.BytesIO()
    schemaless_writer(buf, v1.parsed, record)
    from referral_bus.codec import MAGIC

    decoded = CODEC.decode(MAGIC + v1.fingerprint + buf.getvalue(), "DeadLetter")
    assert decoded == {**record, "truncated": [], "original_digest": None}


def test_under_a_tiny_limit_the_message_is_shortened_too() -> None:
    record = {**letter(source(b"k", b"v" * 5000)), "message": "m" * 1500, "field": "f" * 1500}
    fitted, encoded = fit(record, ENCODE, 1000)
    assert len(encoded) <= 1000 and fitted["reason"] == "undecodable" and fitted["source_offset"] == 1234
    assert fitted["message"] == "m" * 200 and fitted["field"] is None


def test_the_copy_kept_after_the_bytes_expire_holds_no_bytes() -> None:
    value = b"\xc3\x01 raw report with PIIMARK-victim-name"
    src = SourceMessage(topic="t", partition=1, offset=7, key=b"k", value=value, headers=(("h", b"v"),))
    record = dead_letter(src, "intake", InvalidFieldError("victim.age_band: not a band", field="victim.age_band"))
    assert record["original_digest"] == "sha256:" + hashlib.sha256(value).hexdigest()
    kept = without_bytes(record)
    encoded = CODEC.encode("DeadLetter", kept)
    assert b"PIIMARK" not in encoded and value not in encoded
    assert kept["original_value"] is None and kept["original_headers"] == [] and kept["original_key"] == b"k"
    assert (kept["reason"], kept["stage"], kept["original_digest"]) == (
        "invalid_field",
        "intake",
        record["original_digest"],
    )
