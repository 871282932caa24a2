"""Where a sample enters the agent: tracker sources (Tobii SDK, simulated,
replayed recording), all producing the SDK's gaze dictionaries."""
