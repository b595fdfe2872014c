"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py -w 4 -b 0.0.0.0:8000 'backend.wsgi:app'`.

The access log goes to stdout with tokens, stream tickets, OsmAnd keys and passwords
redacted (`backend.serving.RedactingGunicornLogger`); gunicorn names no version in `Server`.
"""

logger_class = "backend.serving.RedactingGunicornLogger"
accesslog = "-"
