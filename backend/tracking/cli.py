"""Tracking commands: ingest, vehicles credentials, tracking partitions, simulate."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from backend.config import ROOT, Config


@click.group("ingest", invoke_without_command=True)
@click.option("--client-id", default=None, help="[default: INGEST_CLIENT_ID or fieldline-ingest]")
@click.option(
    "--shared-group",
    default=None,
    help="MQTT 5 shared subscription group ($share/GROUP/...) so workers split the stream "
    "[default: INGEST_SHARED_GROUP].",
)
@click.option("--batch-size", default=None, type=int, help="[default: INGEST_BATCH_SIZE or 500]")
@click.option("--username", default=None, help="[default: MQTT_USERNAME]")
@click.option("--password", default=None, help="[default: MQTT_PASSWORD]")
@click.option("--no-orders", is_flag=True, help="Do not publish queued orders from this worker.")
@click.option(
    "--mqtt-version",
    default=None,
    type=click.Choice(["4", "5"]),
    help="5 for Mosquitto/EMQX; 4 (3.1.1) for the embedded amqtt broker "
    "[default: MQTT_VERSION or 5].",
)
@click.pass_context
def ingest(
    ctx: click.Context,
    client_id: str | None,
    shared_group: str | None,
    batch_size: int | None,
    username: str | None,
    password: str | None,
    no_orders: bool,
    mqtt_version: str | None,
) -> None:
    """Run an MQTT ingest worker: store positions and terminal events, publish orders."""
    if ctx.invoked_subcommand is not None:
        return
    from backend.tracking.checkpoints import arrival_rules
    from backend.tracking.ingest.worker import IngestSettings, run_forever
    from backend.wiring import open_database

    config = Config()
    logging.basicConfig(level=config.LOG_LEVEL)
    client_id = client_id or config.INGEST_CLIENT_ID or "fieldline-ingest"
    settings = IngestSettings(
        mqtt_url=config.MQTT_URL,
        topic_root=config.MQTT_TOPIC_ROOT,
        client_id=client_id,
        username=username or config.MQTT_USERNAME,
        password=password or config.MQTT_PASSWORD,
        shared_group=shared_group or config.INGEST_SHARED_GROUP,
        batch_size=batch_size or config.INGEST_BATCH_SIZE,
        linger_s=config.INGEST_LINGER_MS / 1000,
        keepalive_s=config.INGEST_KEEPALIVE_SECONDS,
        publish_orders=not no_orders,
        mqtt_version=int(mqtt_version) if mqtt_version else config.MQTT_VERSION or 5,
        dead_letter_keep=timedelta(days=config.INGEST_DEAD_LETTER_DAYS),
        arrival=arrival_rules(config.as_flask()),
    )
    click.echo(f"ingest {client_id} from {config.MQTT_URL} topics {settings.topics()}")
    # No pre-ping: a batch on a connection the server dropped fails, is retried (nothing was
    # acknowledged) on a fresh one; a ping would cost every batch a round trip.
    run_forever(open_database(config.DATABASE_URL, pool_pre_ping=False), settings)


@ingest.command("replay-dead-letters")
@with_appcontext
def replay_dead_letters() -> None:
    """Run parked messages (no such vehicle when they came) through the ingest again."""
    from backend.tracking.ingest.dead_letters import replay_all
    from backend.tracking.ingest.pipeline import Pipeline

    database = current_app.extensions["fieldline.db"]
    pipeline = Pipeline(topic_root=current_app.config["MQTT_TOPIC_ROOT"], replay_limit=0)
    report = replay_all(database, pipeline)
    click.echo(
        f"replayed {report.attributed} message(s) ({report.stored} position(s) stored); "
        f"{report.still_unknown} still name no known vehicle"
    )


@click.group("vehicles")
def vehicles() -> None:
    """Vehicle terminals."""


@vehicles.command("credentials")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=ROOT / "var" / "mosquitto",
    show_default=True,
    help="Folder for Mosquitto's `passwd` and `acl` files.",
)
@click.option("--rotate", is_flag=True, help="Renew every password, not only missing ones.")
@click.option("--service-user", multiple=True, default=["ingest"], show_default=True)
@click.option(
    "--owner",
    default=None,
    help="user[:group] owning the files (mode 0600). Mosquitto 2 started as root reads them "
    "after dropping to user `mosquitto`, so that is the default when run as root and the "
    "user exists; pass '' to keep the invoking user.",
)
def credentials(out: Path, rotate: bool, service_user: tuple[str, ...], owner: str | None) -> None:
    """Generate per-vehicle MQTT logins and write Mosquitto's password and ACL files."""
    from backend.tracking import credentials as creds
    from backend.wiring import open_database

    config = Config()
    owner = creds.default_owner() if owner is None else owner or None
    with open_database(config.DATABASE_URL).unit_of_work(actor="system:credentials") as session:
        try:
            issued = creds.issue(session, rotate=rotate, service_users=service_user)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        passwd, acl = creds.write_files(session, out, config.MQTT_TOPIC_ROOT, owner)
    for item in issued:
        click.echo(f"{item.role:8} {item.username:24} {item.password}")
    owned = f" (owner {owner})" if owner else ""
    click.echo(f"{len(issued)} new password(s), shown once. Wrote {passwd} and {acl}{owned}.")
    click.echo("Reload Mosquitto (SIGHUP) to apply.")


