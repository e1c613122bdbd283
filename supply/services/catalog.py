"""Farms and products: what the cooperative registers before anything can be sold."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supply.db.models import Farm, Product, ProductBalance
from supply.domain.errors import Conflict, InvalidInput, NotFound

# (lon, lat) -> (road node id, snap distance in metres); raises ValueError when the point is off-network.
Snapper = Callable[[float, float], tuple[int, float]]


@dataclass(frozen=True)
class FarmInput:
    name: str
    lat: float
    lon: float
    phone: str | None = None
    window_start: time | None = None
    window_end: time | None = None


def register_farm(session: Session, cooperative_id: int, farm: FarmInput, snapper: Snapper | None) -> dict:
    node_id, snap_m = None, None
    if snapper is not None:
        try:
            node_id, snap_m = snapper(farm.lon, farm.lat)
        except ValueError as exc:
            raise InvalidInput(f"the farm cannot be placed on the road network: {exc}",
                               fields={"lat": [str(exc)], "lon": [str(exc)]}, code="unreachable_point") from exc
    row = Farm(cooperative_id=cooperative_id, name=farm.name, lat=farm.lat, lon=farm.lon, phone=farm.phone,
               window_start=farm.window_start, window_end=farm.window_end, node_id=node_id,
               snap_distance_m=snap_m)
    session.add(row)
    session.flush()
    return serialize_farm(row)


def list_farms(session: Session, cooperative_id: int) -> list[dict]:
    rows = session.execute(select(Farm).where(Farm.cooperative_id == cooperative_id).order_by(Farm.id)).scalars()
    return [serialize_farm(f) for f in rows]


def get_farm(session: Session, cooperative_id: int, farm_id: int) -> dict:
    farm = session.execute(select(Farm).where(Farm.id == farm_id, Farm.cooperative_id == cooperative_id)).scalar()
    if farm is None:
        raise NotFound(f"farm {farm_id} does not exist")
    return serialize_farm(farm)


def serialize_farm(farm: Farm) -> dict:
    return {"id": farm.id, "name": farm.name, "lat": farm.lat, "lon": farm.lon, "phone": farm.phone,
            "window_start": farm.window_start, "window_end": farm.window_end, "node_id": farm.node_id,
            "snap_distance_m": None if farm.snap_distance_m is None else round(farm.snap_distance_m, 1)}


@dataclass(frozen=True)
class ProductInput:
    sku: str
    name: str
    unit: str
    unit_weight_kg: float
    unit_volume_l: float
    cold_chain: bool = False
    shelf_life_days: int | None = None


def register_product(session: Session, cooperative_id: int, product: ProductInput) -> dict:
    savepoint = session.begin_nested()
    try:
        row = Product(cooperative_id=cooperative_id, **product.__dict__)
        session.add(row)
        session.flush()
        session.add(ProductBalance(product_id=row.id, declared=0, confirmed=0, reserved=0, held=0))
        session.flush()
    except IntegrityError as exc:
        savepoint.rollback()
        raise Conflict(f"a product with sku {product.sku!r} already exists", code="duplicate_sku",
                       fields={"sku": ["already exists"]}) from exc
    savepoint.commit()
    return serialize_product(row)


def list_products(session: Session, cooperative_id: int) -> list[dict]:
    rows = session.execute(select(Product).where(Product.cooperative_id == cooperative_id)
                           .order_by(Product.sku)).scalars()
    return [serialize_product(p) for p in rows]


def serialize_product(product: Product) -> dict:
    return {"id": product.id, "sku": product.sku, "name": product.name, "unit": product.unit,
            "unit_weight_kg": product.unit_weight_kg, "unit_volume_l": product.unit_volume_l,
            "cold_chain": product.cold_chain, "shelf_life_days": product.shelf_life_days}
