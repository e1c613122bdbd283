"""Shared fixtures. The database is made by the Alembic migrations, as in production.

With DATABASE_URL pointing at PostgreSQL (and REDIS_URL set) every real-service test runs; without,
they run on an embedded SQLite file. COOP_REQUIRE_SERVICES=1 (set by CI) turns a skip for a missing
service into a failure.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from config import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COOP_SHARED_DIR", ROOT.parent / "shared"))
PG_URL = os.environ.get("DATABASE_URL", "") if os.environ.get("DATABASE_URL", "").startswith("postgresql") else ""
REDIS_URL = os.environ.get("REDIS_URL", "")

# Every table a test may write, children first.
TABLES = None


def require_service(available: bool, what: str) -> None:
    if available:
        return
    if os.environ.get("COOP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required in this run but is not configured")
    pytest.skip(f"{what} not configured")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    import migrations

    url = PG_URL or f"sqlite:///{tmp_path_factory.mktemp('db') / 'coop.sqlite3'}"
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def database(database_url):
    from supply.db.session import Database

    db = Database(database_url)
    yield db
    db.dispose()


def _clean(database) -> None:
    from supply.db.models import Base

    names = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "cooperatives"]
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for name in names:
                conn.execute(text(f"DELETE FROM {name}"))
        else:
            conn.execute(text("TRUNCATE " + ", ".join(names) + " RESTART IDENTITY CASCADE"))
        conn.execute(text("DELETE FROM cooperatives WHERE id <> 1"))


@pytest.fixture
def db(database):
    _clean(database)
    from supply.api.auth import clear_token_cache

    clear_token_cache()
    return database


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, platform_secrets={"generic": "test-secret", "testshop": "shop-secret"})


@pytest.fixture
def app(db, settings):
    from supply.app import create_app
    from supply.wiring import build_services

    return create_app(settings, services=build_services(settings, db=db))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(db):
    from supply.services.auth import create_driver, create_token

    with db.transaction() as session:
        driver = create_driver(session, 1, name="Ma Jun", phone="+86 138 0000 0001")
        other = create_driver(session, 1, name="Li Wei", phone="+86 138 0000 0002")
        return {
            "manager": create_token(session, role="manager"),
            "host": create_token(session, role="host"),
            "driver": create_token(session, role="driver", driver_id=driver["id"]),
            "other_driver": create_token(session, role="driver", driver_id=other["id"]),
            "driver_id": driver["id"],
            "other_driver_id": other["id"],
        }


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def manager(tokens):
    return auth(tokens["manager"])


@pytest.fixture
def host(tokens):
    return auth(tokens["host"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(db, database_url, tmp_path):
    """`coop serve` (gunicorn) in a subprocess on a free loopback port."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, COOP_LOG_LEVEL="WARNING",
               COOP_PLATFORM_SECRETS='{"generic": "test-secret"}')
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "supply.cli", "serve", "--bind", f"127.0.0.1:{port}",
                             "--workers", "2", "--threads", "16"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("server did not start: " + (tmp_path / "server.log").read_text())
    yield base
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
