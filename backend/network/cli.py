"""`fieldline network import`: lines, areas, water assets, customers' areas with a progress bar."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from backend.auth.actor import actor_for_user
from backend.auth.models import User
from backend.errors import Problem
from backend.network.importing import KINDS, read_rows, run_import


@click.group("network")
def network() -> None:
    """Network: import lines, areas, water assets and customers' areas."""


@network.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), required=True, help="What the file holds.")
@click.option("--srid", type=int, default=4326, show_default=True, help="The file's EPSG code.")
@click.option("--dry-run", is_flag=True, help="Check every row, write nothing.")
@click.option("--encoding", type=click.Choice(["utf-8", "gbk"]), help="CSV encoding (guessed).")
@click.option("--user", "username", default="admin", show_default=True, help="Import as whom.")
@with_appcontext
def import_file(
    path: Path, kind: str, srid: int, dry_run: bool, encoding: str | None, username: str
) -> None:
    """Import a GeoJSON, CSV (WKT column) or XLSX file: all rows or none."""
    from tqdm import tqdm

    try:
        rows = read_rows(path.read_bytes(), path.name, encoding)
    except Problem as exc:
        raise click.ClickException(exc.detail) from exc
    database = current_app.extensions["fieldline.db"]
    with database.unit_of_work(actor=f"cli:{username}") as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        actor = actor_for_user(session, user)
        with tqdm(total=len(rows), desc=f"import {path.name}", unit="row") as bar:
            try:
                result = run_import(session=session, actor=actor, kind=kind, rows=rows,
                                    srid=srid, dry_run=dry_run, progress=bar.update)  # fmt: skip
            except Problem as exc:
                raise click.ClickException(exc.detail) from exc
    for error in result["errors"][:50]:
        click.echo(f"row {error['row']}, {error['column']}: {error['reason']}", err=True)
    click.echo(
        f"{result['status']}: {result['would_create']} new, {result['would_update']} updated, "
        f"{len(result['errors'])} problem(s)"
    )
    if result["status"] == "failed":
        raise SystemExit(1)


def register(main: click.Group) -> None:
    """Add the network commands to the `fieldline` command."""
    main.add_command(network)
