"""Where messages enter the processor: the MQTT link (:mod:`.link`), parsing
(:mod:`.payloads`) and every stateless check of a message (:mod:`.checks`)."""
