"""Offline sync: wire contract, pure merge engine, and (later) store, change feed and blobs."""
