"""`fieldline archive import|export`: bulk customer files with a progress bar."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive import service
from backend.archive.documents import ImportJob
from backend.archive.importer import rows_for_export, run_import
from backend.archive.tabular import COLUMNS, write
from backend.auth.actor import Actor, actor_for_user
from backend.auth.models import User
from backend.errors import Problem
from backend.imports import new_job, read_upload


@click.group("archive")
def archive() -> None:
    """Customer archive: import and export files."""


def _actor(session: Session, username: str) -> Actor:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return actor_for_user(session, user)


@archive.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row, write nothing.")
@click.option("--encoding", type=click.Choice(["utf-8", "gbk"]), help="CSV encoding (guessed).")
@click.option("--user", "username", default="admin", show_default=True, help="Import as whom.")
@with_appcontext
def import_file(path: Path, dry_run: bool, encoding: str | None, username: str) -> None:
    """Import customers from a CSV/XLSX file: all rows or none."""
    from tqdm import tqdm

    try:
        upload = read_upload(path.read_bytes(), path.name, encoding)
    except Problem as exc:
        raise click.ClickException(exc.detail) from exc
    table = upload.table
    database = current_app.extensions["fieldline.db"]
    with database.unit_of_work(actor=f"cli:{username}") as session:
        actor = _actor(session, username)
        job = new_job(ImportJob, actor, upload, dry_run=dry_run, updated_rows=0)
        steps = len(table.rows) * (1 if dry_run else 2)
        with tqdm(total=steps, desc=f"import {path.name}", unit="row") as bar:
            run_import(session=session, actor=actor, table=table, job=job, progress=bar.update)
    for error in job.errors[:50]:
        click.echo(f"row {error['row']}, {error['column']}: {error['reason']}", err=True)
    click.echo(
        f"{job.status}: {job.created_rows} new, {job.updated_rows} changed, "
        f"{len(job.errors)} problem(s)"
    )
    if job.status == "failed":
        raise SystemExit(1)


@archive.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--q", "query", default=None, help="Free-text search.")
@click.option("--user", "username", default="admin", show_default=True)
@with_appcontext
def export_file(path: Path, query: str | None, username: str) -> None:
    """Export the customers in the user's scope (matching --q) to CSV or XLSX."""
    database = current_app.extensions["fieldline.db"]
    with database.unit_of_work(actor=f"cli:{username}") as session:
        actor = _actor(session, username)
        statement = service.find_customers(
            session=session, actor=actor, filters={"q": query} if query else {},
            dialect=database.dialect,
        )  # fmt: skip
        rows = rows_for_export(session.scalars(statement), session)
    file_format = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
    path.write_bytes(write(rows, [c for c, _ in COLUMNS], file_format))
    click.echo(f"{len(rows)} customer(s) written to {path}")


def register(main: click.Group) -> None:
    """Add the archive commands to the `fieldline` command."""
    main.add_command(archive)
