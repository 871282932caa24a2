"""Publishing the processor's messages: fixation, saccade, pursuit and blink events, AOI
events and alerts (QoS 1, not retained) on the session's topics, and the processor status
(retained) on ``<prefix>/_sys/processor/<id>/status``."""

from __future__ import annotations

from gazewire.wire.messages import ProcessorStatus, WireModel
from gazewire.wire.topics import Channel, Topics
from gazewire.processor.inputs.link import ProcessorLink


PUBLISHED = (Channel.FIXATIONS, Channel.SACCADES, Channel.PURSUITS, Channel.BLINKS, Channel.AOI, Channel.ALERTS)
"""The session channels the processor publishes on."""


class Publisher:
    def __init__(self, link: ProcessorLink, topics: Topics, processor_id: str) -> None:
        self.link = link
        self.topics = topics
        self.status_topic = topics.processor_status(processor_id)
        self.published: dict[str, int] = {channel.value: 0 for channel in PUBLISHED}

    def event(self, channel: Channel, message: WireModel) -> None:
        session = message.session
        self.link.publish(self.topics.for_session(session, channel), message.to_json(), qos=1)
        self.published[channel.value] += 1

    def status(self, status: ProcessorStatus):  # -> paho.MQTTMessageInfo
        return self.link.publish_status(self.status_topic, status)