@click.group("tracking")
def tracking() -> None:
    """Position storage maintenance."""


@tracking.command("partitions")
@click.option("--months-ahead", default=3, show_default=True, type=int)
@click.option(
    "--retention-months",
    default=None,
    type=int,
    help="Drop monthly partitions that ended more than this many months ago "
    "[default: POSITIONS_RETENTION_MONTHS or 13].",
)
def partitions(months_ahead: int, retention_months: int | None) -> None:
    """Create upcoming monthly position partitions and drop expired ones (PostgreSQL)."""
    from backend.db import Database
    from backend.tracking.partitions import drop_expired, ensure_partitions

    config = Config()
    retention_months = retention_months or config.POSITIONS_RETENTION_MONTHS
    database = Database(config.DATABASE_URL)
    if database.dialect != "postgresql":
        click.echo("SQLite keeps positions in one table; nothing to do.")
        return
    now = datetime.now(UTC)
    with database.engine.begin() as conn:
        names = ensure_partitions(conn, now, months_ahead)
        dropped = drop_expired(conn, now, retention_months)
    click.echo(f"partitions: {', '.join(names)}; dropped: {', '.join(dropped) or 'none'}")


@click.command("simulate")
@click.option("--vehicles", "count", default=4, show_default=True, type=int)
@click.option("--rate", default=1.0, show_default=True, type=float, help="Fixes per second each.")
@click.option("--duration", default=0.0, type=float, help="Seconds to run; 0 runs until Ctrl-C.")
@click.option("--outage-every", default=0.0, type=float, help="Mean seconds between outages.")
@click.option("--seed", default=None, type=int)
def simulate(
    count: int, rate: float, duration: float, outage_every: float, seed: int | None
) -> None:
    """Drive simulated vehicles over MQTT: positions, acks and order events like real terminals."""
    from backend.tracking.simulator import SimulatorSettings, run_simulator

    config = Config()
    logging.basicConfig(level=config.LOG_LEVEL)
    settings = SimulatorSettings(
        mqtt_url=config.MQTT_URL,
        topic_root=config.MQTT_TOPIC_ROOT,
        database_url=config.DATABASE_URL,
        vehicles=count,
        rate_hz=rate,
        duration_s=duration,
        outage_every_s=outage_every,
        seed=seed,
        password=config.SIMULATOR_MQTT_PASSWORD,
    )
    stats = run_simulator(settings)
    click.echo(f"simulator done: {stats}")


def register(main: click.Group) -> None:
    """Add the tracking commands to the `fieldline` command."""
    for command in (ingest, vehicles, tracking, simulate):
        main.add_command(command)
