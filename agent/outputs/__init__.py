"""Where samples leave the agent: the local recording, the durable outbox and
the MQTT link."""
