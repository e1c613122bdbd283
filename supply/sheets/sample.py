"""A sample route sheet on a small made-up valley network, for tests and previews.

    python -m supply.sheets.sample OUTDIR

writes OUTDIR/sheet.html, sheet.pdf, map.svg and map.png.

The network is a valley road with side roads up to the farms; the route drives the hub's
morning trip, comes back to unload, and goes out again, so the sheet shows two trips.
Names are deliberately awkward: Chinese, mixed scripts, and one that is HTML.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from .model import LonLat, RouteSheet, SheetItem, SheetLeg, SheetStop

TZ = ZoneInfo("Asia/Shanghai")
VALLEY_ROAD = "X071 县道"
HUB_INDEX = 2
VALLEY_KMH = 35.0
SIDE_KMH = 15.0
SERVICE_S = 600

#: (sku, name, unit, kg per unit, litres per unit, cold chain)
PRODUCTS = {
    "NOODLE-500": ("荞麦面 500 g", "bag", 0.5, 0.8, False),
    "EGG-30": ("土鸡蛋 30枚", "tray", 1.9, 4.0, False),
    "YAK-KG": ("牦牛肉", "kg", 1.0, 1.2, True),
    "HONEY-1": ("Wildflower honey 野蜂蜜", "jar", 1.2, 1.0, False),
    "APPLE-5": ("Apples 苹果 5 kg", "box", 5.2, 9.0, False),
}


@dataclass(frozen=True)
class _Farm:
    stop_id: str
    name: str
    phone: str
    junction: int  # index on the valley road where its side road starts
    side_road: str
    side: tuple[LonLat, ...]  # from the junction (exclusive) up to the farm
    window: tuple[dt.time, dt.time] | None
    items: tuple[tuple[str, float], ...]


def _valley() -> list[LonLat]:
    return [(round(103.80 + 0.012 * i, 6), round(30.00 + 0.008 * math.sin(i / 3), 6))
            for i in range(30)]


def _spur(start: LonLat, steps: int, north: bool, wiggle: float) -> tuple[LonLat, ...]:
    sign = 1 if north else -1
    return tuple((round(start[0] + wiggle * math.sin(k), 6),
                  round(start[1] + sign * 0.006 * k, 6)) for k in range(1, steps + 1))


def _farms(valley: list[LonLat]) -> list[_Farm]:
    spec = [
        ("F-01", "青山农场", "138 0000 0001", 5, "", 3, True, None,
         (("NOODLE-500", 120), ("EGG-30", 10))),
        ("F-02", "王大妈家庭农场", "139 0000 0002", 8, "Y203 乡道", 4, False,
         (dt.time(8, 30), dt.time(10, 0)), (("YAK-KG", 45),)),
        ("F-03", "<script>alert('x')</script> & Sons", "+86 135 0000 0003", 11, "", 2, True,
         None, (("HONEY-1", 24),)),
        ("F-04", "林家果园 Lin Orchard", "137 0000 0004", 15, "Y207 乡道", 5, True,
         (dt.time(9, 0), dt.time(12, 0)), (("APPLE-5", 40), ("EGG-30", 6))),
        ("F-05", "高山牦牛合作社", "136 0000 0005", 21, "牧道", 6, False,
         (dt.time(13, 0), dt.time(15, 30)), (("YAK-KG", 80), ("NOODLE-500", 60))),
        ("F-06", "荞麦坡 李氏", "", 25, "", 3, True, None, (("NOODLE-500", 200),)),
    ]
    return [
        _Farm(stop_id, name, phone, junction, road,
              _spur(valley[junction], steps, north, 0.002), window, items)
        for stop_id, name, phone, junction, road, steps, north, window, items in spec
    ]


def _metres(a: LonLat, b: LonLat) -> float:
    kx = math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot((b[0] - a[0]) * kx, b[1] - a[1]) * 111_320.0


def _length(points: list[LonLat]) -> float:
    return sum(_metres(p, q) for p, q in zip(points, points[1:], strict=False))


class _Place:
    def __init__(self, junction: int, side_road: str = "", side: tuple[LonLat, ...] = ()):
        self.junction, self.side_road, self.side = junction, side_road, side


def _hop(valley: list[LonLat], a: _Place, b: _Place) -> tuple[list[LonLat], list[SheetLeg]]:
    """Down a's side road, along the valley, up b's side road."""
    down = list(reversed(a.side)) + [valley[a.junction]]
    step = 1 if b.junction >= a.junction else -1
    along = [valley[i] for i in range(a.junction, b.junction + step, step)]
    up = [valley[b.junction]] + list(b.side)
    legs = []
    for name, points, kmh in ((a.side_road, down, SIDE_KMH), (VALLEY_ROAD, along, VALLEY_KMH),
                              (b.side_road, up, SIDE_KMH)):
        distance = _length(points)
        if distance > 0:
            legs.append(SheetLeg(name, round(distance), round(distance / (kmh / 3.6))))
    path = down + along[1:] + up[1:]
    return path, legs


def _background(valley: list[LonLat], farms: list[_Farm]) -> list[list[LonLat]]:
    roads = [valley]
    roads += [[valley[f.junction], *f.side] for f in farms]
    # Side roads with no farm on today's route, and a track over the ridge.
    for junction, steps, north in ((3, 4, False), (13, 3, False), (18, 5, True), (27, 4, False)):
        roads.append([valley[junction], *_spur(valley[junction], steps, north, 0.003)])
    ridge = [(103.86 + 0.01 * k, 30.045 + 0.004 * math.cos(k)) for k in range(12)]
    roads.append([valley[4], ridge[0]])
    roads.append(ridge)
    return [list(road) for road in roads]


def sample_sheet(route_id: str = "R-7", base_url: str = "https://coop.example") -> RouteSheet:
    """Two trips out of the hub: four farms, back to unload, two more farms."""
    valley = _valley()
    farms = _farms(valley)
    hub = _Place(HUB_INDEX)
    order: list[_Farm | None] = [farms[0], farms[1], farms[2], farms[3], None, farms[4],
                                 farms[5]]
    departure = dt.datetime(2026, 11, 24, 7, 30, tzinfo=TZ)
    clock = departure
    load_kg = load_l = 0.0
    previous: _Place = hub
    stops, path = [], []
    for sequence, farm in enumerate(order, start=1):
        here = hub if farm is None else _Place(farm.junction, farm.side_road, farm.side)
        line, legs = _hop(valley, previous, here)
        path.append(line)
        clock += dt.timedelta(seconds=sum(leg.duration_s for leg in legs))
        if farm is not None and farm.window and clock.time() < farm.window[0]:
            clock = dt.datetime.combine(clock.date(), farm.window[0], tzinfo=TZ)
        items = () if farm is None else tuple(
            SheetItem(sku, PRODUCTS[sku][0], qty, PRODUCTS[sku][1],
                      round(qty * PRODUCTS[sku][2], 1), PRODUCTS[sku][4])
            for sku, qty in farm.items)
        if farm is None:
            load_kg = load_l = 0.0
        else:
            load_kg += sum(item.weight_kg for item in items)
            load_l += sum(qty * PRODUCTS[sku][3] for sku, qty in farm.items)
        stop_id = "RELOAD-1" if farm is None else farm.stop_id
        stops.append(SheetStop(
            sequence=sequence, kind="reload" if farm is None else "pickup", stop_id=stop_id,
            farm_name="县城仓库 (unload)" if farm is None else farm.name,
            phone="" if farm is None else farm.phone,
            lon=here.side[-1][0] if here.side else valley[here.junction][0],
            lat=here.side[-1][1] if here.side else valley[here.junction][1],
            arrival=clock,
            window_start=farm.window[0] if farm and farm.window else None,
            window_end=farm.window[1] if farm and farm.window else None,
            items=items, load_after_kg=round(load_kg, 1), load_after_l=round(load_l, 1),
            legs_from_previous=tuple(legs),
            collect_url=f"{base_url}/driver/routes/{route_id}/stops/{stop_id}/collected",
        ))
        clock += dt.timedelta(seconds=SERVICE_S)
        previous = here
    line, return_legs = _hop(valley, previous, hub)
    path.append(line)
    return_at = clock + dt.timedelta(seconds=sum(leg.duration_s for leg in return_legs))
    all_legs = [leg for stop in stops for leg in stop.legs_from_previous] + return_legs
    return RouteSheet(
        route_id=route_id, plan_id="P-2026-11-24-HUB1", plan_version=3,
        cooperative_name="云岭山货合作社 Yunling Mountain Co-op", hub_name="县城仓库 County hub",
        hub_lon=valley[HUB_INDEX][0], hub_lat=valley[HUB_INDEX][1],
        vehicle_name="Foton 冷藏车 2 t", vehicle_plate="云A·12345", driver_name="张师傅",
        date=departure.date(), departure=departure, return_at=return_at,
        total_distance_m=sum(leg.distance_m for leg in all_legs),
        total_duration_s=(return_at - departure).total_seconds(),
        stops=tuple(stops), return_legs=tuple(return_legs), route_path=tuple(path),
        background_roads=_background(valley, farms),
        attribution="© OpenStreetMap contributors",
        route_url=f"{base_url}/driver/routes/{route_id}",
    )


def write_preview(outdir: Path, sheet: RouteSheet | None = None) -> list[Path]:
    from . import render_html, render_map_png, render_map_svg, render_pdf

    sheet = sheet or sample_sheet()
    outdir.mkdir(parents=True, exist_ok=True)
    files = {
        "sheet.html": render_html(sheet).encode("utf-8"),
        "sheet.pdf": render_pdf(sheet),
        "map.svg": render_map_svg(sheet).encode("utf-8"),
        "map.png": render_map_png(sheet),
    }
    written = []
    for name, data in files.items():
        path = outdir / name
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m supply.sheets.sample OUTDIR", file=sys.stderr)
        return 2
    for path in write_preview(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
