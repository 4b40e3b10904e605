"""The webhook verification code of docs/webhooks.md, loaded as a receiver would copy it."""

from __future__ import annotations

import re
from typing import Any

from referral_bus.settings import REPO_ROOT

DOC = REPO_ROOT / "docs" / "webhooks.md"


def doc_verifier() -> Any:
    """`verify` as defined by the document's verification block (fresh replay memory each call)."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("### Verifying the signature") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block under 'Verifying the signature' in docs/webhooks.md"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)  # our own document
    return namespace["verify"]
