"""Simulated vehicle terminals: drive between depots and fault sites, answer orders over MQTT."""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gis.geometry import LonLat, haversine_m, local_projection

log = logging.getLogger(__name__)

ARRIVAL_RADIUS_M = 30.0


@dataclass
class SimulatorSettings:
    """What to simulate and where to publish."""

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    topic_root: str = "fieldline/v1"
    database_url: str = ""
    vehicles: int = 4
    rate_hz: float = 1.0
    duration_s: float = 0.0
    # Mean seconds between coverage outages per vehicle (0: none); fixes are kept and sent late.
    outage_every_s: float = 0.0
    outage_length_s: tuple[float, float] = (15.0, 45.0)
    jitter_m: float = 6.0
    speed_m_s: tuple[float, float] = (7.0, 14.0)
    # Seconds between receiving an order and accepting it, and working on site.
    accept_after_s: tuple[float, float] = (2.0, 6.0)
    work_s: tuple[float, float] = (60.0, 120.0)
    dwell_s: float = 70.0
    seed: int | None = None
    password: str | None = None
    # Simulated seconds per real second (tests); >1 starts the clock in the past so that no
    # fix is ever from the future.
    time_scale: float = 1.0
    # Part of each terminal's client id; keep it across runs to resume the terminals' sessions.
    run_id: str = "demo"
    # Explicit (vid, depot) pairs; when empty they are read from the database.
    fleet: list[tuple[str, LonLat]] = field(default_factory=list)


@dataclass
class _Job:
    order_id: str
    site: LonLat
    accept_at: float
    accepted: bool = False
    arrived_at: float | None = None
    reported_arrival: bool = False


