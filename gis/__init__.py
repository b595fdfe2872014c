"""Geometry, datums, GPS filters and geofences for Fieldline (never imports backend)."""
