"""Feasibility check of a plan against its problem, written independently of the solver.

It recomputes everything from the matrices and the order of visits, and trusts none of the
figures the plan reports (it compares them instead).
"""

from __future__ import annotations

from collections import defaultdict

from routing.model import REASONS, UNREACHABLE, Problem
from routing.plan import PICKUP, RELOAD, Plan


class InfeasiblePlan(ValueError):
    """A plan breaks at least one constraint of its problem; ``violations`` lists them."""

    def __init__(self, violations: list[str]):
        super().__init__("; ".join(violations[:10]))
        self.violations = violations


def check_plan(problem: Problem, plan: Plan) -> list[str]:
    """Every broken constraint of ``plan`` as a sentence; an empty list means feasible."""
    errors: list[str] = []
    vehicles = {v.id: v for v in problem.vehicles}
    stops = {s.id: s for s in problem.stops}
    collected_w: dict = defaultdict(int)
    collected_v: dict = defaultdict(int)
    used = set()
    total_distance = 0
    total_cost = 0
    for r, route in enumerate(plan.routes):
        where = f"route {r} (vehicle {route.vehicle_id!r})"
        v = vehicles.get(route.vehicle_id)
        if v is None:
            errors.append(f"{where}: unknown vehicle")
            continue
        if route.vehicle_id in used:
            errors.append(f"{where}: vehicle used by more than one route")
        used.add(route.vehicle_id)
        errors += _check_route(problem, route, v, stops, where, collected_w, collected_v)
        distance = _route_distance(problem, route, v)
        total_distance += distance
        total_cost += v.fixed_cost + (distance * v.cost_per_km + 500) // 1000
        if distance != route.distance_m:
            errors.append(f"{where}: reports {route.distance_m} m, the matrix gives {distance} m")

    for v in problem.vehicles:
        if problem.starts_away(v) and v.id not in used:
            errors.append(f"vehicle {v.id!r} starts away from the hub (location "
                          f"{problem.start_location(v)}) and has no route back to it")

    left = [u.stop_id for u in plan.unassigned]
    if len(left) != len(set(left)):
        errors.append("a pickup is listed as left out more than once")
    for u in plan.unassigned:
        if u.stop_id not in stops:
            errors.append(f"left out pickup {u.stop_id!r} is not in the problem")
        if u.reason not in REASONS:
            errors.append(f"pickup {u.stop_id!r}: unknown reason {u.reason!r}")
    for sid, stop in stops.items():
        visited = sid in collected_w or sid in collected_v
        if visited and sid in left:
            errors.append(f"pickup {sid!r} is both visited and left out")
        elif not visited and sid not in left:
            errors.append(f"pickup {sid!r} is neither visited nor left out")
        elif visited and (collected_w[sid], collected_v[sid]) != (stop.weight_kg, stop.volume_l):
            errors.append(
                f"pickup {sid!r}: visits collect {collected_w[sid]} kg / {collected_v[sid]} l "
                f"of {stop.weight_kg} kg / {stop.volume_l} l")
    if total_distance != plan.distance_m:
        errors.append(f"plan reports {plan.distance_m} m, routes add up to {total_distance} m")
    if total_cost != plan.cost:
        errors.append(f"plan reports cost {plan.cost}, routes add up to {total_cost}")
    return errors


def assert_feasible(problem: Problem, plan: Plan) -> None:
    """Raise InfeasiblePlan if ``check_plan`` finds anything."""
    errors = check_plan(problem, plan)
    if errors:
        raise InfeasiblePlan(errors)


def _route_distance(problem: Problem, route, vehicle) -> int:
    locs = ([problem.start_location(vehicle)] + [v.location for v in route.visits]
            + [problem.hub_location])
    return sum(problem.distances_m[a][b] for a, b in zip(locs, locs[1:]))


