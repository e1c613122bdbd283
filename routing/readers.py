"""Read problems from files: Solomon VRPTW, VRPLIB/CVRPLIB (through `vrplib`), and the project's own JSON.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vrplib.parse import parse_vrplib

from routing.model import UNREACHABLE, Problem, Stop, Vehicle

FORMATS = ("solomon", "vrplib", "json")


@dataclass(frozen=True)
class Instance:
    """A problem read from a file, with what is needed to report in the file's convention."""

    problem: Problem
    name: str
    distance_scale: int = 1

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
    return Instance(problem, name, 10)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_vrplib(path: str | Path) -> Instance:
    """A VRPLIB/CVRPLIB file, read with the `vrplib` package (EUC_2D coordinates or an EXPLICIT
    full, lower or upper matrix; time windows and service times when the file has them).

    Stop ids are the node numbers of the file; the depot is the first DEPOT_SECTION node.
    Fleet: the VEHICLES field if present, otherwise unlimited in effect (half again the
    minimum by demand, plus three). With a TIME_WINDOW_SECTION, the depot's window is the hub's
    opening and cut-off and every vehicle's shift; a SERVICE_TIME field applies to every customer.
    """
    weights, text = _take_edge_weights(Path(path).read_text())
    try:
        data = parse_vrplib(text, compute_edge_weights=False)
    except (ValueError, RuntimeError, IndexError) as exc:
        raise ValueError(f"{path}: not a VRPLIB file ({exc})") from None
    n = int(data.get("dimension", 0))
    if n <= 1 or "capacity" not in data:
        raise ValueError(f"{path}: DIMENSION and CAPACITY are required")
    capacity = int(data["capacity"])
    kind = str(data.get("edge_weight_type", "EUC_2D")).upper()
    if kind == "EUC_2D":
        node_coord = data.get("node_coord")
        if node_coord is None or len(node_coord) != n:
            raise ValueError(f"{path}: NODE_COORD_SECTION must have {n} lines")
        coords = tuple((float(r[0]), float(r[1])) for r in node_coord)
        matrix = [[int(math.floor(math.hypot(a[0] - b[0], a[1] - b[1]) + 0.5)) for b in coords]
                  for a in coords]
    elif kind == "EXPLICIT":
        matrix = _explicit(str(data.get("edge_weight_format", "FULL_MATRIX")).upper(), weights, n, path)
    else:
        raise ValueError(f"{path}: EDGE_WEIGHT_TYPE {kind} is not supported")
    demand = _per_node(data.get("demand"), n, 0, "DEMAND_SECTION", path)
    service = _per_node(data.get("service_time"), n, 0, "SERVICE_TIME_SECTION", path)
    windows = data.get("time_window")
    if windows is not None and len(windows) != n:
        raise ValueError(f"{path}: TIME_WINDOW_SECTION must have {n} lines")
    depots = data.get("depot")
    depot = int(depots[0]) if depots is not None and len(depots) else 0
    stops = tuple(
        Stop(id=i + 1, location=i, weight_kg=demand[i], service_duration_s=service[i],
             **({} if windows is None else
                {"window_start_s": _int(windows[i][0]), "window_end_s": _int(windows[i][1])}))
        for i in range(n) if i != depot
    )
    if "vehicles" in data:
        fleet = int(data["vehicles"])
    else:
        minimum = math.ceil(sum(s.weight_kg for s in stops) / capacity) if capacity else 1
        fleet = min(len(stops), minimum * 3 // 2 + 3)
    if windows is None:
        shift, hub = {"shift_end_s": UNREACHABLE - 1}, {}
    else:
        opens, closes = _int(windows[depot][0]), _int(windows[depot][1])
        shift = {"shift_start_s": opens, "shift_end_s": closes}
        hub = {"hub_open_s": opens, "hub_cutoff_s": closes}
    vehicles = tuple(
        Vehicle(id=v + 1, capacity_weight_kg=capacity, cost_per_km=1000, **shift)
        for v in range(max(fleet, 1))
    )
    name = str(data.get("name", Path(path).stem)).strip('"')
    problem = Problem(durations_s=matrix, distances_m=matrix, stops=stops, vehicles=vehicles,
                      hub_location=depot, name=name, **hub)
    return Instance(problem, name, 1)


def _take_edge_weights(text: str) -> tuple[list[float], str]:
    """The values of the EDGE_WEIGHT_SECTION, and the text without that section.

    `vrplib` lays out only FULL_MATRIX (one row a line) and LOWER_ROW; `_explicit` lays out the
    section's values in every format a VRPLIB file may use, however its lines are wrapped.
    """
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.strip().upper().startswith("EDGE_WEIGHT_SECTION"):
            end = k + 1
            while end < len(lines) and "_SECTION" not in lines[end].upper() and "EOF" not in lines[end]:
                end += 1
            try:
                values = [float(x) for row in lines[k + 1 : end] for x in row.split()]
            except ValueError:
                raise ValueError("EDGE_WEIGHT_SECTION holds something that is not a number") from None
            return values, "\n".join(lines[:k] + lines[end:])
    return [], text


def _per_node(values, n: int, default: int, section: str, path) -> list[int]:
    """A value for every node from a section (one a node) or a field (the same for every node)."""
    if values is None:
        return [default] * n
    if np.ndim(values) == 0:
        return [_int(values)] * n
    if len(values) != n:
        raise ValueError(f"{path}: {section} must have {n} lines")
    return [_int(v) for v in values]


def _int(value) -> int:
    return int(round(float(value)))


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
        "reassign_penalty": problem.reassign_penalty,
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
    keys = ("hub_location", "hub_open_s", "hub_cutoff_s", "reload_duration_s", "reassign_penalty",
            "name")
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
