"""The agent's pure logic, between where a sample enters (gazewire.agent.inputs) and
where it leaves (gazewire.agent.outputs): combine the eyes, map time to UTC, build
batches, throttle the live view. No I/O here."""
