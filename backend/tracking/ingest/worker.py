"""The MQTT ingest worker: paho receives and decodes, a writer thread stores batches, then acks."""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from backend.db import Database, utcnow
from backend.tracking.ingest import dead_letters
from backend.tracking.ingest.pipeline import BatchReport, Inbound, Pipeline, decode_message
from backend.tracking.ingest.store import bump_counters, refresh_liveness
from backend.tracking.terminal import (
    due_webhooks,
    mark_alert_published,
    mark_published,
    pending_alerts,
    pending_messages,
    record_webhook,
)
from gis.geofence import ArrivalRules

log = logging.getLogger(__name__)


@dataclass
class IngestSettings:
    """How the worker connects and batches; every field has an environment variable in the CLI."""

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    topic_root: str = "fieldline/v1"
    client_id: str = "fieldline-ingest"
    username: str | None = None
    password: str | None = None
    # MQTT 5 shared subscription group: several workers split the stream.
    shared_group: str | None = None
    owntracks: bool = True
    # The broker keeps the session (and queued QoS 1 messages) this long while we are away.
    session_expiry_s: int = 7 * 24 * 3600
    batch_size: int = 500
    queue_size: int = 20_000
    # How long the writer waits for more messages before writing a partial batch (Config
    # INGEST_LINGER_MS): each batch costs a few round trips whatever its size, so under a
    # trickle a longer wait buys fewer, larger batches, but every message waits it out.
    linger_s: float = 0.005
    liveness_every_s: float = 5.0
    outbox_every_s: float = 1.0
    keepalive_s: int = 30
    publish_orders: bool = True
    # 5 for Mosquitto/EMQX; 4 (MQTT 3.1.1, clean_session=False) for the embedded amqtt broker.
    mqtt_version: int = 5
    extra_topics: list[str] = field(default_factory=list)
    # Parked messages of vehicles never registered are dropped after this long.
    dead_letter_keep: timedelta = timedelta(days=7)
    # Geofence arrival rules (Config GEOFENCE_ARRIVAL_*); None: the detector's defaults.
    arrival: ArrivalRules | None = None

    def topics(self) -> list[str]:
        """Return the subscriptions, prefixed with the shared group when one is set."""
        # Only what terminals publish: the orders topic carries our own messages to them.
        topics = [
            f"{self.topic_root}/vehicles/+/{leaf}"
            for leaf in ("position", "event", "ack", "status")
        ]
        topics += self.extra_topics
        if self.owntracks:
            topics.append("owntracks/+/+")
        if self.shared_group:
            topics = [f"$share/{self.shared_group}/{t}" for t in topics]
        return topics


class _Inbox:
    """A bounded hand-over from the MQTT thread to the writer, cheaper than `queue.Queue`.

    One producer (paho's thread) and one consumer (the writer): deque appends and pops are
    atomic, so the per-message path takes no lock; events are set only when the other side
    sleeps. A full inbox blocks the producer, which stops reading the socket, so the broker
    holds the messages instead of us dropping them.
    """

    def __init__(self, size: int, stopping: threading.Event) -> None:
        self.size = size
        self.items: deque[_Received] = deque()
        self.stopping = stopping
        self._arrived = threading.Event()
        self._room = threading.Event()
        self._consumer_waits = False
        self._producer_waits = False

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: _Received) -> None:
        while len(self.items) >= self.size and not self.stopping.is_set():
            self._room.clear()
            self._producer_waits = True
            if len(self.items) >= self.size:
                self._room.wait(0.1)
            self._producer_waits = False
        self.items.append(item)
        if self._consumer_waits:
            self._arrived.set()

    def take(self, most: int, timeout: float, linger: float) -> list[_Received]:
        """Up to `most` items: wait `timeout` for the first, then `linger` for more.

        Only an idle writer lingers: messages that arrived while the last batch was written
        have waited a whole write already and go at once (with whatever else came meanwhile).
        """
        items = self.items
        idle = not items
        if idle:
            self._arrived.clear()
            self._consumer_waits = True
            if not items:  # re-checked after announcing the wait: no lost wake-up
                self._arrived.wait(timeout)
            self._consumer_waits = False
            if not items:
                return []
        # One sleep, not a poll: waking every millisecond to look took the GIL from the MQTT
        # thread that fills the inbox (a tenth of the worker's samples under a trickle).
        if idle and len(items) < most and linger > 0:
            time.sleep(linger)
        batch = [items.popleft() for _ in range(min(most, len(items)))]
        if self._producer_waits:
            self._room.set()
        return batch


