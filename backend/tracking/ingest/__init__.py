"""The MQTT ingest, broker to database.

`worker`: receives and batches messages (`decode` reads each protocol); `pipeline`: validates,
converts and stores a batch (`store`) against the vehicle `registry`; `dead_letters`: what it
could not attribute, parked for replay.
"""
