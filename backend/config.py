"""Configuration read from the environment, with a test profile."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
_T = TypeVar("_T")


class ConfigError(ValueError):
    """An environment variable holds a value its setting cannot take."""


def _raw(name: str) -> str | None:
    """The variable's value; set but empty counts as unset (`FOO=` in an env file)."""
    return os.environ.get(name) or None


def _parsed(name: str, parse: Callable[[str], _T], default: _T, kind: str) -> _T:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {kind}") from None


# Each setting is a dataclass field whose default is read from the environment when a Config
# is made (not at import), so a test or a worker can set the variable first.
def _text(name: str, default: str) -> str:
    return field(default_factory=lambda: _raw(name) or default)


def _optional_text(name: str) -> str | None:
    return field(default_factory=lambda: _raw(name))


def _int(name: str, default: int) -> int:
    return field(default_factory=lambda: _parsed(name, int, default, "a whole number"))


def _optional_int(name: str) -> int | None:
    return field(default_factory=lambda: _parsed(name, int, None, "a whole number"))


def _decimal_text(name: str, default: str) -> str:
    """A decimal kept as its text (exact shares and money), checked when the Config is made."""

    def read() -> str:
        text = _raw(name) or default
        try:
            if not Decimal(text).is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise ConfigError(f"{name}={text!r} is not a decimal number") from None
        return text

    return field(default_factory=read)


def _float(name: str, default: float) -> float:
    return field(default_factory=lambda: _parsed(name, float, default, "a number"))


def _minutes(name: str, default: int) -> timedelta:
    return field(default_factory=lambda: timedelta(minutes=_parsed(name, int, default, "minutes")))


def _days(name: str, default: int) -> timedelta:
    return field(default_factory=lambda: timedelta(days=_parsed(name, int, default, "days")))


def _flag(name: str) -> bool:
    """On when the variable is `1`."""
    return field(default_factory=lambda: _raw(name) == "1")


