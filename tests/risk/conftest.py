"""The sync fixtures (real commits, device clients) for the collection visit's handheld test."""

from tests.sync.conftest import http, make_client, sync_app  # noqa: F401
