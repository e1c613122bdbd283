"""The `coop` command line: demo, db upgrade, tokens, serve, worker."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from config import Settings
from supply.server import SERVERS


@click.group()
@click.version_option(package_name="coop-dispatch", prog_name="coop")
def main() -> None:
    """Cooperative dispatch backend.

    Settings come from the environment; a `.env` file in the current directory is read first (as
    config/example.env shows), without overriding variables already set.
    """
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


def _database():
    from supply.db.session import Database

    return Database(Settings.from_env().database_url)


def _run(work):
    """Run `work(session)` in one transaction; a refused input is a clean error, not a traceback."""
    from supply.domain.errors import DomainError

    database = _database()
    try:
        with database.transaction() as session:
            return work(session)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        database.dispose()


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


@db.command("current")
def db_current() -> None:
    """Print the schema revision(s) the database is at, and whether that is the newest."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    import migrations

    settings = Settings.from_env()
    heads = set(ScriptDirectory.from_config(migrations.alembic_config(settings.database_url)).get_heads())
    database = _database()
    try:
        with database.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        database.dispose()
    for revision in sorted(current) or ["(none: run `coop db upgrade`)"]:
        click.echo(revision)
    click.echo("up to date" if current == heads else f"behind: the newest is {', '.join(sorted(heads))}")


@main.group()
def cooperatives() -> None:
    """Cooperatives (tenants) on this deployment."""


@cooperatives.command("create")
@click.option("--code", required=True, help="short name used by tokens and commands, e.g. zhaosu")
@click.option("--name", required=True)
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
def cooperatives_create(code: str, name: str, timezone: str) -> None:
    from supply.services.auth import create_cooperative

    coop = _run(lambda session: create_cooperative(session, code=code, name=name, timezone=timezone))
    click.echo(f"{coop['id']}\t{coop['code']}\t{coop['name']}\t{coop['timezone']}")


@cooperatives.command("list")
def cooperatives_list() -> None:
    from supply.services.auth import list_cooperatives

    for coop in _run(list_cooperatives):
        click.echo(f"{coop['id']}\t{coop['code']}\t{coop['name']}\t{coop['timezone']}")


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


@tokens.command("list")
@click.option("--cooperative", default=None, help="only this cooperative's tokens")
def tokens_list(cooperative: str | None) -> None:
    """Each token's id, cooperative, role, driver, label, created and revoked dates (never the token)."""
    from supply.services.auth import list_tokens

    for t in _run(lambda session: list_tokens(session, cooperative_code=cooperative)):
        revoked = t["revoked_at"].isoformat(timespec="seconds") if t["revoked_at"] else "active"
        click.echo(f"{t['id']}\t{t['cooperative']}\t{t['role']}\t{t['driver_id'] or '-'}\t{t['label'] or '-'}\t"
                   f"{t['created_at'].isoformat(timespec='seconds')}\t{revoked}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by its id (from `coop tokens list`); running servers refuse it within 30 s."""
    from supply.services.auth import revoke_token

    token = _run(lambda session: revoke_token(session, token_id))
    click.echo(f"token {token['id']} ({token['role']}) revoked at {token['revoked_at'].isoformat(timespec='seconds')}")


@main.group()
def drivers() -> None:
    """Drivers (a driver token is bound to one)."""


@drivers.command("create")
@click.option("--name", required=True)
@click.option("--phone", default=None)
@click.option("--cooperative", default="default", show_default=True)
def drivers_create(name: str, phone: str | None, cooperative: str) -> None:
    from supply.services.auth import cooperative_id_of, create_driver

    driver = _run(lambda session: create_driver(session, cooperative_id_of(session, cooperative), name=name,
                                                phone=phone))
    click.echo(driver["id"])


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--server", type=click.Choice(SERVERS), default=SERVERS[0], show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=16, show_default=True, type=int,
              help="request threads per worker; concurrent orders in a worker share one transaction")
def serve(bind: str, server: str, workers: int, threads: int) -> None:
    """Run the HTTP service (granian by default, or gunicorn)."""
    import os
    import tempfile

    # The workers count into one set of figures for /metrics (prometheus_client's multiprocess mode);
    # `coop worker` shares them when PROMETHEUS_MULTIPROC_DIR is set for both.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="coop-metrics-"))
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


