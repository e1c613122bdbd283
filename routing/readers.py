"""Read problems from files: Solomon VRPTW, VRPLIB/CVRPLIB, and the project's own JSON.

Benchmark files keep their own cost conventions, recorded in ``Instance.distance_scale``:

* Solomon: every edge is the Euclidean distance truncated to one decimal (DIMACS), travel time is
  the same value; stored as integers ``floor(10 * d)`` with times scaled by 10 as well, so
  ``plan.distance_m / 10`` is the cost in the file's convention.
* CVRPLIB (EUC_2D): distances rounded to the nearest integer (TSPLIB nint); scale 1. The fleet is
  not fixed in the X set, so the reader allows well above the minimum number of routes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from routing.model import UNREACHABLE, Problem, Stop, Vehicle

FORMATS = ("solomon", "vrplib", "json")


@dataclass(frozen=True)
class Instance:
    """A problem read from a file, with what is needed to report in the file's convention."""

    problem: Problem
    name: str
    distance_scale: int = 1
    coordinates: tuple = field(default=(), repr=False)

    def cost(self, plan) -> float:
        """The plan's cost in the file's convention (total distance for benchmark files)."""
        return plan.distance_m / self.distance_scale


def guess_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".vrp", ".vrplib"):
        return "vrplib"
    return "solomon"


def read(path: str | Path, fmt: str | None = None) -> Instance:
    """Read ``path`` in ``fmt`` (one of FORMATS; guessed from the suffix when None)."""
    fmt = fmt or guess_format(path)
    if fmt == "solomon":
        return read_solomon(path)
    if fmt == "vrplib":
        return read_vrplib(path)
    if fmt == "json":
        return read_json(path)
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def _dimacs(coords, scale: int = 10) -> list[list[int]]:
    return [[math.floor(scale * math.hypot(xi - xj, yi - yj)) for (xj, yj) in coords]
            for (xi, yi) in coords]


