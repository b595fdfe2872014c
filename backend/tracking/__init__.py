"""Vehicle tracking: MQTT ingest, positions, liveness, checkpoints and live feed."""
