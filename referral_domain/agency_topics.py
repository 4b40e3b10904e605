"""Every topic the workers create or use, from one source: the code's topics, Faust's own, and the data's.

`declared()` lists them with retention and sensitivity: the shared topics (topics.ALL), each table's
changelog and each app's leader-election topic (referral_bus/topic_catalog.py), one intake and one
status topic per agency and one ack topic per Kafka-acknowledging recipient (config/agencies.yaml), and one partner
topic per recipient with a kafka channel (config/recipients.yaml). scripts/k8s/gen_topics.py renders
it as KafkaTopics; tests compare it with the manifests and with what real workers create.
"""

from __future__ import annotations

from referral_bus import topics
from referral_bus.topic_catalog import CHANGELOGS, LEADERS, OWN
from referral_bus.topics import DAY_MS, IDS, TopicSpec
from referral_domain.agencies import Registry
from referral_domain.directory import Directory


def inbox_ack_topics(directory: Directory) -> dict[str, str]:
    """Contract name of each inbox user's ack topic → the recipient id (the inbox writes them for it)."""
    return {topics.acks_topic(r): r for r in directory.inbox_users()}


def per_agency(registry: Registry, directory: Directory) -> list[TopicSpec]:
    """The topics the data adds: agencies' intake topics, recipients' ack topics, partner topics."""
    out = [topics.agency_intake_spec(agency) for _, agency in sorted(registry.intake_topics().items())]
    out += [
        TopicSpec(name, f"acknowledgements of recipient {r} (only its agency may write)", 30 * DAY_MS, sensitivity=IDS)
        for name, r in sorted(registry.ack_topics().items())
    ]
    agency_acks = registry.ack_topics()
    out += [
        # PERSONAL: an inbox answer may carry a free-text note (Acknowledgement v2 `note`, pii)
        TopicSpec(name, f"acknowledgements of inbox recipient {r} (the inbox writes)", 30 * DAY_MS)
        for name, r in sorted(inbox_ack_topics(directory).items())
        if name not in agency_acks
    ]
    out += [
        TopicSpec(name, f"what became of agency {a}'s reports (only it may read)", 365 * DAY_MS, sensitivity=IDS)
        for name, a in sorted(registry.status_topics().items())
    ]
    out += [
        TopicSpec(topics.partner_topic(r.id), f"referrals for recipient {r.id} (its agency reads them)", 30 * DAY_MS)
        for r in sorted(directory.recipients.values(), key=lambda r: r.id)
        if r.channel.type == "kafka"
    ]
    return out


def declared(registry: Registry, directory: Directory) -> list[TopicSpec]:
    """Every topic, once."""
    return [*topics.ALL, *CHANGELOGS, *OWN, *LEADERS, *per_agency(registry, directory)]
