"""Hubs and vehicles: where pickups go and what carries them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from supply.db.models import Driver, Hub, Vehicle
from supply.domain.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class HubInput:
    name: str
    lat: float
    lon: float
    opens_at: time
    cutoff_at: time


def register_hub(session: Session, cooperative_id: int, hub: HubInput, snapper) -> dict:
    node_id = snap_m = None
    if snapper is not None:
        try:
            node_id, snap_m = snapper(hub.lon, hub.lat)
        except ValueError as exc:
            raise InvalidInput(f"the hub cannot be placed on the road network: {exc}", code="unreachable_point",
                               fields={"lat": [str(exc)], "lon": [str(exc)]}) from exc
    row = Hub(cooperative_id=cooperative_id, name=hub.name, lat=hub.lat, lon=hub.lon, opens_at=hub.opens_at,
              cutoff_at=hub.cutoff_at, node_id=node_id, snap_distance_m=snap_m)
    session.add(row)
    session.flush()
    return serialize_hub(row)


def get_hub(session: Session, cooperative_id: int, hub_id: int) -> Hub:
    hub = session.execute(select(Hub).where(Hub.id == hub_id, Hub.cooperative_id == cooperative_id)).scalar()
    if hub is None:
        raise NotFound(f"hub {hub_id} does not exist", fields={"hub_id": ["unknown hub"]})
    return hub


def list_hubs(session: Session, cooperative_id: int) -> list[dict]:
    return [serialize_hub(h) for h in session.execute(
        select(Hub).where(Hub.cooperative_id == cooperative_id).order_by(Hub.id)).scalars()]


def serialize_hub(hub: Hub) -> dict:
    return {"id": hub.id, "name": hub.name, "lat": hub.lat, "lon": hub.lon, "opens_at": hub.opens_at,
            "cutoff_at": hub.cutoff_at, "node_id": hub.node_id,
            "snap_distance_m": None if hub.snap_distance_m is None else round(hub.snap_distance_m, 1)}


def register_vehicle(session: Session, cooperative_id: int, **fields) -> dict:
    get_hub(session, cooperative_id, fields["hub_id"])
    driver_id = fields.get("driver_id")
    if driver_id is not None:
        driver = session.get(Driver, driver_id)
        if driver is None or driver.cooperative_id != cooperative_id:
            raise NotFound(f"driver {driver_id} does not exist", fields={"driver_id": ["unknown driver"]})
    vehicle = Vehicle(cooperative_id=cooperative_id, **fields)
    session.add(vehicle)
    session.flush()
    return serialize_vehicle(vehicle)


def list_vehicles(session: Session, cooperative_id: int, hub_id: int | None = None) -> list[dict]:
    query = select(Vehicle).where(Vehicle.cooperative_id == cooperative_id)
    if hub_id is not None:
        query = query.where(Vehicle.hub_id == hub_id)
    return [serialize_vehicle(v) for v in session.execute(query.order_by(Vehicle.id)).scalars()]


def serialize_vehicle(v: Vehicle) -> dict:
    return {"id": v.id, "hub_id": v.hub_id, "name": v.name, "plate": v.plate, "capacity_kg": v.capacity_kg,
            "capacity_l": v.capacity_l, "refrigerated": v.refrigerated, "shift_start": v.shift_start,
            "shift_end": v.shift_end, "max_duration_s": v.max_duration_s, "cost_per_km": v.cost_per_km,
            "cost_per_use": v.cost_per_use, "driver_id": v.driver_id, "active": v.active}
