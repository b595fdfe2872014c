"""`fieldline risk …`: install the credit models, re-rate customers (with a progress bar)."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from backend.db import utcnow


@click.group("risk")
def risk() -> None:
    """Customer risk: credit models and ratings."""


@risk.command("install-models")
@with_appcontext
def install_models() -> None:
    """Install the shipped credit models for the sizes that have none."""
    from backend.risk.credit_service import install_defaults

    with current_app.extensions["fieldline.db"].unit_of_work(actor="cli") as session:
        click.echo(f"{install_defaults(session, by='cli')} model(s) installed")


@risk.command("rerate")
@click.option("--all", "everyone", is_flag=True, help="Rate every active customer, due or not.")
@with_appcontext
def rerate(everyone: bool) -> None:
    """Rate the customers that are due (never rated, stale, or rated by an older model)."""
    from tqdm import tqdm

    from backend.risk.credit_service import due_for_rating, rerate_due

    config = current_app.extensions["fieldline.config"]
    every = timedelta(0) if everyone else timedelta(days=config.RISK_RERATE_DAYS)
    now = utcnow()
    with current_app.extensions["fieldline.db"].unit_of_work(actor="cli") as session:
        total = len(due_for_rating(session, now=now, every=every, large_kw=config.RISK_LARGE_KW))
        with tqdm(total=total, desc="credit ratings", unit="customer") as bar:
            rated = rerate_due(
                session, now=now, every=every, by="cli", trigger="on_demand",
                large_kw=config.RISK_LARGE_KW, progress=bar.update,
            )  # fmt: skip
    click.echo(f"{rated} customer(s) rated")


@risk.command("worker")
@click.option("--interval", default=300.0, show_default=True, type=float, help="Seconds per tick.")
@click.option("--once", is_flag=True, help="Run one tick and exit.")
@with_appcontext
def worker(interval: float, once: bool) -> None:
    """Run the scheduled re-rating."""
    from backend.risk.worker import run_worker

    config = current_app.extensions["fieldline.config"]
    rated = run_worker(
        current_app.extensions["fieldline.db"], every=timedelta(days=config.RISK_RERATE_DAYS),
        large_kw=config.RISK_LARGE_KW, interval=interval, once=once,
    )  # fmt: skip
    click.echo(f"credit rating worker stopped; {rated} rating(s) made")


def register(main: click.Group) -> None:
    """Add the `risk` group to the `fieldline` command."""
    main.add_command(risk)
