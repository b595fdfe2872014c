"""The sync fixtures (real commits, device clients) for the network's handheld tests."""

from tests.sync.conftest import http, make_client, sync_app  # noqa: F401