@dataclass(frozen=True, slots=True)
class _Received:
    inbound: Inbound
    mid: int
    qos: int
    connection: int  # which connection delivered it: packet ids are per connection


class IngestWorker:
    """Receives over MQTT, writes in batches, acknowledges only what is committed."""

    def __init__(self, database: Database, settings: IngestSettings) -> None:
        self.database = database
        self.settings = settings
        self.pipeline = Pipeline(topic_root=settings.topic_root, arrival=settings.arrival)
        self.stopping = threading.Event()
        self.inbox = _Inbox(settings.queue_size, self.stopping)
        self.connected = threading.Event()
        self.stored = 0
        self.batches = 0
        self.connects = 0
        self._threads: list[threading.Thread] = []
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.mqtt_version == 5
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self.connects += 1
        log.info("connected (session present: %s)", flags.session_present)
        client.subscribe([(t, 1) for t in self.settings.topics()])
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            log.warning("disconnected (%s); paho reconnects", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # Decode only; a full queue blocks here, which stops reading from the socket: the
        # broker then holds the messages instead of us dropping them.
        topic = msg.topic  # a property that decodes the bytes on every read
        if topic.startswith("$"):  # broker internals ($SYS) that a `+` let through
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)
            return
        inbound = decode_message(topic, bytes(msg.payload), self.settings.topic_root)
        self.inbox.put(_Received(inbound, msg.mid, msg.qos, self.connects))

    def start(self) -> IngestWorker:
        """Connect (retrying in the background) and start the writer and outbox threads."""
        s = self.settings
        parts = urlsplit(s.mqtt_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 1883
        if s.mqtt_version == 5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            props.ReceiveMaximum = min(65535, max(s.batch_size * 2, 100))
            self.client.connect_async(
                host, port, keepalive=s.keepalive_s, clean_start=False, properties=props
            )
        else:
            self.client.connect_async(host, port, keepalive=s.keepalive_s)
        self.client.loop_start()
        for target, name in ((self._write_loop, "ingest-writer"), (self._outbox_loop, "outbox")):
            if name == "outbox" and not s.publish_orders:
                continue
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10) -> None:
        """Finish the current batch, then disconnect (the session stays on the broker)."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def _take_batch(self) -> list[_Received]:
        s = self.settings
        return self.inbox.take(s.batch_size, timeout=0.2, linger=s.linger_s)

    def _write_loop(self) -> None:
        next_liveness = time.monotonic()
        while not self.stopping.is_set():
            try:
                batch = self._take_batch()
                if batch:
                    self._write(batch)
                if time.monotonic() >= next_liveness:
                    next_liveness = time.monotonic() + self.settings.liveness_every_s
                    self._liveness()
            except Exception:  # noqa: BLE001 - the writer must outlive any one failure
                # Nothing of the batch was acknowledged: the broker redelivers it.
                log.exception("writer pass failed; continuing")
                time.sleep(1)

    def _write(self, batch: list[_Received]) -> BatchReport | None:
        report = self._commit([r.inbound for r in batch])
        if report is None:
            return None  # stopping: unacked messages come back with the session
        # Committed: now, and only now, the broker may forget these messages. Packet ids of an
        # earlier connection mean nothing now (the broker redelivers those messages anew).
        for received in batch:
            if received.qos > 0 and received.connection == self.connects:
                self.client.ack(received.mid, received.qos)
        self.stored += report.stored
        self.batches += 1
        return report

    def _process(self, items: list[Inbound]) -> BatchReport:
        """Write items in one transaction; the filter forgets them if it does not commit."""
        self.pipeline.filter.begin()
        try:
            with self.database.unit_of_work(actor="system:ingest") as session:
                report = self.pipeline.process(session, items)
        except BaseException:
            self.pipeline.filter.rollback()
            raise
        self.pipeline.filter.commit()
        return report

    def _commit(self, items: list[Inbound]) -> BatchReport | None:
        """Write a batch, retrying while the database is down; isolate a poison message."""
        while not self.stopping.is_set():
            try:
                try:
                    return self._process(items)
                except OperationalError:
                    raise
                except Exception:  # noqa: BLE001 - one bad message must not stop the stream
                    log.exception("batch failed; writing its messages one by one")
                    return self._one_by_one(items)
            except OperationalError:
                log.exception("database unavailable; retrying the batch")
                time.sleep(1)
        return None

    def _one_by_one(self, items: list[Inbound]) -> BatchReport:
        """Write each item alone; a database outage propagates so the batch is retried."""
        total = BatchReport()
        for item in items:
            try:
                total.stored += self._process([item]).stored
            except OperationalError:
                raise
            except Exception:  # noqa: BLE001 - counted, acknowledged, never retried forever
                log.exception("message from %s failed; counted as internal_error", item.key)
                with self.database.unit_of_work(actor="system:ingest") as session:
                    bump_counters(session, Counter({(item.key, "internal_error"): 1}), utcnow())
        return total

    def _liveness(self) -> None:
        try:
            with self.database.unit_of_work(actor="system:ingest") as session:
                changes = refresh_liveness(session, utcnow())
                dead_letters.purge(session, utcnow(), self.settings.dead_letter_keep)
            for vehicle_id, state in changes:
                log.info("vehicle %s is %s", vehicle_id, state)
        except Exception:  # noqa: BLE001 - liveness is retried on the next tick
            log.exception("liveness check failed")

    def _outbox_loop(self) -> None:
        while not self.stopping.wait(self.settings.outbox_every_s):
            if self.connected.is_set():
                try:
                    self.publish_pending()
                    self.publish_alerts()
                except Exception:  # noqa: BLE001 - the queue is in the database; retry later
                    log.exception("outbox failed; retrying")
            try:
                post_alert_webhooks(self.database)
            except Exception:  # noqa: BLE001 - retried on the next tick
                log.exception("alert webhooks failed; retrying")

    def publish_alerts(self) -> int:
        """Publish queued escalation alerts QoS 1 on `{root}/alerts/{department_id}`."""
        with self.database.unit_of_work(actor="system:outbox") as session:
            pending = [
                (f"{self.settings.topic_root}/alerts/{a.department_id}", a.payload, a.id)
                for a in pending_alerts(session)
            ]
        return self._publish_each(pending, mark_alert_published)

    def publish_pending(self) -> int:
        """Publish queued orders and recalls QoS 1; mark each once the broker has it."""
        with self.database.unit_of_work(actor="system:outbox") as session:
            pending = [
                (f"{self.settings.topic_root}/vehicles/{vid}/orders", m.payload, m.message_id)
                for m, vid in pending_messages(session)
            ]
        return self._publish_each(pending, mark_published)

    def _publish_each(
        self,
        items: list[tuple[str, Any, Any]],
        mark: Callable[[Session, Any, datetime], None],
    ) -> int:
        """Publish (topic, payload, key) in order; mark each once the broker has it.

        Stops at the first one the broker did not take: it stays queued for the next pass.
        """
        sent = 0
        for topic, payload, key in items:
            info = self.client.publish(topic, json.dumps(payload, default=str), qos=1)
            try:
                info.wait_for_publish(timeout=10)
            except RuntimeError:
                break
            if not info.is_published():
                break
            with self.database.unit_of_work(actor="system:outbox") as session:
                mark(session, key, utcnow())
            sent += 1
        return sent


def post_alert_webhooks(database: Database, timeout: float = 5.0) -> int:
    """POST each due alert (JSON) to the webhook URL it was queued with; return how many took.

    Any 2xx answer delivers it; anything else is retried with backoff (see `record_webhook`).
    """
    delivered = 0
    with database.unit_of_work(actor="system:outbox") as session:
        due = [(a.id, a.webhook_url, a.payload) for a in due_webhooks(session, utcnow())]
    for outbox_id, url, payload in due:
        error: str | None = None
        if not str(url).lower().startswith(("http://", "https://")):
            with database.unit_of_work(actor="system:outbox") as session:
                record_webhook(session, outbox_id, utcnow(), f"not an http(s) URL: {url}")
            continue
        request = urllib.request.Request(  # noqa: S310 - an operator-configured http(s) URL
            str(url),
            data=json.dumps(payload, default=str).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                if not 200 <= response.status < 300:
                    error = f"HTTP {response.status}"
        except Exception as exc:  # noqa: BLE001 - any failure is retried later
            error = f"{type(exc).__name__}: {exc}"
        with database.unit_of_work(actor="system:outbox") as session:
            record_webhook(session, outbox_id, utcnow(), error)
        delivered += error is None
    return delivered


def tune_gc_for_ingest(young: int = 100_000) -> None:
    """Collect garbage less often in a process that only ingests.

    Every message allocates a dozen short-lived objects that reference counting frees; with
    the default thresholds the cyclic collector still ran every 700 allocations and walked
    the filter's history each time (a fifth of the worker's CPU in the profile). Startup
    objects are frozen out of the collector's view; cycles are still collected, only later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 20, 20)


def run_forever(database: Database, settings: IngestSettings) -> None:
    """Run a worker until interrupted (the `fieldline ingest` command)."""
    tune_gc_for_ingest()
    worker = IngestWorker(database, settings).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        worker.stop()