def _secret_key() -> str:
    """SECRET_KEY from the environment, else a random key kept under var/ for the demo stack."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = ROOT / "var" / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Config:
    """Settings for one app instance; every field can be set by an environment variable."""

    DATABASE_URL: str = _text("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'fieldline.db'}")
    # A streaming replica of DATABASE_URL (PostgreSQL): reports and the live feed's rounds read
    # there; writes, authentication and read-your-writes paths stay on the primary. Unset: all
    # reads go to DATABASE_URL.
    READ_DATABASE_URL: str | None = _optional_text("READ_DATABASE_URL")
    MQTT_URL: str = _text("MQTT_URL", "mqtt://127.0.0.1:1883")
    MQTT_TOPIC_ROOT: str = _text("MQTT_TOPIC_ROOT", "fieldline/v1")
    BLOB_DIR: str = _text("BLOB_DIR", str(ROOT / "var" / "blobs"))
    SECRET_KEY: str = field(default_factory=_secret_key)
    DISPLAY_TIMEZONE: str = _text("DISPLAY_TIMEZONE", "Asia/Shanghai")
    # The console's optional basemap: Leaflet tile URL template(s), `|` between a base layer and
    # overlays (e.g. Tianditu's labels); empty draws Fieldline's own layers on a blank map.
    BASEMAP_URL: str = _text("FIELDLINE_BASEMAP_URL", "")
    BASEMAP_ATTRIBUTION: str = _text("FIELDLINE_BASEMAP_ATTRIBUTION", "")
    # gcj02 when the tiles are drawn in China's offset datum (Tianditu is wgs84, AMap is gcj02).
    BASEMAP_DATUM: str = _text("FIELDLINE_BASEMAP_DATUM", "wgs84")
    BASEMAP_SUBDOMAINS: str = _text("FIELDLINE_BASEMAP_SUBDOMAINS", "abc")
    BASEMAP_MAX_ZOOM: int = _int("FIELDLINE_BASEMAP_MAX_ZOOM", 18)
    # A folder of pre-rendered {z}/{x}/{y}.png tiles (e.g. an OpenStreetMap extract) served by
    # the app under /console/tiles/; set FIELDLINE_BASEMAP_URL=/console/tiles/{z}/{x}/{y}.png.
    BASEMAP_DIR: str = _text("FIELDLINE_BASEMAP_DIR", "")
    # A local MBTiles file of raster tiles served by the app under /tiles/{z}/{x}/{y} (read-only);
    # with no FIELDLINE_BASEMAP_URL the console uses it as its basemap.
    BASEMAP_MBTILES: str = _text("FIELDLINE_BASEMAP_MBTILES", "")
    # A local raster PMTiles archive served whole at /tiles/basemap.pmtiles (HTTP byte ranges);
    # with no FIELDLINE_BASEMAP_URL the console draws it (the npm `pmtiles` Leaflet layer).
    BASEMAP_PMTILES: str = _text("FIELDLINE_BASEMAP_PMTILES", "")
    # Open orders created longer ago than this are collapsed and flagged on the board.
    STALE_ORDER_HOURS: float = _float("FIELDLINE_STALE_ORDER_HOURS", 24)
    CONSOLE_LANGUAGE: str = _text("FIELDLINE_CONSOLE_LANGUAGE", "zh-CN")
    # Bodies above this get 413 before any parsing (blob chunks have their own limit).
    MAX_CONTENT_LENGTH: int = _int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024)
    JWT_ACCESS_TOKEN_EXPIRES: timedelta = _minutes("JWT_ACCESS_MINUTES", 30)
    JWT_REFRESH_TOKEN_EXPIRES: timedelta = _days("JWT_REFRESH_DAYS", 14)
    # Failed logins per username+address inside the window before further attempts get 429.
    LOGIN_MAX_FAILURES: int = _int("LOGIN_MAX_FAILURES", 5)
    LOGIN_FAILURE_WINDOW: timedelta = _minutes("LOGIN_FAILURE_MINUTES", 15)
    # Live feed (SSE): how often the one listener per process checks SQLite's change counter
    # (PostgreSQL is notified instead), the keep-alive period, and how many undelivered events
    # a subscriber may have before it is told to reconnect.
    LIVE_POLL_SECONDS: float = _float("LIVE_POLL_SECONDS", 0.5)
    LIVE_KEEPALIVE_SECONDS: float = _float("LIVE_KEEPALIVE_SECONDS", 15)
    LIVE_ROUND_SECONDS: float = _float("LIVE_ROUND_SECONDS", 0.2)
    LIVE_QUEUE_SIZE: int = _int("LIVE_QUEUE_SIZE", 1000)
    # Each open stream holds a server thread: at most this many per user and per process (past
    # either, 429 with Retry-After). 0 per process: half of WEB_THREADS, so a process always
    # keeps threads for logins and ordinary requests. A stream ends (`end` event, the client
    # reconnects with Last-Event-ID) after LIVE_MAX_STREAM_SECONDS whatever it asked for.
    LIVE_STREAMS_PER_USER: int = _int("LIVE_STREAMS_PER_USER", 4)
    LIVE_STREAMS_PER_PROCESS: int = _int("LIVE_STREAMS_PER_PROCESS", 0)
    LIVE_MAX_STREAM_SECONDS: float = _float("LIVE_MAX_STREAM_SECONDS", 3600)
    # Threads per gunicorn worker (deploy/gunicorn.conf.py reads the same variable).
    WEB_THREADS: int = _int("WEB_THREADS", 32)
    # Failed logins from one address across all accounts (users, devices, OsmAnd keys).
    LOGIN_MAX_FAILURES_PER_ADDRESS: int = _int("LOGIN_MAX_FAILURES_PER_ADDRESS", 50)
    # How many reverse proxies in front append to X-Forwarded-For / set X-Forwarded-Proto.
    # 0 (default): the peer address is the client; never trust headers a client can forge.
    TRUSTED_PROXIES: int = _int("TRUSTED_PROXIES", 0)
    # Lifetime of a single-use ticket that opens an event stream (`?ticket=`).
    STREAM_TICKET_SECONDS: int = _int("STREAM_TICKET_SECONDS", 60)
    # Ingest: parked messages of vehicles never registered are dropped after this many days.
    INGEST_DEAD_LETTER_DAYS: float = _float("INGEST_DEAD_LETTER_DAYS", 7)
    # Ingest worker: fixed MQTT client id (persistent session), shared subscription group,
    # batch size, broker login, protocol (5; 4 = 3.1.1 for the embedded amqtt broker, which
    # `fieldline serve` picks when this is unset).
    INGEST_CLIENT_ID: str | None = _optional_text("INGEST_CLIENT_ID")
    INGEST_SHARED_GROUP: str | None = _optional_text("INGEST_SHARED_GROUP")
    INGEST_BATCH_SIZE: int = _int("INGEST_BATCH_SIZE", 500)
    # How long the ingest's writer waits for more messages before writing a partial batch:
    # under a trickle (a fleet spread over the second) every batch costs its round trips, so a
    # longer wait means fewer, larger batches, and every message waits it out (publish→stored).
    INGEST_LINGER_MS: float = _float("INGEST_LINGER_MS", 5)
    # MQTT keepalive of the ingest's connection: the broker drops it after 1.5x this long
    # without a packet from it (a frozen or overloaded process), and keeps its session.
    INGEST_KEEPALIVE_SECONDS: int = _int("INGEST_KEEPALIVE_SECONDS", 30)
    MQTT_USERNAME: str | None = _optional_text("MQTT_USERNAME")
    MQTT_PASSWORD: str | None = _optional_text("MQTT_PASSWORD")
    MQTT_VERSION: int | None = _optional_int("MQTT_VERSION")
    POSITIONS_RETENTION_MONTHS: int = _int("POSITIONS_RETENTION_MONTHS", 13)
    # Acceptance escalation: first alert after this long, the supervisors after a further while.
    ESCALATION_ACCEPT_MINUTES: float = _float("ESCALATION_ACCEPT_MINUTES", 4)
    ESCALATION_FURTHER_MINUTES: float = _float("ESCALATION_FURTHER_MINUTES", 4)
    ALERT_WEBHOOK_URL: str | None = _optional_text("ALERT_WEBHOOK_URL")
    # Water orders: a repair not finished this long after the call is overdue (two reminders).
    WATER_REPAIR_MINUTES: float = _float("WATER_REPAIR_MINUTES", 240)
    # `fieldline serve`: demo vehicles to simulate (0: none) and their broker password.
    SIMULATE: int = _int("FIELDLINE_SIMULATE", 0)
    SIMULATOR_MQTT_PASSWORD: str | None = _optional_text("SIMULATOR_MQTT_PASSWORD")
    LOG_LEVEL: str = _text("LOG_LEVEL", "INFO")
    # Geofence arrival (timing point H): the site circle and how long a vehicle must stay in it.
    GEOFENCE_ARRIVAL_RADIUS_M: float = _float("GEOFENCE_ARRIVAL_RADIUS_M", 100)
    GEOFENCE_ARRIVAL_DWELL_S: float = _float("GEOFENCE_ARRIVAL_DWELL_S", 60)
    # Inspection cases: the evidence gate before enforcement (see backend/inspection/evidence.py)
    # and the repeat-offender flag (confirmed cases of one customer).
    INSPECTION_EVIDENCE_RADIUS_M: float = _float("INSPECTION_EVIDENCE_RADIUS_M", 100)
    INSPECTION_WINDOW_HOURS: float = _float("INSPECTION_WINDOW_HOURS", 12)
    INSPECTION_FIX_GAP_SECONDS: float = _float("INSPECTION_FIX_GAP_SECONDS", 300)
    INSPECTION_EVIDENCE_MIN_PHOTOS: int = _int("INSPECTION_EVIDENCE_MIN_PHOTOS", 1)
    INSPECTION_EVIDENCE_MIN_READINGS: int = _int("INSPECTION_EVIDENCE_MIN_READINGS", 1)
    INSPECTION_REPEAT_OFFENDER_CASES: int = _int("INSPECTION_REPEAT_OFFENDER_CASES", 2)
    # Customer risk: the large-customer threshold (non-residential above it) and how often the
    # scheduled re-rating rates each customer again.
    RISK_LARGE_KW: float = _float("RISK_LARGE_KW", 100)
    RISK_RERATE_DAYS: float = _float("RISK_RERATE_DAYS", 30)
    # ABC classes: revenue window (months) and the shares that make class A and class C.
    RISK_ABC_WINDOW_MONTHS: int = _int("RISK_ABC_WINDOW_MONTHS", 12)
    RISK_ABC_A_SHARE: str = _decimal_text("RISK_ABC_A_SHARE", "0.02")
    RISK_ABC_C_SHARE: str = _decimal_text("RISK_ABC_C_SHARE", "0.005")
    # Payment behaviour: months judged, next-month settlements that count as "frequent",
    # months of growing arrears that make class C.
    RISK_BEHAVIOUR_WINDOW_MONTHS: int = _int("RISK_BEHAVIOUR_WINDOW_MONTHS", 12)
    RISK_BEHAVIOUR_FREQUENT_MONTHS: int = _int("RISK_BEHAVIOUR_FREQUENT_MONTHS", 3)
    RISK_BEHAVIOUR_GROWTH_MONTHS: int = _int("RISK_BEHAVIOUR_GROWTH_MONTHS", 3)
    # Classification reviews fall due this many days after the last (about two months); key
    # customers are those billed at least RISK_KEY_REVENUE over the last 12 months.
    RISK_REVIEW_DAYS: int = _int("RISK_REVIEW_DAYS", 61)
    RISK_KEY_REVENUE: str = _decimal_text("RISK_KEY_REVENUE", "200000")
    # Reminders ahead of a task's due date; reconciliation of remote and manual readings.
    INSPECTION_REMIND_DAYS: float = _float("INSPECTION_REMIND_DAYS", 2)
    INSPECTION_RECONCILE_TOLERANCE_KWH: float = _float("INSPECTION_RECONCILE_TOLERANCE_KWH", 5)
    INSPECTION_RECONCILE_TOLERANCE_PCT: float = _float("INSPECTION_RECONCILE_TOLERANCE_PCT", 2)
    INSPECTION_RECONCILE_WINDOW_HOURS: float = _float("INSPECTION_RECONCILE_WINDOW_HOURS", 24)
    # Cheap argon2 parameters for password and device-secret hashes (the test suite); never
    # in production.
    FAST_HASH: bool = _flag("FIELDLINE_FAST_HASH")
    TESTING: bool = False

    # flask-smorest / OpenAPI
    API_TITLE: str = "Fieldline"
    API_VERSION: str = "1.0.0"
    OPENAPI_VERSION: str = "3.0.3"
    OPENAPI_URL_PREFIX: str = "/api"
    OPENAPI_JSON_PATH: str = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH: str = "/docs"
    # Served from the swagger-ui-bundle wheel by backend/apidocs.py: the explorer works offline.
    OPENAPI_SWAGGER_UI_URL: str = "/api/docs-assets/"

    def live_streams_per_process(self) -> int:
        """The per-process stream cap: as set, else half the threads of a worker (at least 1)."""
        return self.LIVE_STREAMS_PER_PROCESS or max(1, self.WEB_THREADS // 2)

    def as_flask(self) -> dict[str, object]:
        """Return the settings as a Flask config mapping."""
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        values["JWT_SECRET_KEY"] = self.SECRET_KEY
        # Tokens travel in the Authorization header only; URLs end up in logs and histories.
        # EventSource (which cannot set headers) uses a single-use stream ticket instead.
        values["JWT_TOKEN_LOCATION"] = ["headers"]
        values["JSON_SORT_KEYS"] = False
        return values


@dataclass
class TestConfig(Config):
    """Settings used by the test suite; the database URL is given by the fixture."""

    __test__ = False  # not a pytest test class

    TESTING: bool = True
    FAST_HASH: bool = True
    SECRET_KEY: str = "test-secret-key-with-enough-length-for-hs256"  # noqa: S105
    MQTT_URL: str = _text("MQTT_URL", "mqtt://127.0.0.1:1883")
    # Tests open many streams of one user in one app (fan-out); the caps have their own tests.
    LIVE_STREAMS_PER_USER: int = 1000
    LIVE_STREAMS_PER_PROCESS: int = 1000
