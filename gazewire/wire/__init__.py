"""The wire contract, v1: what the agent, the processor and every other client
agree on - session ids, topic names, the JSON message models and their JSON
Schema, and the time formats on the wire. Both sides import it; it imports
neither."""