class SimVehicle:
    """One terminal: a route to follow, a job queue, a position buffer for outages."""

    def __init__(self, vid: str, depot: LonLat, sim: Simulator) -> None:
        self.vid, self.depot, self.sim = vid, depot, sim
        self.rng = random.Random(f"{vid}:{sim.settings.seed}")  # noqa: S311 - not crypto
        self.position: LonLat = self._near(depot, 50)
        self.route: list[LonLat] = []
        self.speed = 0.0
        self.jobs: list[_Job] = []
        self.buffer: list[dict[str, Any]] = []
        self.outage_until = 0.0
        self.seq = int(time.time() * 1000)
        self.lock = threading.Lock()
        self.client = sim.client_for(vid)

    def _near(self, point: LonLat, metres: float) -> LonLat:
        projection = local_projection(*point)
        angle, distance = self.rng.uniform(0, 2 * math.pi), self.rng.uniform(0, metres)
        return projection.inverse(distance * math.cos(angle), distance * math.sin(angle))

    def _drive_to(self, target: LonLat) -> None:
        # Streets, not a beeline: along one axis first, then the other.
        corner = (
            (target[0], self.position[1])
            if self.rng.random() < 0.5
            else (self.position[0], target[1])
        )
        self.route = [corner, target]
        self.speed = self.rng.uniform(*self.sim.settings.speed_m_s)

    def on_order(self, payload: dict[str, Any]) -> None:
        """Ack at once, accept after a moment, queue the job (a vehicle holds several)."""
        order_id = str(payload.get("order_id"))
        now = self.sim.stamp()
        self.publish(
            "ack", {"order_id": order_id, "message_id": payload.get("message_id"), "ts": now}
        )
        self.sim.stats["acks"] += 1
        if payload.get("kind") == "recall":
            with self.lock:
                self.jobs = [j for j in self.jobs if j.order_id != order_id]
            return
        lon, lat = payload.get("lon"), payload.get("lat")
        if not isinstance(lon, int | float) or not isinstance(lat, int | float):
            return
        accept_at = self.sim.clock() + self.rng.uniform(*self.sim.settings.accept_after_s)
        with self.lock:
            self.jobs.append(_Job(order_id, (float(lon), float(lat)), accept_at))

    def step(self, dt: float, clock: float) -> None:
        """Advance `dt` seconds: accept, move, arrive, finish; publish (or buffer) one fix."""
        settings = self.sim.settings
        with self.lock:
            job = self.jobs[0] if self.jobs else None
        if job is not None and not job.accepted and clock >= job.accept_at:
            job.accepted = True
            self.event("accepted", job.order_id)
            self._drive_to(job.site)
        elif job is None and not self.route and self.rng.random() < 0.02 * dt:
            self._drive_to(self._near(self.depot, 4000))  # patrol or a return to base
        moved = self._move(dt)
        if job is not None and job.accepted and not self.route:
            if haversine_m(*self.position, *job.site) <= ARRIVAL_RADIUS_M * 2:
                job.arrived_at = job.arrived_at or clock
                if not job.reported_arrival and clock - job.arrived_at >= settings.dwell_s:
                    job.reported_arrival = True
                    self.event("arrived", job.order_id)
                if clock - job.arrived_at >= settings.dwell_s + self.rng.uniform(*settings.work_s):
                    self.event("finished", job.order_id)
                    with self.lock:
                        self.jobs.remove(job)
                    self._drive_to(self._near(self.depot, 50))
        self._report(moved, dt, clock)

    def _move(self, dt: float) -> float:
        left = self.speed * dt
        while self.route and left > 0:
            target = self.route[0]
            gap = haversine_m(*self.position, *target)
            if gap <= left:
                self.position, left = target, left - gap
                self.route.pop(0)
                continue
            f = left / gap
            self.position = (
                self.position[0] + (target[0] - self.position[0]) * f,
                self.position[1] + (target[1] - self.position[1]) * f,
            )
            left = 0
        return self.speed * dt - left

    def _report(self, moved: float, dt: float, clock: float) -> None:
        settings = self.sim.settings
        self.seq += 1
        lon, lat = self._near(self.position, settings.jitter_m)
        speed = moved / dt
        fix = {
            "ts": self.sim.stamp(),
            "lat": round(lat, 7),
            "lon": round(lon, 7),
            "acc": round(self.rng.uniform(3, 12), 1),
            "speed": round(speed, 2),
            "batt": 80,
            "seq": self.seq,
        }
        if settings.outage_every_s and clock >= self.outage_until:
            if self.buffer:  # back in coverage: the backlog goes first, in time order
                for late in self.buffer:
                    self.publish("position", late)
                self.sim.stats["late"] += len(self.buffer)
                self.buffer = []
            if self.rng.random() < dt / settings.outage_every_s:
                self.outage_until = clock + self.rng.uniform(*settings.outage_length_s)
        if clock < self.outage_until:
            self.buffer.append(fix)
            return
        self.publish("position", fix)
        self.sim.stats["fixes"] += 1

    def event(self, kind: str, order_id: str) -> None:
        """Report an order event with a fresh event id."""
        body = {
            "event_id": uuid.uuid4().hex,
            "order_id": order_id,
            "type": kind,
            "ts": self.sim.stamp(),
        }
        self.publish("event", body)
        self.sim.stats["events"] += 1

    def publish(self, leaf: str, body: dict[str, Any]) -> None:
        """Publish QoS 1 under this vehicle's own topic."""
        topic = f"{self.sim.settings.topic_root}/vehicles/{self.vid}/{leaf}"
        self.client.publish(topic, json.dumps(body), qos=1)


