"""The `coop` command line: demo, db upgrade, tokens, serve, worker."""
from __future__ import annotations

import sys

import click

from config import Settings
from supply.server import SERVERS


@click.group()
def main() -> None:
    """Cooperative dispatch backend."""


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations to DATABASE_URL."""
    import migrations

    settings = Settings.from_env()
    migrations.upgrade(settings.database_url, revision)
    click.echo(f"database at {settings!r} is at {revision}")


@main.group()
def tokens() -> None:
    """API tokens (only their hashes are stored)."""


@tokens.command("create")
@click.option("--role", type=click.Choice(["manager", "host", "driver"]), required=True)
@click.option("--driver", "driver_id", type=int, default=None, help="the driver a driver token is bound to")
@click.option("--cooperative", default="default", show_default=True)
@click.option("--label", default=None)
def tokens_create(role: str, driver_id: int | None, cooperative: str, label: str | None) -> None:
    """Print a new token."""
    from supply.db.session import Database
    from supply.domain.errors import DomainError
    from supply.services.auth import create_token

    database = Database(Settings.from_env().database_url)
    try:
        with database.transaction() as session:
            token = create_token(session, role=role, cooperative_code=cooperative, driver_id=driver_id, label=label)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        database.dispose()
    click.echo(token)


@main.group()
def drivers() -> None:
    """Drivers (a driver token is bound to one)."""


@drivers.command("create")
@click.option("--name", required=True)
@click.option("--phone", default=None)
def drivers_create(name: str, phone: str | None) -> None:
    from supply.db.session import Database
    from supply.services.auth import create_driver

    database = Database(Settings.from_env().database_url)
    with database.transaction() as session:
        driver = create_driver(session, 1, name=name, phone=phone)
    database.dispose()
    click.echo(driver["id"])


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--server", type=click.Choice(SERVERS), default=SERVERS[0], show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=16, show_default=True, type=int,
              help="request threads per worker; concurrent orders in a worker share one transaction")
def serve(bind: str, server: str, workers: int, threads: int) -> None:
    """Run the HTTP service (granian by default, or gunicorn)."""
    from supply.server import run

    run(server, bind=bind, workers=workers, threads=threads, log_level=Settings.from_env().log_level)


@main.command()
@click.option("--burst", is_flag=True, help="run what is queued, then stop")
@click.option("--sweep-interval", default=30.0, show_default=True, type=float,
              help="seconds between sweeps for lost or stalled jobs")
def worker(burst: bool, sweep_interval: float) -> None:
    """A background-job worker: rq on REDIS_URL (or a database-polling loop without Redis)."""
    import logging

    from supply.worker import run_worker

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(settings, burst=burst, sweep_interval_s=sweep_interval)


@main.command()
@click.option("--out", "out_dir", default="coop-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--orders", "n_orders", default=27_500, show_default=True, type=int)
@click.option("--farms", "n_farms", default=300, show_default=True, type=int)
@click.option("--time-limit", "time_limit_s", default=15.0, show_default=True, type=float,
              help="the route solver's time limit (s)")
@click.option("--seed", default=7, show_default=True, type=int)
def demo(out_dir: str, n_orders: int, n_farms: int, time_limit_s: float, seed: int) -> None:
    """The main job: a county, a livestream spike, a fleet -> published plans and route sheets in OUT.

    Runs on its own fresh SQLite database in OUT, with jobs inline: no PostgreSQL or Redis needed.
    """
    from supply.demo import run_demo

    sys.exit(run_demo(out_dir=out_dir, n_orders=n_orders, n_farms=n_farms, time_limit_s=time_limit_s, seed=seed))


if __name__ == "__main__":
    main()
