"""Server-side logging and identity: access logs without secrets, no version in `Server`.

The werkzeug dev server (`fieldline serve`) uses `RedactingRequestHandler`; gunicorn uses
`RedactingGunicornLogger` through `deploy/gunicorn.conf.py`. Both settle the start-up heap.
"""

from __future__ import annotations

import gc
import re
from typing import Any
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger as GunicornLogger
from werkzeug.serving import WSGIRequestHandler


def settle_heap() -> None:
    """Hide what start-up allocated from the garbage collector (`gc.freeze`), once it is built.

    The app and its libraries are some 180,000 objects that live as long as the process;
    without this every full collection walks all of them, which stalled a sync pull page of
    1,000 changes by 250-600 ms on the benchmark machine (`bench/bench_sync.py`).
    """
    gc.collect()
    gc.freeze()


# Query parameters that carry credentials: tokens, stream tickets, OsmAnd keys, passwords.
SECRET_PARAMS = frozenset(
    {"access_token", "refresh_token", "token", "ticket", "key", "password", "secret"}
)
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
SERVER_NAME = "Fieldline"
# A parameter anywhere in a line (after ?, & or ;) or at the start of a bare query string.
_PARAM = re.compile(r"(^|[?&;])([^=&;?#\s\"']*)=([^&;#\s\"']*)")


def redact(text: str) -> str:
    """Replace the values of credential parameters in a URL or log line with `***`."""

    def hide(match: re.Match[str]) -> str:
        name = unquote_plus(match.group(2)).strip().lower()
        if name in SECRET_PARAMS:
            return f"{match.group(1)}{match.group(2)}=***"
        return match.group(0)

    return _PARAM.sub(hide, text)


class RedactingRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging redacted lines and naming no server version."""

    def version_string(self) -> str:
        """Return the `Server` header value: no product version to fingerprint."""
        return SERVER_NAME

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's name
        """Log like werkzeug, with credentials in any argument redacted."""
        super().log(type, message, *(redact(a) if isinstance(a, str) else a for a in args))


class RedactingGunicornLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger whose access-log atoms carry no credentials."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        """Return gunicorn's atoms with secret parameters and headers redacted."""
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            header = name[1:-2] if name.startswith("{") and name[-2:] in ("}i", "}e") else ""
            if header.replace("_", "-").removeprefix("http-") in SECRET_HEADERS:
                atoms[name] = "***"
            elif isinstance(value, str):
                atoms[name] = redact(value)
        return atoms
