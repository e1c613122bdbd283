"""Everything a door (web app, worker, CLI) needs, built from settings in one place."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from config import Settings
from supply.db.session import Database

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    # (lat, lon) -> (node id, snap distance m); None until a road network is configured.
    snapper: object | None = None
    # platform name -> webhook adapter (supply.platforms), from COOP_PLATFORM_SECRETS
    adapters: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    def close(self) -> None:
        self.db.dispose()


def build_services(settings: Settings, *, db: Database | None = None) -> Services:
    from supply.platforms import load_adapters

    return Services(settings=settings, db=db or Database(settings.database_url),
                    adapters=load_adapters(settings.platform_secrets))
