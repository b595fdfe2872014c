"""Content-addressed blobs (photos, documents): resumable upload, verification, EXIF, GC."""
