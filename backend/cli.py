"""The `fieldline` command: database, demo data, API, embedded broker and workers."""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_smorest.spec import openapi_cli

from backend.config import ROOT, Config
from backend.db import is_sqlite


def _create_app() -> Flask:
    from backend.app import create_app

    return create_app(Config())


class FieldlineGroup(FlaskGroup):
    """Lists its commands without building the app: `fieldline --help` writes nothing.

    Flask's group loads the app to list `app.cli` commands, and building it creates
    `var/secret_key`; every command the app would add is registered here instead, so the app
    is built only by a command that needs it.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(click.Group.list_commands(self, ctx))


@click.group(cls=FieldlineGroup, create_app=_create_app, add_default_commands=True)
def main() -> None:
    """Fieldline: field service for utilities."""


main.add_command(openapi_cli)  # flask-smorest's `openapi write|print`, found without the app


@main.group()
def db() -> None:
    """Database schema."""


def _ensure_sqlite_dir(url: str) -> None:
    if is_sqlite(url) and url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (every domain branch) to DATABASE_URL."""
    from backend import migrate

    url = Config().DATABASE_URL
    _ensure_sqlite_dir(url)
    if not is_sqlite(url):
        from sqlalchemy import text

        from backend.db import make_engine

        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()
    migrate.upgrade(url, revision)
    click.echo(f"database at {revision}")


