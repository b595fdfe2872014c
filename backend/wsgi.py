"""WSGI entry point for gunicorn: `gunicorn 'backend.wsgi:app'`."""

from backend.app import create_app
from backend.serving import settle_heap

app = create_app()
settle_heap()  # what start-up built lives as long as the worker: out of the collector's way