def _check_route(problem, route, v, stops, where, collected_w, collected_v) -> list[str]:
    errors = []
    hub = problem.hub_location
    origin = problem.start_location(v)
    if route.origin != origin:
        errors.append(f"{where}: starts at location {route.origin}, the vehicle is at {origin}")
    earliest = max(v.shift_start_s, v.start_s or 0)
    if origin == hub:
        earliest = max(earliest, problem.hub_open_s)
    if route.start_s < earliest:
        errors.append(f"{where}: leaves at {route.start_s} s, before {earliest} s (its shift, its "
                      f"start time or the hub's opening)")
    # What is already aboard counts against the capacity until the next unload at the hub.
    load_w, load_v = v.initial_weight_kg, v.initial_volume_l
    if load_w > v.capacity_weight_kg:
        errors.append(f"{where}: starts with {load_w} kg on board, capacity {v.capacity_weight_kg} kg")
    if v.capacity_volume_l is not None and load_v > v.capacity_volume_l:
        errors.append(f"{where}: starts with {load_v} l on board, capacity {v.capacity_volume_l} l")
    here, t, trips, travelled = origin, route.start_s, 1, 0
    for k, visit in enumerate(route.visits):
        at = f"{where} visit {k}"
        d = problem.durations_s[here][visit.location]
        travelled += problem.distances_m[here][visit.location]
        if visit.distance_m != travelled:
            errors.append(f"{at}: reports {visit.distance_m} m so far, the matrix gives "
                          f"{travelled} m")
        if d >= UNREACHABLE or problem.distances_m[here][visit.location] >= UNREACHABLE:
            errors.append(f"{at}: no road from location {here} to {visit.location}")
        arrival = t + d
        if visit.arrival_s != arrival:
            errors.append(f"{at}: reports arrival {visit.arrival_s} s, the matrix gives {arrival} s")
        if visit.kind == RELOAD:
            if visit.location != hub:
                errors.append(f"{at}: reload away from the hub")
            begin = arrival
            service = problem.reload_duration_s
            load_w = load_v = 0
            trips += 1
            if trips > v.max_trips:
                errors.append(f"{at}: trip {trips} exceeds the vehicle's {v.max_trips} trips")
        elif visit.kind == PICKUP:
            stop = stops.get(visit.stop_id)
            if stop is None:
                errors.append(f"{at}: unknown pickup {visit.stop_id!r}")
                continue
            if visit.location != stop.location:
                errors.append(f"{at}: pickup {stop.id!r} visited at the wrong location")
            if stop.cold_chain and not v.refrigerated:
                errors.append(f"{at}: cold-chain pickup {stop.id!r} on a vehicle without cooling")
            begin = max(arrival, stop.window_start_s)
            if stop.window_end_s is not None and begin > stop.window_end_s:
                errors.append(f"{at}: pickup {stop.id!r} starts at {begin} s, after its window "
                              f"ends at {stop.window_end_s} s")
            if visit.weight_kg < 0 or visit.volume_l < 0:
                errors.append(f"{at}: negative quantity")
            service = stop.service_duration_s
            load_w += visit.weight_kg
            load_v += visit.volume_l
            collected_w[stop.id] += visit.weight_kg
            collected_v[stop.id] += visit.volume_l
        else:
            errors.append(f"{at}: unknown kind {visit.kind!r}")
            continue
        if visit.service_start_s < begin:
            errors.append(f"{at}: service starts at {visit.service_start_s} s, before {begin} s")
        if load_w > v.capacity_weight_kg:
            errors.append(f"{at}: {load_w} kg on board, capacity {v.capacity_weight_kg} kg")
        if v.capacity_volume_l is not None and load_v > v.capacity_volume_l:
            errors.append(f"{at}: {load_v} l on board, capacity {v.capacity_volume_l} l")
        if (visit.load_weight_kg, visit.load_volume_l) != (load_w, load_v):
            errors.append(f"{at}: reports load {visit.load_weight_kg} kg / {visit.load_volume_l} l"
                          f", the visits give {load_w} kg / {load_v} l")
        t = max(visit.service_start_s, begin) + service
        here = visit.location
    back = t + problem.durations_s[here][hub]
    if problem.durations_s[here][hub] >= UNREACHABLE:
        errors.append(f"{where}: no road from location {here} back to the hub")
    if back != route.end_s:
        errors.append(f"{where}: reports end {route.end_s} s, the matrix gives {back} s")
    if back > v.shift_end_s:
        errors.append(f"{where}: back at {back} s, after the shift ends at {v.shift_end_s} s")
    if problem.hub_cutoff_s is not None and back > problem.hub_cutoff_s:
        errors.append(f"{where}: back at {back} s, after the hub cut-off {problem.hub_cutoff_s} s")
    if v.max_duration_s is not None and back - route.start_s > v.max_duration_s:
        errors.append(f"{where}: lasts {back - route.start_s} s, more than {v.max_duration_s} s")
    return errors