@main.command("platform-sync")
@click.option("--interval", default=0.2, show_default=True, type=float, help="seconds between listing-stock rounds")
@click.option("--retry-interval", default=30.0, show_default=True, type=float,
              help="seconds between retries of order details the platforms did not give")
def platform_sync(interval: float, retry_interval: float) -> None:
    """Keep the platforms' listing stock following ours; take order details as pushes arrive (with
    Redis); fetch again the order details, and send again the waybills, that the platforms did not
    give or take. Run one per deployment, beside the workers."""
    import logging
    import threading

    from supply.services.platform_links import (
        retry_order_details, retry_shipments, run_detail_drain, run_listing_sync,
    )
    from supply.wiring import build_services

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = build_services(settings)
    stop = threading.Event()
    threading.Thread(target=run_listing_sync, args=(services, stop), kwargs={"interval_s": interval}, daemon=True).start()
    # with Redis, order details are also taken here as they arrive, ahead of the queued jobs
    threading.Thread(target=run_detail_drain, args=(services, stop), daemon=True).start()
    try:
        while not stop.wait(retry_interval):
            retry_order_details(services, older_than_s=retry_interval)
            retry_shipments(services, older_than_s=retry_interval)
    except KeyboardInterrupt:
        stop.set()


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


@main.group()
def links() -> None:
    """Sign-in links for the pages: a driver's (QR code, reusable until it expires) or a one-time one."""


@links.command("create")
@click.option("--driver", "driver_id", type=int, default=None, help="a driver's link (bound to this driver)")
@click.option("--role", type=click.Choice(["manager", "host", "driver"]), default=None,
              help="manager or host for a one-time link (driver when --driver is given)")
@click.option("--hours", type=float, default=None, help="lifetime (default: 72 for a driver, 0.5 otherwise)")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True, envvar="COOP_PUBLIC_URL",
              help="the address phones reach the service at (COOP_PUBLIC_URL)")
@click.option("--qr", is_flag=True, help="also print the link as a QR code in the terminal")
def links_create(driver_id: int | None, role: str | None, hours: float | None, base_url: str, qr: bool) -> None:
    """Print a new sign-in link."""
    from datetime import timedelta

    from supply.db.session import Database
    from supply.domain.errors import DomainError
    from supply.services.web import create_link

    role = role or ("driver" if driver_id is not None else None)
    if role is None:
        raise click.UsageError("give --driver ID, or --role manager|host")
    database = Database(Settings.from_env().database_url)
    try:
        with database.transaction() as session:
            link = create_link(session, 1, role=role, driver_id=driver_id,
                               ttl=timedelta(hours=hours) if hours else None)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        database.dispose()
    url = f"{base_url.rstrip('/')}/s/{link['token']}"
    click.echo(url)
    click.echo(f"link {link['id']}, expires {link['expires_at'].isoformat()}", err=True)
    if qr:
        import segno

        segno.make(url, error="m").terminal(compact=True)


@links.command("revoke")
@click.argument("link_id", type=int)
def links_revoke(link_id: int) -> None:
    """Revoke a link: it signs no one in any more and the sessions it opened end."""
    from supply.db.session import Database
    from supply.domain.errors import DomainError
    from supply.services.web import revoke_link

    database = Database(Settings.from_env().database_url)
    try:
        with database.transaction() as session:
            revoke_link(session, 1, link_id)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        database.dispose()
    click.echo(f"link {link_id} revoked")


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--database-url", default=None, help="default: DATABASE_URL (e.g. sqlite:///coop-demo/coop-demo.sqlite3)")
@click.option("--chromium", default=None, help="the browser to drive (default: COOP_CHROMIUM or /usr/bin/chromium)")
def screenshots(out_dir: str, database_url: str | None, chromium: str | None) -> None:
    """PNG screenshots of every page (sign-in, console, host, driver) at phone and desktop size."""
    from supply.app import create_app
    from supply.web.screenshots import take_screenshots

    settings = Settings.from_env(**({"database_url": database_url} if database_url else {}))
    app = create_app(settings)
    try:
        written = take_screenshots(app, out_dir, chromium=chromium)
    except ImportError as exc:
        raise click.ClickException(f"{exc}: install the test extra (pip install -e '.[test]')") from exc
    finally:
        app.extensions["coop"].close()
    for path in written:
        click.echo(path)


from supply.cli_farms import farms as _farms  # noqa: E402

main.add_command(_farms)  # coop farms notify | statements | price


if __name__ == "__main__":
    main()
