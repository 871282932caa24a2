"""What a lab client needs to talk to gazewire's agents and processors.

A lab client publishes no gaze and runs no pipeline: an experiment script,
a monitoring check, the ``gazewire send``/``status`` commands. It needs the
broker and the topic prefix (:class:`~gazewire.client.settings.ClientSettings`),
a short-lived connection that leaves nothing behind
(:class:`~gazewire.client.connection.BrokerConnection`), and the statuses the
broker keeps (:func:`~gazewire.client.statuses.read_statuses`).

Built only on paho-mqtt and the wire contract (``gazewire.wire``); it imports
neither the agent, the processor nor the command line. The experiment-workflow
client library grows here.
"""

from gazewire.client.connection import BrokerConnection, Received
from gazewire.client.settings import ClientSettings
from gazewire.client.statuses import Statuses, parse_status, read_statuses

__all__ = ["BrokerConnection", "ClientSettings", "Received", "Statuses", "parse_status", "read_statuses"]