@main.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create demo departments, logins, crews, vehicles and a day of orders (idempotent)."""
    from backend.demo import DEMO_DEVICE_SECRET, DEMO_PASSWORD, seed_all

    database = current_app.extensions["fieldline.db"]
    seed_all(database)
    click.echo(
        f"demo data ready; users admin, dispatcher, callcenter, crew1 ... password "
        f"'{DEMO_PASSWORD}'; device secret '{DEMO_DEVICE_SECRET}'"
    )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--broker-port",
    default=1883,
    show_default=True,
    type=int,
    help="Embedded broker port; the next free port is used when taken.",
)
@click.option("--no-broker", is_flag=True, help="Use MQTT_URL instead of an embedded broker.")
@click.option("--simulate", default=0, type=int, help="Drive this many demo vehicles.")
def serve(host: str, port: int, broker_port: int, no_broker: bool, simulate: int) -> None:
    """Start the embedded broker, the background workers and the API (the `make run` stack)."""
    from werkzeug.serving import run_simple

    from backend.app import create_app
    from backend.archive.chasing import chasing_worker
    from backend.demo.broker import EmbeddedBroker
    from backend.dispatch.escalation import escalation_worker
    from backend.inspection.reminders import reminder_worker
    from backend.live import http as live
    from backend.network.restore_worker import restore_worker
    from backend.risk.worker import rating_worker
    from backend.serving import RedactingRequestHandler, settle_heap
    from backend.tracking.runtime import ingest_worker, simulator_worker

    config = Config()
    if not no_broker:
        broker = EmbeddedBroker(port=broker_port).start()
        # amqtt speaks MQTT 3.1.1 only.
        config = replace(config, MQTT_URL=broker.url, MQTT_VERSION=config.MQTT_VERSION or 4)
    if simulate:
        config = replace(config, SIMULATE=simulate)
    app = create_app(config)
    # The workers `make run` needs, named here (nothing registers itself); daemon threads
    # that run until the process exits.
    for worker in (
        escalation_worker,
        restore_worker,
        reminder_worker,
        rating_worker,
        chasing_worker,
        ingest_worker,
        simulator_worker,
    ):
        threading.Thread(
            target=worker, args=(app, config), name=worker.__name__, daemon=True
        ).start()
    settle_heap()
    click.echo(f"Fieldline API      http://{host}:{port}/api/v1")
    click.echo(f"Dispatcher console http://{host}:{port}/")
    click.echo(f"API explorer       http://{host}:{port}/api/docs")
    click.echo(f"MQTT broker        {config.MQTT_URL}")
    click.echo(
        "Demo logins        admin / dispatcher / callcenter / crew1 ... password 'fieldline-demo'"
    )
    try:
        run_simple(
            host,
            port,
            app,
            threaded=True,
            use_reloader=False,
            request_handler=RedactingRequestHandler,  # no tokens or keys in the request log
        )
    finally:
        live.stop(app)  # the feed's listener lets go of its database connection


@main.command("worker")
@click.option("--interval", default=15.0, show_default=True, type=float, help="Seconds per tick.")
@click.option("--once", is_flag=True, help="Run one tick and exit.")
@with_appcontext
def worker(interval: float, once: bool) -> None:
    """Run the escalation, outage-restore, archive-chasing and inspection-reminder workers.

    Each derives its work from the database alone, so a restart misses nothing.
    """
    from backend.archive import chasing
    from backend.dispatch.escalation import EscalationPolicy, run_worker
    from backend.inspection import reminders
    from backend.network import restore_worker

    config = current_app.extensions["fieldline.config"]
    policy = EscalationPolicy.from_config(config)
    database = current_app.extensions["fieldline.db"]
    restored: list[int] = []
    reminded: list[int] = []
    inspection_reminders: list[int] = []
    helpers = [
        threading.Thread(
            target=lambda: restored.append(
                restore_worker.run_worker(database, interval=interval, once=once)
            ),
            name="restore_worker",
            daemon=True,
        ),
        threading.Thread(
            target=lambda: reminded.append(
                chasing.run_worker(
                    database, interval=interval, once=once, webhook=policy.webhook_url
                )
            ),
            name="archive_chasing",
            daemon=True,
        ),
        threading.Thread(
            target=lambda: inspection_reminders.append(
                reminders.run_worker(
                    database, interval=interval, once=once,
                    lead_days=config.INSPECTION_REMIND_DAYS,
                )
            ),
            name="inspection_reminders",
            daemon=True,
        ),
    ]  # fmt: skip
    for helper in helpers:
        helper.start()
    raised = run_worker(database, interval=interval, once=once, policy=policy)
    if once:
        for helper in helpers:
            helper.join()
    click.echo(f"escalation worker stopped; {raised} alerts raised")
    click.echo(f"outage restore worker: {sum(restored)} outages restored")
    click.echo(f"archive chasing: {sum(reminded)} reminders raised")
    click.echo(f"inspection reminders: {sum(inspection_reminders)} reminders written")


@main.command("paths")
def paths() -> None:
    """Show where Fieldline keeps its files."""
    click.echo(f"root {ROOT}\npython {sys.executable}")


def _register_domains() -> None:
    from backend.archive.cli import register as register_archive
    from backend.network.cli import register as register_network
    from backend.risk.cli import register as register_risk
    from backend.tracking.cli import register as register_tracking

    register_tracking(main)
    register_archive(main)
    register_network(main)
    register_risk(main)


_register_domains()


@main.group()
def blobs() -> None:
    """Photos and documents uploaded by handhelds."""


@blobs.command("gc")
@click.option(
    "--grace-days",
    default=7,
    show_default=True,
    type=int,
    help="Keep blobs touched more recently than this, referenced or not.",
)
@with_appcontext
def blobs_gc(grace_days: int) -> None:
    """Delete blobs no record references (never one a record, even a deleted one, still uses)."""
    from datetime import UTC, datetime, timedelta

    from sync.blobs.service import collect_garbage, remove_files
    from sync.http import blob_storage
    from sync.registry import registry

    database = current_app.extensions["fieldline.db"]
    with database.unit_of_work(actor="blob-gc") as session:
        deleted = collect_garbage(
            session, registry, now=datetime.now(UTC), grace=timedelta(days=grace_days)
        )
    remove_files(blob_storage(), deleted)  # only once the rows are gone for good
    click.echo(f"deleted {len(deleted)} unreferenced blob(s)")
