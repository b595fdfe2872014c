"""Offline sync: wire contract, pure merge engine, store, change feed, blobs and HTTP adapter."""
