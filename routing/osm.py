"""Read OpenStreetMap extracts into a drivable `Network` (with pyosmium).

Data © OpenStreetMap contributors, under the ODbL: networks read here carry that attribution.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping

import osmium

from .build import DEFAULT_SPEED_KMH, RoadWay, build_network
from .network import Network, Place

OSM_ATTRIBUTION = "© OpenStreetMap contributors (https://www.openstreetmap.org/copyright)"
DRIVABLE_CLASSES = frozenset(DEFAULT_SPEED_KMH)
# values of access, vehicle, motor_vehicle or motorcar that shut a way to our trucks
BLOCKED_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "military", "emergency"})
PLACE_KINDS = frozenset({"city", "town", "village", "hamlet"})

# speeds for "XX:zone" maxspeed values (e.g. "AD:urban", "FR:rural")
_ZONE_KMH = {"urban": 50, "rural": 90, "motorway": 120, "trunk": 100, "living_street": 20, "walk": 5}
_SPEED_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$")
_UNIT_KMH = {None: 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}


def parse_maxspeed(value: str | None) -> float | None:
    """A `maxspeed` tag as km/h, or None when it does not parse to a plausible speed.

    Accepts "50", "50 km/h", "30 mph", "AD:urban", "RU:rural", "walk", and "50;30" (the lowest).
    """
    if not value:
        return None
    speeds = []
    for part in value.split(";"):
        part = part.strip().lower()
        m = _SPEED_RE.match(part)
        if m:
            speeds.append(float(m.group(1)) * _UNIT_KMH[m.group(2)])
        elif ":" in part:
            zone = part.split(":", 1)[1]
            if zone in _ZONE_KMH:
                speeds.append(_ZONE_KMH[zone])
        elif part == "walk":
            speeds.append(5.0)
    speeds = [s for s in speeds if 3 <= s <= 150]
    return min(speeds) if speeds else None


def parse_direction(tags: Mapping[str, str]) -> tuple[bool, bool] | None:
    """(forward, backward) travel allowed on a way, or None when neither is dependable.

    oneway=yes/1/true, -1/reverse, no; roundabouts and motorways are one-way unless oneway=no;
    reversible or alternating ways are left out.
    """
    oneway = tags.get("oneway", "").strip().lower()
    if oneway in ("yes", "true", "1"):
        return True, False
    if oneway in ("-1", "reverse"):
        return False, True
    if oneway in ("reversible", "alternating"):
        return None
    if oneway in ("no", "false", "0"):
        return True, True
    if tags.get("junction") in ("roundabout", "circular"):
        return True, False
    if tags.get("highway") in ("motorway", "motorway_link"):
        return True, False
    return True, True


def is_accessible(tags: Mapping[str, str]) -> bool:
    """Whether a motor vehicle may use the way: the most specific access tag decides."""
    for key in ("motorcar", "motor_vehicle", "vehicle", "access"):
        value = tags.get(key)
        if value is not None:
            return value.strip().lower() not in BLOCKED_ACCESS
    return True


def road_label(tags: Mapping[str, str]) -> str:
    """What a driver reads on the sign: the ref (e.g. "CG-2") if any, else the name, else ""."""
    ref = tags.get("ref", "").split(";")[0].strip()
    return ref or tags.get("name", "").strip()


def read_osm(
    path: str | os.PathLike,
    *,
    exclude_classes: Iterable[str] = (),
    speeds_kmh: Mapping[str, float] | None = None,
) -> Network:
    """Read a .osm.pbf (or .osm) extract into a drivable `Network`.

    `exclude_classes` drops highway classes (e.g. ("track", "service")); `speeds_kmh` overrides
    default speeds per class (km/h). A usable `maxspeed` tag takes precedence over the default.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such OSM file: {path}")
    speeds = dict(DEFAULT_SPEED_KMH)
    speeds.update(speeds_kmh or {})
    excluded = set(exclude_classes)
    unknown = excluded - DRIVABLE_CLASSES
    if unknown:
        raise ValueError(f"unknown highway class(es) to exclude: {sorted(unknown)}")
    classes = DRIVABLE_CLASSES - excluded

    ways: list[RoadWay] = []
    places: list[Place] = []
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway", "place"))
    )
    for obj in processor:
        tags = obj.tags
        if obj.is_way():
            highway = tags.get("highway")
            if highway not in classes or tags.get("area") == "yes":
                continue
            tag_map = {k: tags.get(k) for k in _WAY_KEYS if k in tags}
            if not is_accessible(tag_map):
                continue
            direction = parse_direction(tag_map)
            if direction is None:
                continue
            try:
                nodes = [(n.ref, n.lon, n.lat) for n in obj.nodes]
            except osmium.InvalidLocationError:  # clipped extract: a node is missing
                continue
            if len(nodes) < 2:
                continue
            speed = parse_maxspeed(tag_map.get("maxspeed")) or speeds[highway]
            ways.append(
                RoadWay(
                    node_ids=tuple(r for r, _, _ in nodes),
                    coords=tuple((x, y) for _, x, y in nodes),
                    road_class=highway,
                    name=road_label(tag_map),
                    speed_kmh=speed,
                    forward=direction[0],
                    backward=direction[1],
                )
            )
        elif obj.is_node() and tags.get("place") in PLACE_KINDS and "name" in tags:
            loc = obj.location
            if loc.valid():
                places.append(Place(tags.get("name"), tags.get("place"), loc.lon, loc.lat))
    if not ways:
        raise ValueError(f"{path}: no drivable roads found")
    return build_network(ways, places=places, attribution=OSM_ATTRIBUTION, source=path.name)


_WAY_KEYS = (
    "highway", "oneway", "junction", "access", "vehicle", "motor_vehicle", "motorcar",
    "maxspeed", "ref", "name",
)
