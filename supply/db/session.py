"""Engine and unit of work. Built from settings at an edge; nothing connects at import time."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from supply.domain.errors import ServiceUnavailable

T = TypeVar("T")


def make_engine(database_url: str, *, pool_size: int = 10) -> Engine:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    return create_engine(database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         pool_recycle=1800)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and upgrades locks lazily, which deadlocks
    # concurrent writers; take the write lock up front instead (BEGIN IMMEDIATE), and let waiting
    # writers queue on busy_timeout.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_connection_error(exc: BaseException) -> bool:
    """True when the client should simply retry (a 503): the database could not be reached, or it
    aborted the transaction to break a deadlock. Not when a statement itself was wrong."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        return any(word in text for word in (
            "connection", "could not connect", "server closed", "terminating", "shutting down",
            "the database system is", "database is locked", "deadlock detected",
            "could not serialize access"))
    return False


def is_conflict(exc: BaseException) -> bool:
    """True when PostgreSQL aborted the transaction to break a deadlock or a serialization conflict."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


class _RunAgain(Exception):
    """The transaction was aborted by a conflict and is to be run again."""


class Database:
    """An engine and its session factory. `transaction()` is the unit of work."""

    def __init__(self, database_url: str, *, pool_size: int = 10):
        self.url = database_url
        self.engine = make_engine(database_url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self, *, retryable: bool = False) -> Iterator[Session]:
        session = self.sessions()
        try:
            with session.begin():
                yield session
        except (OperationalError, DBAPIError) as exc:
            if retryable and is_conflict(exc):
                raise _RunAgain() from exc
            if is_connection_error(exc):
                raise ServiceUnavailable("the database is unavailable; retry shortly") from exc
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T], *, attempts: int = 3) -> T:
        """`work(session)` in a transaction, run again from the start (in a new one) when the database
        aborted it to break a deadlock or a serialization conflict: nothing of the aborted run is
        kept, so `work` must do all it does through the session.

        Intake writes its orders before it locks the figures, so two transactions can, rarely, wait
        on each other (one holds an order's key and waits for the figures, the other holds the
        figures and reaches for the same order); PostgreSQL picks one to abort, and it is run again.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction(retryable=attempt < attempts) as session:
                    return work(session)
            except _RunAgain:
                continue
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()


def insert_ignore(session, model, **values) -> None:
    """INSERT a row unless its key exists (concurrent creators race safely)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())