def read_solomon(path: str | Path) -> Instance:
    """A Solomon VRPTW file: fleet size and capacity, then one line per customer (0 = depot).

    Stop ids are the customer numbers of the file; times and distances are scaled by 10.
    """
    lines = Path(path).read_text().splitlines()
    name = next((ln.strip() for ln in lines if ln.strip()), Path(path).stem)
    rows, fleet, capacity = [], None, None
    for k, line in enumerate(lines):
        upper = line.upper()
        if "NUMBER" in upper and "CAPACITY" in upper:
            fleet, capacity = (int(x) for x in lines[k + 1].split()[:2])
        parts = line.split()
        if len(parts) == 7 and all(_is_number(p) for p in parts):
            rows.append([float(p) for p in parts])
    if fleet is None or not rows:
        raise ValueError(f"{path}: not a Solomon file (no VEHICLE or CUSTOMER section)")
    coords = [(r[1], r[2]) for r in rows]
    matrix = _dimacs(coords)
    depot = rows[0]
    stops = tuple(
        Stop(id=int(r[0]), location=i, weight_kg=int(r[3]), service_duration_s=int(10 * r[6]),
             window_start_s=int(10 * r[4]), window_end_s=int(10 * r[5]))
        for i, r in enumerate(rows) if i > 0
    )
    vehicles = tuple(
        Vehicle(id=v + 1, capacity_weight_kg=capacity, shift_start_s=int(10 * depot[4]),
                shift_end_s=int(10 * depot[5]), cost_per_km=1000)
        for v in range(fleet)
    )
    problem = Problem(durations_s=matrix, distances_m=matrix, stops=stops, vehicles=vehicles,
                      hub_location=0, hub_open_s=int(10 * depot[4]),
                      hub_cutoff_s=int(10 * depot[5]), name=name)
    return Instance(problem, name, 10, tuple(coords))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_vrplib(path: str | Path) -> Instance:
    """A VRPLIB/CVRPLIB file (EUC_2D coordinates or an EXPLICIT full/lower matrix).

    Stop ids are the node numbers of the file; the depot is the first DEPOT_SECTION node.
    Fleet: the VEHICLES field if present, otherwise unlimited in effect (half again the
    minimum by demand, plus three).
    """
    specs: dict[str, str] = {}
    sections: dict[str, list[list[str]]] = {}
    current = None
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if ":" in line and not line[0].isdigit() and not line[0] == "-":
            key, _, value = line.partition(":")
            specs[key.strip().upper()] = value.strip().strip('"')
            current = None
        elif line.upper().endswith("_SECTION"):
            current = line.upper()
            sections[current] = []
        elif current is not None:
            sections[current].append(line.split())
        else:
            raise ValueError(f"{path}: cannot read line {raw!r}")
    n = int(specs.get("DIMENSION", 0))
    if n <= 1 or "CAPACITY" not in specs:
        raise ValueError(f"{path}: DIMENSION and CAPACITY are required")
    capacity = int(specs["CAPACITY"])
    kind = specs.get("EDGE_WEIGHT_TYPE", "EUC_2D").upper()
    coords: tuple = ()
    if kind == "EUC_2D":
        node_rows = sections.get("NODE_COORD_SECTION")
        if not node_rows or len(node_rows) != n:
            raise ValueError(f"{path}: NODE_COORD_SECTION must have {n} lines")
        coords = tuple((float(r[1]), float(r[2])) for r in node_rows)
        matrix = [[int(math.floor(math.hypot(a[0] - b[0], a[1] - b[1]) + 0.5)) for b in coords]
                  for a in coords]
    elif kind == "EXPLICIT":
        matrix = _explicit(specs.get("EDGE_WEIGHT_FORMAT", "FULL_MATRIX").upper(),
                           [float(x) for r in sections.get("EDGE_WEIGHT_SECTION", []) for x in r],
                           n, path)
    else:
        raise ValueError(f"{path}: EDGE_WEIGHT_TYPE {kind} is not supported")
    demand = {int(r[0]): int(r[1]) for r in sections.get("DEMAND_SECTION", [])}
    depots = [int(r[0]) for r in sections.get("DEPOT_SECTION", []) if int(r[0]) > 0]
    depot = depots[0] if depots else 1
    service = {int(r[0]): int(r[1]) for r in sections.get("SERVICE_TIME_SECTION", [])}
    stops = tuple(
        Stop(id=node, location=node - 1, weight_kg=demand.get(node, 0),
             service_duration_s=service.get(node, 0))
        for node in range(1, n + 1) if node != depot
    )
    if "VEHICLES" in specs:
        fleet = int(specs["VEHICLES"])
    else:
        minimum = math.ceil(sum(s.weight_kg for s in stops) / capacity) if capacity else 1
        fleet = min(len(stops), minimum * 3 // 2 + 3)
    vehicles = tuple(
        Vehicle(id=v + 1, capacity_weight_kg=capacity, shift_end_s=UNREACHABLE - 1,
                cost_per_km=1000)
        for v in range(max(fleet, 1))
    )
    name = specs.get("NAME", Path(path).stem)
    problem = Problem(durations_s=matrix, distances_m=matrix, stops=stops, vehicles=vehicles,
                      hub_location=depot - 1, name=name)
    return Instance(problem, name, 1, coords)


def _explicit(fmt: str, values: list[float], n: int, path) -> list[list[int]]:
    m = [[0] * n for _ in range(n)]
    it = iter(int(round(v)) for v in values)
    try:
        if fmt == "FULL_MATRIX":
            for i in range(n):
                for j in range(n):
                    m[i][j] = next(it)
        elif fmt in ("LOWER_ROW", "LOWER_DIAG_ROW"):
            for i in range(n):
                for j in range(i + 1 if fmt == "LOWER_DIAG_ROW" else i):
                    m[i][j] = m[j][i] = next(it)
        elif fmt in ("UPPER_ROW", "UPPER_DIAG_ROW"):
            for i in range(n):
                for j in range(i if fmt == "UPPER_DIAG_ROW" else i + 1, n):
                    m[i][j] = m[j][i] = next(it)
        else:
            raise ValueError(f"{path}: EDGE_WEIGHT_FORMAT {fmt} is not supported")
    except StopIteration:
        raise ValueError(f"{path}: EDGE_WEIGHT_SECTION is too short") from None
    return m


# ---------------------------------------------------------------------------------------------
# The project's JSON format.


def problem_to_dict(problem: Problem) -> dict:
    """The JSON-ready form read back by ``problem_from_dict``."""
    return {
        "name": problem.name,
        "hub_location": problem.hub_location,
        "hub_open_s": problem.hub_open_s,
        "hub_cutoff_s": problem.hub_cutoff_s,
        "reload_duration_s": problem.reload_duration_s,
        "durations_s": problem.durations_s.tolist(),
        "distances_m": problem.distances_m.tolist(),
        "stops": [dict(vars(s)) for s in problem.stops],
        "vehicles": [dict(vars(v)) for v in problem.vehicles],
    }


def problem_from_dict(data: dict) -> Problem:
    """A Problem from its JSON form; ValueError naming the field on bad input."""
    if not isinstance(data, dict):
        raise ValueError("problem: expected a JSON object")
    for key in ("durations_s", "distances_m", "stops", "vehicles"):
        if key not in data:
            raise ValueError(f"problem: missing field {key!r}")
    try:
        stops = tuple(Stop(**s) for s in data["stops"])
        vehicles = tuple(Vehicle(**v) for v in data["vehicles"])
    except TypeError as exc:
        raise ValueError(f"problem: {exc}") from None
    keys = ("hub_location", "hub_open_s", "hub_cutoff_s", "reload_duration_s", "name")
    return Problem(durations_s=data["durations_s"], distances_m=data["distances_m"], stops=stops,
                   vehicles=vehicles, **{k: data[k] for k in keys if k in data})


def read_json(path: str | Path) -> Instance:
    """A problem in the project's JSON form (see ``problem_to_dict``)."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None
    problem = problem_from_dict(data)
    return Instance(problem, problem.name or Path(path).stem, 1)
