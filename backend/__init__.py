"""Fieldline backend: the Flask app and its domain packages."""