class Simulator:
    """Runs the fleet on one clock; each vehicle has its own MQTT connection and Last Will."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.start = time.monotonic()
        ahead = settings.duration_s * settings.time_scale if settings.time_scale > 1 else 0.0
        self.epoch = datetime.now(UTC) - timedelta(seconds=ahead + 60 * (ahead > 0))
        self.stats: dict[str, int] = {"fixes": 0, "late": 0, "events": 0, "acks": 0}
        self.stopping = threading.Event()
        self.run_id = settings.run_id or uuid.uuid4().hex[:6]
        self.vehicles: dict[str, SimVehicle] = {}
        fleet = settings.fleet or load_fleet(settings.database_url, settings.vehicles)
        for vid, depot in fleet[: settings.vehicles]:
            self.vehicles[vid] = SimVehicle(vid, depot, self)

    def clock(self) -> float:
        """Simulated seconds since the start."""
        return (time.monotonic() - self.start) * self.settings.time_scale

    def stamp(self) -> str:
        """The simulated time now, RFC 3339."""
        return (self.epoch + timedelta(seconds=self.clock())).isoformat()

    def client_for(self, vid: str) -> mqtt.Client:
        """Connect as the vehicle: retained `online`, and `offline` as the Last Will."""
        parts = urlsplit(self.settings.mqtt_url)
        # A persistent session, like a real terminal: orders sent while it is away still arrive.
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sim-{self.run_id}-{vid}", clean_session=False
        )
        if self.settings.password:
            client.username_pw_set(vid, self.settings.password)
        status = f"{self.settings.topic_root}/vehicles/{vid}/status"
        client.will_set(status, b"offline", qos=1, retain=True)
        client.on_message = lambda _c, _u, msg: self._on_order(vid, msg.payload)
        client.on_connect = lambda c, _u, _f, _r, _p: (
            c.subscribe(f"{self.settings.topic_root}/vehicles/{vid}/orders", qos=1),
            c.publish(status, b"online", qos=1, retain=True),
        )
        client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        client.loop_start()
        return client

    def _on_order(self, vid: str, payload: bytes) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if isinstance(body, dict):
            self.vehicles[vid].on_order(body)

    def run(self) -> dict[str, int]:
        """Tick the fleet at `rate_hz` until the duration passes or `stop()` is called."""
        period = 1 / self.settings.rate_hz
        tick = time.monotonic()
        while not self.stopping.is_set():
            if (
                self.settings.duration_s
                and time.monotonic() - self.start >= self.settings.duration_s
            ):
                break
            clock = self.clock()
            for vehicle in self.vehicles.values():
                vehicle.step(period * self.settings.time_scale, clock)
            tick += period
            self.stopping.wait(max(0.0, tick - time.monotonic()))
        self.close()
        return self.stats

    def stop(self) -> None:
        """End `run()` from another thread."""
        self.stopping.set()

    def close(self) -> None:
        """Say goodbye cleanly: `offline` retained, then disconnect."""
        for vid, vehicle in self.vehicles.items():
            status = f"{self.settings.topic_root}/vehicles/{vid}/status"
            vehicle.client.publish(status, b"offline", qos=1, retain=True).wait_for_publish(5)
            vehicle.client.disconnect()
            vehicle.client.loop_stop()


def load_fleet(database_url: str, limit: int) -> list[tuple[str, LonLat]]:
    """Read vehicles with terminals and their home department's site as depot."""
    from geoalchemy2.shape import to_shape
    from sqlalchemy import select

    from backend.db import Database
    from backend.org.models import Department, Vehicle

    database = Database(database_url)
    fleet: list[tuple[str, LonLat]] = []
    with database.session_factory() as session:
        rows = session.execute(
            select(Vehicle.terminal_id, Department.site)
            .join(Department, Department.id == Vehicle.department_id)
            .where(Vehicle.terminal_id.is_not(None))
            .order_by(Vehicle.id)
            .limit(limit)
        )
        for vid, site in rows:
            point = to_shape(site) if site is not None else None
            fleet.append((vid, (point.x, point.y) if point else (120.1551, 30.2741)))
    database.engine.dispose()
    return fleet


def run_simulator(settings: SimulatorSettings) -> dict[str, int]:
    """Run until the duration passes or Ctrl-C."""
    simulator = Simulator(settings)
    log.info("simulating %d vehicles at %.2f Hz", len(simulator.vehicles), settings.rate_hz)
    try:
        return simulator.run()
    except KeyboardInterrupt:
        simulator.close()
        return simulator.stats
