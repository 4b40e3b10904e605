"""The priority lanes' referrals topics as a test run names them on the broker (topic_catalog.LANES)."""

from __future__ import annotations

from referral_bus import topics
from referral_bus.topic_catalog import lane_topics


def lane_names() -> tuple[str, ...]:
    """Every lane's referrals topic, namespaced: what a test reads to see every referral routing made."""
    return tuple(topics.name(t) for t in lane_topics())
