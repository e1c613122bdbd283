"""The cooperative's own routing problems, written in the routing JSON format (``problem_to_dict``).

Each instance is one day of one hub, built the way the planning job builds it
(``supply.services.planning``: a farm's dry goods and its cold goods are two stops, service time by weight,
reloads of ``RELOAD_DURATION_S`` at the hub, ``MAX_TRIPS`` trips, the hub's cut-off, shifts, a mixed
fleet with one refrigerated van per 20 vehicles) on a real road extract:

* ``demo-300``, ``demo-1000``, ``demo-3000``: the demo's county (the bundled Andorra extract) and
  its day (``supply.demo``: farms at villages and along the roads near them, the demo's products,
  stock and windows, 27,500 orders per 300 farms sold out of the farms' stock), the demo's fleet
  of 20 vehicles scaled with the farms, so the fleet can carry the day.
* ``beatty-150``: a desert county on the Beatty, Nevada extract: farms anywhere on its long empty
  roads, a small fleet.
* ``andorra-pass-300``: the mountain county with the pass (Port d'Envalira) closed, so the farms
  beyond it cannot be reached; cold pickups are priority 2.

Road data © OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright).

    python benchmarks/coop_instances.py                  # every instance into benchmarks/coop/
    python benchmarks/coop_instances.py --only demo-300
    python benchmarks/coop_instances.py --only demo-3000 --out /tmp/coop   # the large one

Instances of up to a few hundred thousand matrix entries are kept in the repository as .json.gz;
``demo-3000`` (two 3,200 x 3,200 matrices, tens of MB even compressed) is kept as its recipe: this
script rebuilds it, byte for byte (its SHA-256 is in ``benchmarks/coop/instances.json``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing import Problem, Stop, Vehicle, load_network, problem_to_dict, travel_matrix  # noqa: E402
from supply.demo import FLEET, PRODUCTS, _farm_points  # noqa: E402
from supply.services.planning import MAX_TRIPS, RELOAD_DURATION_S, SERVICE_BASE_S, SERVICE_PER_100_KG_S  # noqa: E402

HERE = Path(__file__).resolve().parent / "coop"
ANDORRA = ROOT / "supply" / "data" / "roads" / "andorra-2021-10-28.osm.pbf"
SHARED_ROADS = Path(os.environ.get("ROADS_DATA", ROOT.parent / "shared" / "data" / "roads"))
BEATTY = SHARED_ROADS / "beatty-nv-2017.osm.pbf"
ENVALIRA = (1.7197, 42.5403)  # Port d'Envalira (lon, lat), the pass on the CG-2
ORDERS_PER_300_FARMS = 27_500
# An order has 1.2 lines of 1.6 units on average (supply.demo._spike).
UNITS_PER_ORDER_AND_SHARE = 1.2 * 1.6
STORED_LIMIT = 400_000  # matrix entries: larger instances are kept as recipes
WINDOWS = [("07:00", "17:00")] * 6 + [("08:00", "12:00"), ("13:00", "17:00")]

SPECS = {
    "demo-300": dict(roads="andorra", farms=300, seed=7, fleet_scale=1.0),
    "demo-1000": dict(roads="andorra", farms=1000, seed=7, fleet_scale=1000 / 300),
    "demo-3000": dict(roads="andorra", farms=3000, seed=7, fleet_scale=3000 / 300),
    "beatty-150": dict(roads="beatty", farms=150, seed=3, fleet_scale=0.4),
    "andorra-pass-300": dict(roads="andorra", farms=300, seed=11, fleet_scale=0.9, close_pass=True,
                             cold_priority=2),
}


def _s(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 3600 + int(m) * 60


def _networks():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_network(ANDORRA if name == "andorra" else BEATTY)
        return cache[name]
    return get


def _farm_day(rng: random.Random, n_farms: int):
    """Per farm: its window and the units of each product it hands over (the demo's recipe)."""
    stock = []
    for i in range(n_farms):
        window = rng.choice(WINDOWS)
        held = {}
        for sku, _, _, _, _, cold, _, (low, high), _ in PRODUCTS:
            if (cold and i % 10) or rng.random() < 0.3:
                continue
            held[sku] = rng.randint(low, high)
        stock.append((window, held))
    orders = ORDERS_PER_300_FARMS * n_farms / 300
    fill = {}
    for sku, *_, share in PRODUCTS:
        supply = sum(h.get(sku, 0) for _, h in stock)
        fill[sku] = min(1.0, orders * UNITS_PER_ORDER_AND_SHARE * share / supply) if supply else 0
    return [(w, {sku: int(round(q * fill[sku])) for sku, q in h.items()}) for w, h in stock]


def build(name: str, networks, *, with_nodes: bool = False):
    """The instance's Problem (with its network and the network node of each location, if asked)."""
    spec = SPECS[name]
    network = networks(spec["roads"])
    if spec.get("close_pass"):
        network = network.close_edges([network.nearest_edge(*ENVALIRA)])
    rng = random.Random(spec["seed"])
    places = [p for p in network.places if p.kind in ("town", "village")]
    hub_place = next((p for p in places if "Andorra la Vella" in p.name), None) or next(
        (p for p in network.places if p.kind in ("village", "town")), network.places[0])
    hub = network.snap(hub_place.lon, hub_place.lat, max_snap_m=5000).node
    if spec["roads"] == "andorra":
        points = [(lon, lat) for _, lon, lat in _farm_points(network, rng, spec["farms"])]
    else:  # a desert county: farms anywhere along its roads
        picks = rng.sample(range(network.n_nodes), spec["farms"])
        points = [(float(network.node_lon[k]), float(network.node_lat[k])) for k in picks]
    day = _farm_day(rng, spec["farms"])
    units = {p[0]: p for p in PRODUCTS}
    nodes = [int(hub)]
    stops = []
    for i, ((lon, lat), (window, handed)) in enumerate(zip(points, day)):
        node = int(network.snap(lon, lat, max_snap_m=5000).node)
        for cold in (False, True):
            lines = {sku: q for sku, q in handed.items() if q and units[sku][5] == cold}
            if not lines:
                continue
            weight = sum(q * units[sku][3] for sku, q in lines.items())
            volume = sum(q * units[sku][4] for sku, q in lines.items())
            nodes.append(node)
            stops.append(Stop(
                id=f"farm{i + 1}-{'cold' if cold else 'dry'}", location=len(nodes) - 1,
                weight_kg=math.ceil(weight - 1e-9), volume_l=math.ceil(volume - 1e-9),
                service_duration_s=SERVICE_BASE_S + int(SERVICE_PER_100_KG_S * weight / 100),
                window_start_s=_s(window[0]), window_end_s=_s(window[1]), cold_chain=cold,
                priority=spec.get("cold_priority", 1) if cold else 1))
    matrix = travel_matrix(network, nodes)
    vehicles = []
    for (_, plate, kg, litres, cold, per_km, per_use, count) in FLEET:
        for k in range(max(1, round(count * spec["fleet_scale"]))):
            vehicles.append(Vehicle(
                id=plate.split("-")[1].format(k + 1), capacity_weight_kg=kg, capacity_volume_l=litres,
                refrigerated=cold, shift_start_s=_s("06:00"), shift_end_s=_s("18:30"),
                cost_per_km=int(round(per_km * 100)), fixed_cost=int(round(per_use * 100)),
                max_trips=MAX_TRIPS))
    problem = Problem(durations_s=matrix.travel_time_s, distances_m=matrix.distance_m, stops=stops,
                      vehicles=vehicles, hub_location=0, hub_open_s=_s("06:00"),
                      hub_cutoff_s=_s("18:30"), reload_duration_s=RELOAD_DURATION_S, name=name)
    return (problem, network, nodes) if with_nodes else problem


# Fields of a re-plan (where a vehicle starts, its load aboard, the vehicle a pickup was published
# on): left out of an instance's JSON while they hold their defaults, so the recorded digests of
# instances made before they existed still hold.
_REPLAN_DEFAULTS = {"stops": {"published_vehicle": None},
                    "vehicles": {"start_location": None, "start_s": None, "initial_weight_kg": 0,
                                 "initial_volume_l": 0}}


def encode(problem: Problem) -> bytes:
    """The instance's JSON, compressed reproducibly (no time stamp in the gzip header)."""
    data = problem_to_dict(problem)
    for kind, defaults in _REPLAN_DEFAULTS.items():
        for item in data[kind]:
            for key, default in defaults.items():
                if key in item and item[key] == default:
                    del item[key]
    if data.get("reassign_penalty") == 0:
        del data["reassign_penalty"]
    raw = json.dumps(data, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=9, mtime=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated instance names")
    parser.add_argument("--out", default=str(HERE), help="folder for the .json.gz files")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(SPECS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index_path = HERE / "instances.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    networks = _networks()
    for name in names:
        started = time.perf_counter()
        problem = build(name, networks)
        blob = encode(problem)
        n = problem.num_locations
        stored = n * n <= STORED_LIMIT
        target = out if (stored or out != HERE) else None
        if target is not None:
            (target / f"{name}.json.gz").write_bytes(blob)
        weight = sum(s.weight_kg for s in problem.stops)
        index[name] = {
            "stops": len(problem.stops), "vehicles": len(problem.vehicles),
            "cold_stops": sum(s.cold_chain for s in problem.stops),
            "weight_kg": weight, "locations": n, "stored": stored,
            "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob),
            "recipe": dict(SPECS[name]),
        }
        print(f"{name}: {len(problem.stops)} stops, {len(problem.vehicles)} vehicles, {weight} kg, "
              f"{len(blob) / 1e6:.1f} MB compressed, {'stored' if stored else 'recipe only'}, "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    if out == HERE:
        index_path.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
