"""The HTTP servers `coop serve` runs, started from Python so no separate config file is needed.

granian (the default) reads and writes HTTP in Rust and hands each request to a pool of Python
threads, so more of the interpreter is left to the application: on the 2-core benchmark machine it
answered single orders about half again as fast as gunicorn's threaded workers
(`python benchmarks/ingest.py --server gunicorn` to compare). gunicorn stays available.
"""
from __future__ import annotations

import gc

SERVERS = ("granian", "gunicorn")


def served_app():
    """The app as a worker process serves it.

    Everything built at start (modules, the app, its schemas: over a hundred thousand objects) is moved
    out of the garbage collector's sight: it lives as long as the process, and otherwise every full
    collection walks it again while requests wait. On a batch of 1,000 orders that walk cost about a
    quarter of the request's CPU.
    """
    from supply.app import create_app

    app = create_app()
    gc.collect()
    gc.freeze()
    return app


def run(server: str, *, bind: str, workers: int, threads: int, log_level: str = "warning") -> None:
    if server == "gunicorn":
        run_gunicorn(bind=bind, workers=workers, threads=threads)
    elif server == "granian":
        run_granian(bind=bind, workers=workers, threads=threads, log_level=log_level)
    else:
        raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")


def run_granian(*, bind: str, workers: int, threads: int, log_level: str = "warning") -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    host, _, port = bind.rpartition(":")
    Server("supply.server:served_app", factory=True, interface=Interfaces.WSGI, address=host or "127.0.0.1",
           port=int(port), workers=workers, blocking_threads=threads, respawn_failed_workers=True,
           log_level=LogLevels(log_level.lower()), log_access=False).serve()


def run_gunicorn(*, bind: str, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):
        def __init__(self, options: dict):
            self.options = options
            super().__init__()

        def load_config(self):
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self):
            return served_app()

    _Gunicorn({"bind": bind, "workers": workers, "threads": threads, "worker_class": "gthread",
               "accesslog": None, "timeout": 60, "graceful_timeout": 10}).run()
