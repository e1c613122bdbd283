"""Turn a Problem into a Plan. The one place OR-Tools is imported.

Two engines sit behind ``solve``:

* ``"ortools"`` handles every feature of the model: several capacity dimensions, farm windows and
  the hub cut-off, shifts and maximum route duration, per-km and per-use costs, cold chain
  (refrigerated vehicles only), several trips a day (optional hub "reload" nodes that empty the
  truck), split pickups, priorities and unreachable pairs (arcs removed from the model).
* ``"pyvrp"`` (when PyVRP is installed) is used by ``engine="auto"`` for problems that need only
  what PyVRP models exactly: no cold-chain restriction, no unreachable pairs, no unloading time
  on reload trips. On the Solomon and CVRPLIB benchmarks it finds clearly shorter routes for the
  same time limit (see ``benchmarks/routing_gap.py``).

Every pickup is optional with a penalty that dwarfs any route cost, scaled by priority, so a
plan always exists and the least important pickups are the ones left out.

Repeatability: with the same input, seed and machine load, both engines are deterministic for a
given amount of search, but both stop on wall-clock time, so how far the search got (and so the
plan) can differ between runs under a time limit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from routing.model import UNREACHABLE, Problem, Stop, Vehicle
from routing.plan import PICKUP, RELOAD, Plan, Route, Unassigned, Visit

ENGINES = ("auto", "ortools", "pyvrp")

# Internal objective unit: 1/1000 of the currency unit, so per-km costs stay integral in metres.
_MILLI = 1000
_PENALTY_CAP = 1 << 60
# Time kept back from the limit for building the model and the plan.
_MARGIN_S = 0.05
_FIRST_SOLUTION = "PARALLEL_CHEAPEST_INSERTION"


@dataclass(frozen=True)
class _Piece:
    """One visit to make: a whole pickup, or part of a split one."""

    stop: Stop
    weight_kg: int
    volume_l: int
    penalty: int


# ---------------------------------------------------------------------------------------------
# Diagnosis: simple checks independent of any search.


def _suitable_vehicles(problem: Problem, stop: Stop) -> list[Vehicle]:
    out = []
    for v in problem.vehicles:
        if stop.cold_chain and not v.refrigerated:
            continue
        if stop.weight_kg > 0 and v.capacity_weight_kg == 0:
            continue
        if stop.volume_l > 0 and v.capacity_volume_l == 0:
            continue
        out.append(v)
    return out


def _fits_in_time(problem: Problem, stop: Stop, v: Vehicle) -> bool:
    """Can v leave the hub, serve this stop alone within its window and be back in time?"""
    hub, loc = problem.hub_location, stop.location
    out_s, back_s = problem.durations_s[hub][loc], problem.durations_s[loc][hub]
    start = max(problem.departure_s(v) + out_s, stop.window_start_s)
    if stop.window_end_s is not None and start > stop.window_end_s:
        return False
    if start + stop.service_duration_s + back_s > problem.return_deadline_s(v):
        return False
    # Leaving as late as the window allows, the shortest possible trip is out + service + back.
    if v.max_duration_s is not None and out_s + stop.service_duration_s + back_s > v.max_duration_s:
        return False
    return True


def diagnose(problem: Problem, stop: Stop) -> tuple[str, str] | None:
    """Why this stop cannot be served by any plan, as (reason, detail); None if it might be.

    Checks, in order: no road between hub and farm (``unreachable``); no vehicle that may carry it,
    e.g. cold chain without a refrigerated truck (``no_suitable_vehicle``); no suitable vehicle can
    leave the hub, reach the farm within its window and be back before the cut-off, its shift end
    or its maximum route duration (``time_window``).
    """
    hub, loc = problem.hub_location, stop.location
    if not problem.is_reachable(hub, loc):
        return "unreachable", f"no road from the hub to location {loc}"
    if not problem.is_reachable(loc, hub):
        return "unreachable", f"no road from location {loc} back to the hub"
    suitable = _suitable_vehicles(problem, stop)
    if not suitable:
        if stop.cold_chain and not any(v.refrigerated for v in problem.vehicles):
            return "no_suitable_vehicle", "needs cold chain and no vehicle is refrigerated"
        return "no_suitable_vehicle", "no vehicle can carry this kind of load"
    if not any(_fits_in_time(problem, stop, v) for v in suitable):
        return "time_window", "no vehicle can reach it within its window and be back in time"
    return None


def _leftover_reason(problem: Problem, stop: Stop) -> tuple[str, str]:
    found = diagnose(problem, stop)
    if found is not None:
        return found
    return "capacity", "the fleet's capacity and time could not take it with the rest"


# ---------------------------------------------------------------------------------------------
# Pieces: split pickups larger than any suitable vehicle, price leaving them out.


def _split(problem: Problem, stop: Stop) -> list[tuple[int, int]]:
    best = None
    for v in _suitable_vehicles(problem, stop):
        k = math.ceil(stop.weight_kg / v.capacity_weight_kg) if stop.weight_kg else 1
        if stop.volume_l and v.capacity_volume_l is not None:
            k = max(k, math.ceil(stop.volume_l / v.capacity_volume_l))
        best = k if best is None else min(best, k)
    k = max(best or 1, 1)
    return [
        (stop.weight_kg * (i + 1) // k - stop.weight_kg * i // k,
         stop.volume_l * (i + 1) // k - stop.volume_l * i // k)
        for i in range(k)
    ]


def _penalties(problem: Problem, stops: list[Stop], num_pieces: int) -> dict[int, int]:
    """Penalty per priority: each level outweighs every piece of the levels below together."""
    distances = np.asarray(problem.distances_m, dtype=np.int64)
    finite = distances[distances < UNREACHABLE]
    max_arc = int(finite.max()) if finite.size else 0
    max_cpk = max(v.cost_per_km for v in problem.vehicles)
    max_fixed = max(v.fixed_cost for v in problem.vehicles)
    base = 2 * max_arc * max_cpk + _MILLI * max_fixed + 1
    levels = sorted({s.priority for s in stops})
    factor = num_pieces + 1
    if len(levels) > 1 and base * factor ** (len(levels) - 1) > _PENALTY_CAP:
        factor = max(2, int((_PENALTY_CAP / base) ** (1 / (len(levels) - 1))))
    return {p: min(base * factor**rank, _PENALTY_CAP) for rank, p in enumerate(levels)}


# ---------------------------------------------------------------------------------------------
# Public entry point.


def solve(problem: Problem, time_limit_s: float = 5.0, seed: int = 0, engine: str = "auto") -> Plan:
    """Plan routes for ``problem`` within ``time_limit_s`` seconds (wall clock).

    ``engine`` is ``"auto"`` (PyVRP when installed and the problem uses only what it supports,
    otherwise OR-Tools), ``"ortools"`` or ``"pyvrp"`` (ValueError if it cannot model the problem).
    Pickups that cannot be planned come back in ``Plan.unassigned`` with a reason.
    """
    started = time.perf_counter()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if time_limit_s <= 0:
        raise ValueError(f"time_limit_s must be positive, got {time_limit_s}")

    unassigned: list[Unassigned] = []
    servable: list[Stop] = []
    for stop in problem.stops:
        found = diagnose(problem, stop)
        if found is None:
            servable.append(stop)
        else:
            unassigned.append(Unassigned(stop.id, *found))

    splits = {s.id: _split(problem, s) for s in servable}
    penalty = _penalties(problem, servable, sum(len(p) for p in splits.values()))
    pieces = [
        _Piece(s, w, vol, penalty[s.priority]) for s in servable for (w, vol) in splits[s.id]
    ]

    chosen = engine
    if engine == "auto":
        chosen = "pyvrp" if pyvrp_supports(problem, pieces) else "ortools"
    elif engine == "pyvrp" and not pyvrp_supports(problem, pieces):
        raise ValueError("the pyvrp engine cannot model this problem (cold chain, unreachable "
                         "pairs or unloading time on reload trips); use engine='ortools'")

    remaining = time_limit_s - (time.perf_counter() - started) - _MARGIN_S
    remaining = max(remaining, 0.01)
    if not pieces:
        sequences: list[list[int | None]] = [[] for _ in problem.vehicles]
    elif chosen == "pyvrp":
        sequences = _solve_pyvrp(problem, pieces, remaining, seed)
    else:
        sequences = _solve_ortools(problem, pieces, remaining, seed)

    return _build_plan(problem, pieces, sequences, unassigned, chosen, started)


# ---------------------------------------------------------------------------------------------
# OR-Tools.


def _node_arrays(problem: Problem, pieces: list[_Piece], reload_owner: list[int]):
    hub = problem.hub_location
    loc = np.array([hub] + [p.stop.location for p in pieces] + [hub] * len(reload_owner))
    service = np.array([0] + [p.stop.service_duration_s for p in pieces]
                       + [problem.reload_duration_s] * len(reload_owner), dtype=np.int64)
    return loc, service


def _solve_ortools(problem: Problem, pieces: list[_Piece], limit_s: float, seed: int):
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    vehicles = problem.vehicles
    reload_owner = [vi for vi, v in enumerate(vehicles) for _ in range(v.max_trips - 1)]
    n_pieces = len(pieces)
    loc, service = _node_arrays(problem, pieces, reload_owner)
    n_nodes = len(loc)

    dur = np.asarray(problem.durations_s, dtype=np.int64)[np.ix_(loc, loc)]
    dist = np.asarray(problem.distances_m, dtype=np.int64)[np.ix_(loc, loc)]
    blocked = (dur >= UNREACHABLE) | (dist >= UNREACHABLE)
    horizon = max(problem.return_deadline_s(v) for v in vehicles)
    travel = np.where(blocked, horizon + 1, dur + service[:, None])
    dist = np.where(blocked, 0, dist)

    manager = pywrapcp.RoutingIndexManager(n_nodes, len(vehicles), 0)
    routing = pywrapcp.RoutingModel(manager)

    cost_cb = {}
    for vi, v in enumerate(vehicles):
        if v.cost_per_km not in cost_cb:
            cost_cb[v.cost_per_km] = routing.RegisterTransitMatrix((dist * v.cost_per_km).tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_cb[v.cost_per_km], vi)
        routing.SetFixedCostOfVehicle(v.fixed_cost * _MILLI, vi)

    time_cb = routing.RegisterTransitMatrix(travel.tolist())
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for node in range(1, n_pieces + 1):
        stop = pieces[node - 1].stop
        end = horizon if stop.window_end_s is None else min(stop.window_end_s, horizon)
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(min(stop.window_start_s, end), end)
    for k, vi in enumerate(reload_owner):
        index = manager.NodeToIndex(n_pieces + 1 + k)
        v = vehicles[vi]
        time_dim.CumulVar(index).SetRange(problem.departure_s(v), problem.return_deadline_s(v))
        _allow_only(routing, index, [vi])
    for vi, v in enumerate(vehicles):
        start, end = routing.Start(vi), routing.End(vi)
        dep, deadline = problem.departure_s(v), problem.return_deadline_s(v)
        time_dim.CumulVar(start).SetRange(dep, max(dep, deadline))
        time_dim.CumulVar(end).SetRange(dep, max(dep, deadline))
        if v.max_duration_s is not None:
            time_dim.SetSpanUpperBoundForVehicle(v.max_duration_s, vi)
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(start))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(end))

    reload_nodes = range(n_pieces + 1, n_nodes)
    _add_load_dimension(routing, manager, "weight", [p.weight_kg for p in pieces],
                        [v.capacity_weight_kg for v in vehicles], reload_nodes)
    if any(p.volume_l for p in pieces):
        total = sum(p.volume_l for p in pieces)
        caps = [total if v.capacity_volume_l is None else v.capacity_volume_l for v in vehicles]
        _add_load_dimension(routing, manager, "volume", [p.volume_l for p in pieces], caps,
                            reload_nodes)

    refrigerated = [vi for vi, v in enumerate(vehicles) if v.refrigerated]
    first_of_stop: dict = {}
    for node in range(1, n_pieces + 1):
        piece = pieces[node - 1]
        index = manager.NodeToIndex(node)
        routing.AddDisjunction([index], piece.penalty)
        if piece.stop.cold_chain:
            _allow_only(routing, index, refrigerated)
        # A split pickup is collected in full or not at all.
        if piece.stop.id in first_of_stop:
            routing.solver().Add(routing.ActiveVar(index) == routing.ActiveVar(first_of_stop[piece.stop.id]))
        else:
            first_of_stop[piece.stop.id] = index
    for node in reload_nodes:
        routing.AddDisjunction([manager.NodeToIndex(node)], 0)

    if blocked.any():
        _remove_blocked_arcs(routing, manager, blocked, len(vehicles))

    params = pywrapcp.DefaultRoutingSearchParameters()
    # The default first solution (path cheapest arc) often finds nothing on tight windows;
    # insertion builds a plan that respects them, and guided local search improves it.
    params.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, _FIRST_SOLUTION)
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    # The search overruns its limit slightly while it finishes a move: keep some time back.
    params.time_limit.FromMilliseconds(max(10, int((0.99 * limit_s - 0.05) * 1000)))
    params.log_search = False
    del seed  # OR-Tools routing search has no random seed: it is deterministic for a given search.

    solution = routing.SolveWithParameters(params)
    if solution is None:
        return [[] for _ in vehicles]
    sequences = []
    for vi in range(len(vehicles)):
        seq: list[int | None] = []
        index = routing.Start(vi)
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if 1 <= node <= n_pieces:
                seq.append(node - 1)
            elif node > n_pieces:
                seq.append(None)
            index = solution.Value(routing.NextVar(index))
        sequences.append(seq)
    return sequences


def _allow_only(routing, index, allowed):
    """Only these vehicles may visit ``index`` (the node may still be left out).

    SetAllowedVehiclesForIndex would say the same, but its Python binding in OR-Tools 9.15
    rejects Python lists, so the vehicle variable's domain is narrowed directly.
    """
    keep = set(allowed)
    others = [v for v in range(routing.vehicles()) if v not in keep]
    if others:
        routing.VehicleVar(index).RemoveValues(others)


def _add_load_dimension(routing, manager, name, demands, capacities, reload_nodes):
    """A load dimension; reload nodes empty the truck (transit -max, slack up to max)."""
    reload_nodes = list(reload_nodes)
    top = max(capacities)
    vector = [0] + list(demands) + [-top] * len(reload_nodes)
    callback = routing.RegisterUnaryTransitVector(vector)
    routing.AddDimensionWithVehicleCapacity(
        callback, top if reload_nodes else 0, capacities, True, name)
    if reload_nodes:
        dim = routing.GetDimensionOrDie(name)
        reloads = set(reload_nodes)
        for node in range(1, len(vector)):
            index = manager.NodeToIndex(node)
            if node in reloads:
                dim.SlackVar(index).SetRange(0, top)
            else:
                dim.SlackVar(index).SetValue(0)
        for vi in range(routing.vehicles()):
            dim.SlackVar(routing.Start(vi)).SetValue(0)


def _remove_blocked_arcs(routing, manager, blocked, n_vehicles):
    """Take arcs with no road out of the model, so no route can ever use them."""
    starts = [routing.Start(v) for v in range(n_vehicles)]
    ends = [routing.End(v) for v in range(n_vehicles)]

    def from_indices(node):
        return starts if node == 0 else [manager.NodeToIndex(node)]

    def to_indices(node):
        return ends if node == 0 else [manager.NodeToIndex(node)]

    for i, j in zip(*np.nonzero(blocked)):
        if i == j:
            continue
        for a in from_indices(int(i)):
            next_var = routing.NextVar(a)
            for b in to_indices(int(j)):
                next_var.RemoveValue(b)


# ---------------------------------------------------------------------------------------------
# PyVRP.


def pyvrp_supports(problem: Problem, pieces=None) -> bool:
    """Whether PyVRP models this problem exactly (and is installed)."""
    try:
        import pyvrp  # noqa: F401
    except ImportError:
        return False
    stops = problem.stops if pieces is None else [p.stop for p in pieces]
    if any(s.cold_chain for s in stops) and not all(v.refrigerated for v in problem.vehicles):
        return False
    if problem.reload_duration_s and any(v.max_trips > 1 for v in problem.vehicles):
        return False
    locs = sorted({problem.hub_location, *(s.location for s in stops)})
    dur = np.asarray(problem.durations_s, dtype=np.int64)[np.ix_(locs, locs)]
    dist = np.asarray(problem.distances_m, dtype=np.int64)[np.ix_(locs, locs)]
    return not ((dur >= UNREACHABLE).any() or (dist >= UNREACHABLE).any())


def _solve_pyvrp(problem: Problem, pieces: list[_Piece], limit_s: float, seed: int):
    import pyvrp
    from pyvrp.stop import MaxRuntime

    hub = problem.hub_location
    locs = [hub] + sorted({p.stop.location for p in pieces} - {hub})
    where = {loc: i for i, loc in enumerate(locs)}
    dist = np.asarray(problem.distances_m, dtype=np.int64)[np.ix_(locs, locs)]
    dur = np.asarray(problem.durations_s, dtype=np.int64)[np.ix_(locs, locs)]
    use_volume = any(p.volume_l for p in pieces)
    total_volume = sum(p.volume_l for p in pieces)

    def load(w, vol):
        return [w, vol] if use_volume else [w]

    # PyVRP's penalty manager works best with small cost figures: divide out the common factor.
    scale = 0
    for v in problem.vehicles:
        scale = math.gcd(scale, v.cost_per_km, v.fixed_cost * _MILLI)
    scale = max(scale, 1)
    clients = []
    for p in pieces:
        s = p.stop
        kwargs = {"tw_early": s.window_start_s}
        if s.window_end_s is not None:
            kwargs["tw_late"] = s.window_end_s
        clients.append(pyvrp.Client(
            location=where[s.location], pickup=load(p.weight_kg, p.volume_l),
            service_duration=s.service_duration_s, prize=-(-p.penalty // scale), required=False,
            **kwargs))

    groups: dict[tuple, list[int]] = {}
    for vi, v in enumerate(problem.vehicles):
        key = (v.capacity_weight_kg, v.capacity_volume_l, problem.departure_s(v),
               problem.return_deadline_s(v), v.max_duration_s, v.cost_per_km, v.fixed_cost,
               v.max_trips)
        groups.setdefault(key, []).append(vi)
    types = []
    for (cap_w, cap_v, dep, deadline, max_dur, cpk, fixed, trips), members in groups.items():
        kwargs = {}
        if max_dur is not None:
            kwargs["shift_duration"] = max_dur
        if trips > 1:
            kwargs.update(reload_depots=[0], max_reloads=trips - 1)
        types.append(pyvrp.VehicleType(
            num_available=len(members),
            capacity=load(cap_w, total_volume if cap_v is None else cap_v),
            fixed_cost=fixed * _MILLI // scale, tw_early=dep, tw_late=max(dep, deadline),
            unit_distance_cost=cpk // scale, **kwargs))

    depot_kwargs = {"tw_early": problem.hub_open_s}
    if problem.hub_cutoff_s is not None:
        depot_kwargs["tw_late"] = problem.hub_cutoff_s
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(0, 0) for _ in locs], clients=clients,
        depots=[pyvrp.Depot(location=0, **depot_kwargs)], vehicle_types=types,
        distance_matrices=[dist], duration_matrices=[dur])
    # Load and time-warp penalties must be able to outweigh the prize of any pickup.
    top_prize = max(c.prize for c in clients)
    params = pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=max(1e5, 10.0 * top_prize)))
    # PyVRP checks the clock between iterations and may overrun slightly: keep some time back.
    result = pyvrp.solve(data, stop=MaxRuntime(max(0.01, 0.98 * limit_s - 0.05)), seed=seed,
                         display=False, collect_stats=False, params=params)

    sequences: list[list[int | None]] = [[] for _ in problem.vehicles]
    if not result.best.is_feasible():
        return sequences
    free = {t: list(members) for t, members in enumerate(groups.values())}
    for route in result.best.routes():
        vi = free[route.vehicle_type()].pop(0)
        seq: list[int | None] = []
        activities = route.schedule()
        for a in activities[1:-1]:
            seq.append(a.idx if a.is_client() else None)
        sequences[vi] = seq
    return sequences


# ---------------------------------------------------------------------------------------------
# From visit sequences to a Plan with times, loads and distances.


def _simulate(problem: Problem, v: Vehicle, pieces, seq, start_s: int):
    """Visits when leaving at start_s, the time back at the hub, and whether windows hold."""
    dur, dist = problem.durations_s, problem.distances_m
    hub = problem.hub_location
    here, t, travelled, w_load, v_load, ok = hub, start_s, 0, 0, 0, True
    visits = []
    for item in seq:
        if item is None:
            loc, service, w, vol, ws, we, stop_id, kind = (
                hub, problem.reload_duration_s, 0, 0, 0, None, None, RELOAD)
        else:
            p = pieces[item]
            s = p.stop
            loc, service, w, vol, ws, we, stop_id, kind = (
                s.location, s.service_duration_s, p.weight_kg, p.volume_l,
                s.window_start_s, s.window_end_s, s.id, PICKUP)
        arrival = t + dur[here][loc]
        travelled += dist[here][loc]
        begin = max(arrival, ws)
        if we is not None and begin > we:
            ok = False
        t = begin + service
        if kind == RELOAD:
            w_load = v_load = 0
        else:
            w_load += w
            v_load += vol
        visits.append(Visit(kind, stop_id, loc, arrival, begin, t, w, vol, w_load, v_load,
                            travelled))
        here = loc
    end = t + dur[here][hub]
    travelled += dist[here][hub]
    ok = ok and end <= problem.return_deadline_s(v)
    return visits, end, travelled, ok


def _route(problem: Problem, v: Vehicle, pieces, seq) -> Route:
    earliest = problem.departure_s(v)
    visits, end, travelled, ok = _simulate(problem, v, pieces, seq, earliest)
    if ok:
        # Leave as late as possible without coming back later: no waiting before the first
        # window opens, and the shortest shift for the same return time.
        lo, hi = earliest, max(earliest, problem.return_deadline_s(v))
        while lo < hi:
            mid = (lo + hi + 1) // 2
            _, mid_end, _, mid_ok = _simulate(problem, v, pieces, seq, mid)
            if mid_ok and mid_end <= end:
                lo = mid
            else:
                hi = mid - 1
        start = lo
        visits, end, travelled, ok = _simulate(problem, v, pieces, seq, start)
    else:
        start = earliest
    cost = v.fixed_cost + (travelled * v.cost_per_km + _MILLI // 2) // _MILLI
    return Route(v.id, tuple(visits), start, end, travelled, cost, problem.hub_location)


def _build_plan(problem, pieces, sequences, unassigned, engine, started) -> Plan:
    served_pieces: dict = {}
    for seq in sequences:
        for item in seq:
            if item is not None:
                served_pieces.setdefault(pieces[item].stop.id, set()).add(item)
    needed: dict = {}
    for i, p in enumerate(pieces):
        needed.setdefault(p.stop.id, set()).add(i)
    # A split pickup is in the plan in full or not at all.
    partial = {sid for sid, got in served_pieces.items() if got != needed[sid]}
    routes = []
    for v, seq in zip(problem.vehicles, sequences):
        seq = [i for i in seq if i is None or pieces[i].stop.id not in partial]
        while seq and seq[-1] is None:
            seq.pop()
        while seq and seq[0] is None:
            seq.pop(0)
        seq = [x for k, x in enumerate(seq) if not (x is None and k and seq[k - 1] is None)]
        if seq:
            routes.append(_route(problem, v, pieces, seq))
    left = list(unassigned)
    done = {sid for sid in served_pieces if sid not in partial}
    for sid in needed:
        if sid not in done:
            left.append(Unassigned(sid, *_leftover_reason(problem, problem.stop(sid))))
    order = {s.id: i for i, s in enumerate(problem.stops)}
    left.sort(key=lambda u: order[u.stop_id])
    return Plan(
        routes=tuple(routes), unassigned=tuple(left),
        cost=sum(r.cost for r in routes), distance_m=sum(r.distance_m for r in routes),
        engine=engine, solve_time_s=time.perf_counter() - started)


def plan_from_routes(problem: Problem, routes, engine: str = "given") -> Plan:
    """A Plan from routes chosen elsewhere (another solver, a manager's edits).

    ``routes`` is a sequence of ``(vehicle_id, [stop_id or None, ...])``, None marking a reload
    at the hub. Each pickup is collected whole; stops on no route are reported left out with the
    diagnosed reason. Times, loads and distances are computed from the matrices; run
    ``routing.check.check_plan`` to know whether the result is feasible.
    """
    started = time.perf_counter()
    pieces = [_Piece(s, s.weight_kg, s.volume_l, 0) for s in problem.stops]
    index = {s.id: i for i, s in enumerate(problem.stops)}
    by_vehicle = {v.id: i for i, v in enumerate(problem.vehicles)}
    sequences: list[list[int | None]] = [[] for _ in problem.vehicles]
    for vehicle_id, stop_ids in routes:
        if vehicle_id not in by_vehicle:
            raise ValueError(f"plan: unknown vehicle {vehicle_id!r}")
        try:
            sequences[by_vehicle[vehicle_id]] = [None if s is None else index[s] for s in stop_ids]
        except KeyError as exc:
            raise ValueError(f"plan: unknown stop {exc.args[0]!r}") from None
    return _build_plan(problem, pieces, sequences, [], engine, started)
