"""Test support: real servers (Mosquitto, VictoriaMetrics) and a plain MQTT lab device."""
