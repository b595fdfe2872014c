"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py -w 4 -b 0.0.0.0:8000 'backend.wsgi:app'`.

The access log goes to stdout with tokens, stream tickets, OsmAnd keys and passwords
redacted (`backend.serving.RedactingGunicornLogger`); gunicorn names no version in `Server`.
"""

import os

# An SSE stream (a dispatcher's open console) holds its thread for as long as it is open:
# threaded workers keep the other threads answering requests (deploy/PRODUCTION.md).
worker_class = "gthread"
# WEB_THREADS is read by the app too: half of them at most hold streams (LIVE_STREAMS_PER_PROCESS).
threads = int(os.environ.get("WEB_THREADS") or "32")  # set but empty counts as unset

logger_class = "backend.serving.RedactingGunicornLogger"
accesslog = "-"
