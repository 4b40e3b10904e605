"""Priority lanes on a worker: one referrals topic per lane (topic_catalog.LANES), chosen by priority."""

from __future__ import annotations

from typing import Any

import faust

from referral_bus.shell import Service
from referral_bus.topic_catalog import LANES, lane_of


class LaneTopics:
    """The lanes' referrals topics declared on `service`; a referral goes to the lane of its priority."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.by_name: dict[str, faust.TopicT] = {lane.name: service.topic(lane.topic) for lane in LANES}

    def of(self, priority: str) -> faust.TopicT:
        """The topic of the lane for `priority`."""
        return self.by_name[lane_of(priority).name]

    async def send(self, referral: dict[str, Any]) -> None:
        """Encode `referral` and produce it, keyed by its case, to its priority's lane."""
        value = self.service.codec.encode("Referral", referral)
        await self.service.send(self.of(referral["priority"]), referral["case_id"].encode(), value)
