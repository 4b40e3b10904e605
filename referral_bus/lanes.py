"""Priority lanes on a worker: one referrals (or retry) topic per lane (topic_catalog.LANES), chosen by priority."""

from __future__ import annotations

from typing import Any

import faust

from referral_bus.shell import Service
from referral_bus.topic_catalog import LANES, Lane, lane_of


class LaneTopics:
    """The lanes' referrals topics (`retries`: their retry topics) declared on `service`, chosen by priority.

    `by_topic`: each topic once (contract name → its topic and the least urgent lane it carries), what a
    reader builds its agents from: two lanes sharing a topic make one reader, not two.
    """

    def __init__(self, service: Service, *, retries: bool = False) -> None:
        self.service = service
        names = {lane.name: lane.retry if retries else lane.topic for lane in LANES}
        lanes = {names[lane.name]: lane for lane in LANES}  # a topic shared by lanes: the last (least urgent)
        self.by_topic: dict[str, tuple[faust.TopicT, Lane]] = {t: (service.topic(t), lane) for t, lane in lanes.items()}
        self.by_name: dict[str, faust.TopicT] = {lane: self.by_topic[t][0] for lane, t in names.items()}

    def of(self, priority: str) -> faust.TopicT:
        """The topic of the lane for `priority`."""
        return self.by_name[lane_of(priority).name]

    async def send(self, referral: dict[str, Any], *, case_body: bytes | None = None) -> None:
        """Encode `referral` and produce it, keyed by its case, to its priority's lane.

        `case_body`: the Avro body its case was decoded from (`Codec.current_body`), embedded as is, not re-encoded.
        """
        codec = self.service.codec
        if case_body is None:
            value = codec.encode("Referral", referral)
        else:
            value = codec.encode_embedding("Referral", referral, "case", case_body)
        await self.service.send(self.of(referral["priority"]), referral["case_id"].encode(), value)
