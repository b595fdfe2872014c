"""`fieldline seed-demo`: every demo seeding step, each idempotent, each in its own unit of work."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from tqdm import tqdm

from backend.auth.actor import actor_for_user
from backend.auth.models import User
from backend.config import Config
from backend.db import Database
from backend.demo.archive import seed_archive
from backend.demo.inspection import seed_inspection
from backend.demo.network import seed_network, seed_water
from backend.demo.orders import seed_day
from backend.demo.org import seed_org
from backend.demo.risk import seed_risk
from sync.blobs.storage import LocalBlobStorage


def seed_all(database: Database) -> None:
    """Run every seeding step in one unit of work each (each is idempotent)."""
    with database.unit_of_work(actor="seed") as session:
        seed_org(session)
    seed_demo_orders(database)
    seed_demo_archive(database)
    with database.unit_of_work(actor="seed") as session:
        seed_network(session)
    with database.unit_of_work(actor="seed") as session:
        seed_water(session)
    with database.unit_of_work(actor="seed") as session:
        seed_risk(session)
    with database.unit_of_work(actor="seed") as session:
        seed_inspection(session)


def seed_demo_archive(database: Database, count: int = 200) -> int:
    """Create demo customer files around the depots (skipped when they exist)."""
    with database.unit_of_work(actor="seed") as session:
        archivist = session.scalars(select(User).where(User.username == "archivist")).one()
        actor = actor_for_user(session, archivist)
        session.info["actor"] = actor.audit_name
        return seed_archive(session, actor, LocalBlobStorage(Config().BLOB_DIR), count=count)


def seed_demo_orders(database: Database, count: int = 30) -> int:
    """Create yesterday's repair orders (display time zone) so reports show a real day."""
    zone = Config().DISPLAY_TIMEZONE
    day = (datetime.now(ZoneInfo(zone)) - timedelta(days=1)).date()
    with database.unit_of_work(actor="seed") as session:
        return seed_day(
            session,
            day=day,
            zone=zone,
            count=count,
            progress=lambda it: tqdm(it, desc=f"demo orders {day}", unit="order"),
        )
