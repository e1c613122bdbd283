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
    # (lon, lat) -> (node id, snap distance m); None until a road network is configured.
    snapper: object | None = None
    # platform name -> webhook adapter (supply.platforms), from COOP_PLATFORM_SECRETS
    adapters: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    @property
    def network(self):
        """The county road network (routing.Network), loaded on first use."""
        if "network" not in self.extras:
            from supply.roads import load_county_network

            self.extras["network"] = load_county_network(self.settings.road_network)
        return self.extras["network"]

    @property
    def job_handlers(self) -> dict:
        """Job kind -> handler: supply.job_handlers' table, read on first use (it imports the use
        cases), plus the kinds a test adds to this Services."""
        if "job_handlers" not in self.extras:
            from supply.job_handlers import JOB_HANDLERS

            self.extras["job_handlers"] = dict(JOB_HANDLERS)
        return self.extras["job_handlers"]

    def close(self) -> None:
        self.db.dispose()


def build_services(settings: Settings, *, db: Database | None = None) -> Services:
    from supply.platforms import load_adapters

    services = Services(settings=settings, db=db or Database(settings.database_url),
                        adapters=load_adapters(settings.platform_secrets))
    services.snapper = _lazy_snapper(services)
    return services


def _lazy_snapper(services: Services):
    def snap(lon: float, lat: float) -> tuple[int, float]:
        from supply.roads import make_snapper

        return make_snapper(services.network, services.settings.max_snap_distance_m)(lon, lat)

    return snap
