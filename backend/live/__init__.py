"""The live feed: one change listener per process fans events out to every SSE subscriber."""
