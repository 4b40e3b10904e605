"""The priority lanes as a test sees them: the contract's priorities, and the lanes' topics on the broker."""

from __future__ import annotations

import json

from referral_bus import topics
from referral_bus.settings import REPO_ROOT
from referral_bus.topic_catalog import lane_topics

# The contract's priorities (most urgent last in the Avro enum), read from the schema, not restated here.
_DECISION = json.loads((REPO_ROOT / "schemas" / "avro" / "RoutingDecision.avsc").read_text(encoding="utf-8"))
PRIORITIES: list[str] = next(f["type"]["symbols"] for f in _DECISION["fields"] if f["name"] == "priority")


def lane_names() -> tuple[str, ...]:
    """Every lane's referrals topic, namespaced: what a test reads to see every referral routing made."""
    return tuple(topics.name(t) for t in lane_topics())
