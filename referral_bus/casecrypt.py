"""Per-case encryption of personal fields (crypto-shredding): erase a case by deleting its key.

Each case gets its own 256-bit data key; its personal fields (the `"pii": true` paths of the
schema) are sealed one by one with AES-256-GCM, bound to the case id and the field path, so a sealed
value cannot be moved to another case or field. The data key is kept wrapped (AES-GCM under the key
encryption key, a mounted secret) in the compacted key table `referrals.casekeys.v1`; deleting it
(`referral-bus erase`: a tombstone) leaves every copy of the sealed fields, on any topic, table or
dead letter, unreadable, while the case's non-personal facts stay readable. docs/data-protection.md.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from referral_bus.errors import ReferralBusError

Field = tuple[dict[str, Any], str, str]  # (parent node, field name, associated data) of one personal field
PREFIX = "enc1:"  # a sealed value: enc1:<base64 of 12-byte nonce + ciphertext + tag>


class CaseKeyError(ReferralBusError):
    """A sealed value or a wrapped key that does not open with the key given (wrong key, case or field)."""


def new_key() -> bytes:
    """A fresh random data key for one case."""
    return AESGCM.generate_key(bit_length=256)


def _seal(aead: AESGCM, aad: str, plain: bytes) -> str:
    nonce = os.urandom(12)
    return PREFIX + base64.b64encode(nonce + aead.encrypt(nonce, plain, aad.encode("utf-8"))).decode("ascii")


def _open(aead: AESGCM, aad: str, token: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(token[len(PREFIX) :], validate=True)
        return aead.decrypt(raw[:12], raw[12:], aad.encode("utf-8"))
    except (InvalidTag, ValueError) as exc:
        raise CaseKeyError(f"{what} does not open with this key (another case, field or key)") from exc


def wrap(kek: bytes, case_id: str, key: bytes) -> str:
    """The case's data key sealed under the key encryption key (bound to the case id)."""
    return _seal(AESGCM(kek), f"casekey|{case_id}", key)


def unwrap(kek: bytes, case_id: str, wrapped: str) -> bytes:
    """The case's data key from its wrapped form."""
    return _open(AESGCM(kek), f"casekey|{case_id}", wrapped, "the wrapped case key")


def is_sealed(value: Any) -> bool:
    """True for a value sealed by `encrypt_personal`."""
    return isinstance(value, str) and value.startswith(PREFIX)


def _fields(doc: dict[str, Any], case_id: str, paths: Iterable[str]) -> tuple[dict[str, Any], list[Field]]:
    """A copy of `doc` fresh along `paths` (the rest shared: `doc` is never written), and its personal fields."""
    out = dict(doc)
    fresh, found = {id(out)}, []
    for path in paths:
        *parents, name = path.split(".")
        node: Any = out
        for p in parents:
            child = node.get(p) if isinstance(node, dict) else None
            if isinstance(child, dict) and id(child) not in fresh:
                child = node[p] = dict(child)
                fresh.add(id(child))
            node = child
        if isinstance(node, dict) and name in node:
            found.append((node, name, f"{case_id}|{path}"))
    return out, found


def encrypt_personal(doc: dict[str, Any], case_id: str, key: bytes, paths: Iterable[str]) -> dict[str, Any]:
    """A copy of `doc` with every string (or list of strings) at `paths` sealed; None stays None."""
    aead = AESGCM(key)  # once per document: making it costs more than sealing a field

    def seal(v: Any, aad: str) -> Any:
        return _seal(aead, aad, v.encode("utf-8")) if isinstance(v, str) and not is_sealed(v) else v

    out, fields = _fields(doc, case_id, paths)
    for node, name, aad in fields:
        value = node[name]
        node[name] = [seal(v, aad) for v in value] if isinstance(value, list) else seal(value, aad)
    return out


def decrypt_personal(doc: dict[str, Any], case_id: str, key: bytes | None, paths: Iterable[str]) -> dict[str, Any]:
    """A copy of `doc` with the sealed fields opened, or, without a key (erased), withheld: None, or [] for lists."""
    aead = None if key is None else AESGCM(key)

    def opened(v: Any, aad: str) -> Any:
        if not is_sealed(v):
            return v
        return None if aead is None else _open(aead, aad, v, "field " + aad.split("|", 1)[1]).decode("utf-8")

    out, fields = _fields(doc, case_id, paths)
    for node, name, aad in fields:
        value = node[name]
        if isinstance(value, list) and any(is_sealed(v) for v in value):
            node[name] = [] if key is None else [opened(v, aad) for v in value]
        else:
            node[name] = opened(value, aad)
    return out
