"""The photo and document archive (minimal: photos referencing content-addressed blobs)."""
