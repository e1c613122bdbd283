"""The data a route sheet is drawn from: plain, frozen, already planned.

A route sheet knows nothing of the database or the web. The planning side builds one
``RouteSheet`` per published route and hands it to ``render_html``, ``render_pdf`` or
``render_map_svg``.

Shapes (units in the names; coordinates are WGS84 ``(lon, lat)`` pairs, in that order)::

    RouteSheet
        route_id, plan_id, plan_version   which published plan the sheet belongs to
        cooperative_name, hub_name        for the header
        hub_lon, hub_lat                  where every trip starts and ends
        vehicle_name, vehicle_plate, driver_name
        date                              the service day (datetime.date)
        departure, return_at              tz-aware datetimes; times print in departure's zone
        total_distance_m, total_duration_s
        stops                             tuple[SheetStop], in driving order
        return_legs                       tuple[SheetLeg]: roads from the last stop back to the hub
        route_path                        tuple of polylines, one per hop: hop i drives to
                                          stops[i], the last one returns to the hub
                                          (so len(stops) + 1 hops when the route has a path)
        background_roads                  tuple of polylines: the road network, drawn grey
        attribution                       e.g. "© OpenStreetMap contributors" when the network
                                          came from OSM; None when it needs no credit
        route_url                         page of the whole route (QR code on the sheet), or None

    SheetStop
        sequence                          1-based position printed on the sheet and the map
        kind                              "pickup" at a farm, or "reload": back at the hub to
                                          unload before the next trip
        stop_id, farm_name, phone, lon, lat
        arrival                           ETA, tz-aware datetime
        window_start, window_end          the farm's pickup window (datetime.time), or None
        items                             tuple[SheetItem]: what to collect
        load_after_kg, load_after_l       what is on the truck when leaving the stop
        legs_from_previous                tuple[SheetLeg]: roads from the previous stop (or hub)
        collect_url                       the stop-collected page (QR code per stop), or None

    SheetItem(sku, product_name, quantity, unit, weight_kg, cold_chain)
    SheetLeg(road_name, distance_m, duration_s)   an empty road_name prints as "unnamed road"

Sequences passed as lists are stored as tuples, so a sheet cannot change after it is built.
Bad input raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .i18n import N_

LonLat = tuple[float, float]
Polyline = tuple[LonLat, ...]

UNNAMED_ROAD = N_("unnamed road")  # translated where shown (the sheets catalog)
OSM_COPYRIGHT_URL = "https://www.openstreetmap.org/copyright"

StopKind = Literal["pickup", "reload"]
STOP_KINDS = ("pickup", "reload")


def _freeze(obj: object, name: str, value: Sequence) -> None:
    object.__setattr__(obj, name, tuple(value))


def _freeze_polylines(obj: object, name: str, value: Sequence[Sequence[Sequence[float]]]) -> None:
    frozen = tuple(tuple((float(p[0]), float(p[1])) for p in line) for line in value)
    object.__setattr__(obj, name, frozen)


@dataclass(frozen=True)
class SheetLeg:
    road_name: str
    distance_m: float
    duration_s: float = 0

    @property
    def display_name(self) -> str:
        from .i18n import _

        return self.road_name.strip() or _(UNNAMED_ROAD)


@dataclass(frozen=True)
class SheetItem:
    sku: str
    product_name: str
    quantity: float
    unit: str
    weight_kg: float
    cold_chain: bool = False


@dataclass(frozen=True)
class SheetStop:
    sequence: int
    kind: StopKind
    stop_id: str
    farm_name: str
    phone: str
    lon: float
    lat: float
    arrival: dt.datetime
    window_start: dt.time | None = None
    window_end: dt.time | None = None
    items: tuple[SheetItem, ...] = ()
    load_after_kg: float = 0.0
    load_after_l: float = 0.0
    legs_from_previous: tuple[SheetLeg, ...] = ()
    collect_url: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in STOP_KINDS:
            raise ValueError(f"kind: must be one of {STOP_KINDS}, got {self.kind!r}")
        if self.arrival.tzinfo is None:
            raise ValueError(f"arrival: stop {self.sequence} needs a timezone-aware datetime")
        _freeze(self, "items", self.items)
        _freeze(self, "legs_from_previous", self.legs_from_previous)

    @property
    def is_reload(self) -> bool:
        return self.kind == "reload"

    @property
    def weight_kg(self) -> float:
        return sum(item.weight_kg for item in self.items)

    @property
    def distance_from_previous_m(self) -> float:
        return sum(leg.distance_m for leg in self.legs_from_previous)

    @property
    def has_cold_chain(self) -> bool:
        return any(item.cold_chain for item in self.items)


@dataclass(frozen=True)
class RouteSheet:
    route_id: str
    plan_id: str
    plan_version: int
    cooperative_name: str
    hub_name: str
    hub_lon: float
    hub_lat: float
    vehicle_name: str
    vehicle_plate: str
    driver_name: str
    date: dt.date
    departure: dt.datetime
    return_at: dt.datetime
    total_distance_m: float
    total_duration_s: float
    stops: tuple[SheetStop, ...] = ()
    return_legs: tuple[SheetLeg, ...] = ()
    route_path: tuple[Polyline, ...] = ()
    background_roads: tuple[Polyline, ...] = field(default=(), repr=False)
    attribution: str | None = None
    route_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("departure", "return_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name}: needs a timezone-aware datetime")
        _freeze(self, "stops", self.stops)
        _freeze(self, "return_legs", self.return_legs)
        _freeze_polylines(self, "route_path", self.route_path)
        _freeze_polylines(self, "background_roads", self.background_roads)
        sequences = [stop.sequence for stop in self.stops]
        if sequences != sorted(set(sequences)):
            raise ValueError("stops: sequences must be unique and in driving order")
        if self.route_path and len(self.route_path) != len(self.stops) + 1:
            raise ValueError(
                f"route_path: expected one polyline per hop ({len(self.stops) + 1}), "
                f"got {len(self.route_path)}"
            )

    @property
    def pickups(self) -> tuple[SheetStop, ...]:
        return tuple(stop for stop in self.stops if not stop.is_reload)

    @property
    def trips(self) -> int:
        """Times the truck leaves the hub: one, plus one per reload stop."""
        return 1 + sum(1 for stop in self.stops if stop.is_reload)

    @property
    def total_weight_kg(self) -> float:
        return sum(stop.weight_kg for stop in self.pickups)

    @property
    def has_cold_chain(self) -> bool:
        return any(stop.has_cold_chain for stop in self.stops)

    @property
    def timezone(self) -> dt.tzinfo:
        return self.departure.tzinfo  # type: ignore[return-value]

    def trip_of_hop(self, hop: int) -> int:
        """1-based trip number of route_path[hop]: a reload stop ends a trip."""
        return 1 + sum(1 for stop in self.stops[:hop] if stop.is_reload)
