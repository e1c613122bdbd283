"""gunicorn, started from Python so `coop serve` needs no separate config file."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from supply.app import create_app

        return create_app()


def run_gunicorn(*, bind: str, workers: int, threads: int) -> None:
    _Gunicorn({"bind": bind, "workers": workers, "threads": threads, "worker_class": "gthread",
               "accesslog": None, "timeout": 60, "graceful_timeout": 10}).run()
