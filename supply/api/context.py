from __future__ import annotations

from flask import current_app


def services():
    """The app's wiring (database, settings, road network, job dispatcher)."""
    return current_app.extensions["coop"]
