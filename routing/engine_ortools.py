"""The OR-Tools engine behind ``routing.solver.solve``: the pieces as a routing model, and the
visit sequences its search finds. Imports only ``routing.pieces`` of the solver's rooms.
"""

from __future__ import annotations

import numpy as np

from routing.model import UNREACHABLE, Problem, Vehicle
from routing.pieces import _MILLI, SearchFailed, _loaded, _penalised, _Piece

_FIRST_SOLUTION = "PARALLEL_CHEAPEST_INSERTION"


def _latest_return_s(problem: Problem, v: Vehicle) -> int:
    """The return deadline the engines are given: the vehicle's own, except that a vehicle
    already on the road too late to make it is allowed to drive straight back (its route is then
    late, and ``routing.check`` says so) rather than making the whole model infeasible."""
    dep, deadline = problem.departure_s(v), problem.return_deadline_s(v)
    if problem.starts_away(v):
        home = int(problem.durations_s[problem.start_location(v), problem.hub_location])
        if home < UNREACHABLE:
            return max(deadline, dep + home)
    return max(dep, deadline)


def _longest_route_s(problem: Problem, v: Vehicle) -> int:
    """The route duration the engines are given: ``max_duration_s``, except that a vehicle on
    the road with less time left than its drive home may still drive home (late, as
    ``routing.check`` then says) rather than making the whole model infeasible."""
    if problem.starts_away(v):
        home = int(problem.durations_s[problem.start_location(v), problem.hub_location])
        if home < UNREACHABLE:
            return max(v.max_duration_s, home)
    return v.max_duration_s


def _node_arrays(problem: Problem, pieces: list[_Piece], reload_owner: list[int],
                 away: list[int]):
    hub = problem.hub_location
    loc = np.array([hub] + [p.stop.location for p in pieces] + [hub] * len(reload_owner)
                   + [problem.start_location(problem.vehicles[vi]) for vi in away])
    service = np.array([0] + [p.stop.service_duration_s for p in pieces]
                       + [problem.reload_duration_s] * len(reload_owner) + [0] * len(away),
                       dtype=np.int64)
    return loc, service


def _solve_ortools(problem: Problem, pieces: list[_Piece], limit_s: float | None, seed: int,
                   max_iterations: int | None, search: dict, start=None):
    """Visit sequences by OR-Tools. The seed shuffles the order in which pickups enter the model
    (seed 0 keeps the input order): OR-Tools' routing search has no random seed of its own, but
    its first solution and its neighbourhoods follow node order, so another order is another,
    equally repeatable, search."""
    order = list(range(len(pieces)))
    if seed:
        order = np.random.default_rng(seed).permutation(len(pieces)).tolist()
    if start is not None:
        position = {k: i for i, k in enumerate(order)}
        start = [[None if k is None else position[k] for k in seq] for seq in start]
    sequences = _solve_ortools_ordered(problem, [pieces[i] for i in order], limit_s,
                                       max_iterations, search, start)
    return [[None if k is None else order[k] for k in seq] for seq in sequences]


_ORTOOLS_FAILED = {
    0: "the search did not run",
    3: "the search found no plan",
    4: "the search found no plan within its time limit",
    5: "the search parameters or the model are invalid",
    6: "the model is infeasible",
}


def _solve_ortools_ordered(problem: Problem, pieces: list[_Piece], limit_s: float | None,
                           max_iterations: int | None, search: dict, initial=None):
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    vehicles = problem.vehicles
    reload_owner = [vi for vi, v in enumerate(vehicles) for _ in range(v.max_trips - 1)]
    # Vehicles already on the road start from a node of their own at where they are.
    away = [vi for vi, v in enumerate(vehicles) if problem.starts_away(v)]
    n_pieces = len(pieces)
    loc, service = _node_arrays(problem, pieces, reload_owner, away)
    n_nodes = len(loc)
    first_start = n_pieces + 1 + len(reload_owner)
    starts = [0] * len(vehicles)
    for k, vi in enumerate(away):
        starts[vi] = first_start + k

    dur = problem.durations_s[np.ix_(loc, loc)]
    dist = problem.distances_m[np.ix_(loc, loc)]
    blocked = (dur >= UNREACHABLE) | (dist >= UNREACHABLE)
    horizon = max(_latest_return_s(problem, v) for v in vehicles)
    travel = np.where(blocked, horizon + 1, dur + service[:, None])
    dist = np.where(blocked, 0, dist)

    manager = pywrapcp.RoutingIndexManager(n_nodes, len(vehicles), starts, [0] * len(vehicles))
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
        dep, deadline = problem.departure_s(v), _latest_return_s(problem, v)
        time_dim.CumulVar(start).SetRange(dep, deadline)
        time_dim.CumulVar(end).SetRange(dep, deadline)
        if v.max_duration_s is not None:
            time_dim.SetSpanUpperBoundForVehicle(_longest_route_s(problem, v), vi)
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(start))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(end))

    reload_nodes = range(n_pieces + 1, first_start)
    _add_load_dimension(routing, manager, "weight", [p.weight_kg for p in pieces],
                        [v.capacity_weight_kg for v in vehicles], reload_nodes,
                        [v.initial_weight_kg for v in vehicles], n_nodes)
    if any(p.volume_l for p in pieces) or any(v.initial_volume_l for v in vehicles):
        total = sum(p.volume_l for p in pieces) + max(v.initial_volume_l for v in vehicles)
        caps = [total if v.capacity_volume_l is None else v.capacity_volume_l for v in vehicles]
        _add_load_dimension(routing, manager, "volume", [p.volume_l for p in pieces], caps,
                            reload_nodes, [v.initial_volume_l for v in vehicles], n_nodes)
    moved = _penalised(problem, pieces)
    if moved:
        # Serving a piece with another vehicle than its published one costs the reassign
        # penalty: a count of such pieces per route (a unary transit per vehicle, cheap where
        # per-vehicle arc matrices would take n^2 each), priced by its span.
        vectors: dict[tuple, int] = {}
        transits = []
        for vi in range(len(vehicles)):
            vector = tuple([0] + [int(k in moved and moved[k] != vi) for k in range(n_pieces)]
                           + [0] * (n_nodes - n_pieces - 1))
            if vector not in vectors:
                vectors[vector] = routing.RegisterUnaryTransitVector(list(vector))
            transits.append(vectors[vector])
        routing.AddDimensionWithVehicleTransits(transits, 0, n_pieces, True, "moved")
        routing.GetDimensionOrDie("moved").SetSpanCostCoefficientForAllVehicles(
            problem.reassign_penalty * _MILLI)

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
        _remove_blocked_arcs(routing, manager, blocked, starts, first_start)

    params = pywrapcp.DefaultRoutingSearchParameters()
    # The default first solution (path cheapest arc) often finds nothing on tight windows;
    # insertion builds a plan that respects them, and guided local search improves it.
    params.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, _FIRST_SOLUTION)
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    if limit_s is not None:
        # The search overruns its limit slightly while it finishes a move: keep some time back.
        params.time_limit.FromMilliseconds(max(10, int((0.99 * limit_s - 0.05) * 1000)))
    if max_iterations is not None:
        params.solution_limit = max_iterations
    params.log_search = False
    error = pywrapcp.FindErrorInRoutingSearchParameters(params)
    if error:
        raise SearchFailed(f"OR-Tools rejects the search parameters: {error}")

    solution = None
    if initial is not None:
        routing.CloseModelWithParameters(params)
        assignment = routing.ReadAssignmentFromRoutes(
            _ortools_routes(initial, pieces, reload_owner, n_pieces,
                            {vi for vi, v in enumerate(vehicles) if v.refrigerated},
                            {vi for vi, v in enumerate(vehicles) if _loaded(v)}), True)
        if assignment is not None:
            solution = routing.SolveFromAssignmentWithParameters(assignment, params)
        search["warm_start_accepted"] = assignment is not None
    if solution is None:
        solution = routing.SolveWithParameters(params)
    status = routing.status()
    solver = routing.solver()
    search.update(iterations=int(solver.Solutions()), branches=int(solver.Branches()),
                  search_time_s=round(solver.WallTime() / 1000, 3), status=int(status))
    search["stopped_by"] = ("iterations" if max_iterations is not None
                            and solver.Solutions() >= max_iterations else "time_limit")
    if solution is None:
        why = _ORTOOLS_FAILED.get(int(status), f"the search ended with status {int(status)}")
        raise SearchFailed(f"OR-Tools: {why} ({len(pieces)} pickups, {len(vehicles)} vehicles)")
    search["objective"] = int(solution.ObjectiveValue())
    sequences = []
    for vi in range(len(vehicles)):
        seq: list[int | None] = []
        index = routing.Start(vi)
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if 1 <= node <= n_pieces:
                seq.append(node - 1)
            elif n_pieces < node < first_start:
                seq.append(None)
            index = solution.Value(routing.NextVar(index))
        sequences.append(seq)
    return sequences


def _ortools_routes(start, pieces, reload_owner, n_pieces, cooled, loaded) -> list[list[int]]:
    """Start sequences as OR-Tools node indices: each vehicle's reloads take its own reload
    nodes (a reload first only for a vehicle with a load aboard); a cold piece on a vehicle
    without cooling is left out of the start."""
    free: dict[int, list[int]] = {}
    for k, vi in enumerate(reload_owner):
        free.setdefault(vi, []).append(n_pieces + 1 + k)
    routes = []
    for vi, seq in enumerate(start):
        nodes = []
        for item in seq:
            if item is None:
                if free.get(vi) and (nodes or vi in loaded):
                    nodes.append(free[vi].pop(0))
            elif vi in cooled or not pieces[item].stop.cold_chain:
                nodes.append(item + 1)
        routes.append(nodes)
    return routes


def _allow_only(routing, index, allowed):
    """Only these vehicles may visit ``index`` (the node may still be left out).

    SetAllowedVehiclesForIndex would say the same, but its Python binding in OR-Tools 9.15
    rejects Python lists, so the vehicle variable's domain is narrowed directly.
    """
    keep = set(allowed)
    others = [v for v in range(routing.vehicles()) if v not in keep]
    if others:
        routing.VehicleVar(index).RemoveValues(others)


def _add_load_dimension(routing, manager, name, demands, capacities, reload_nodes, initial,
                        n_nodes):
    """A load dimension starting at each vehicle's load aboard; reload nodes empty the truck
    (transit -max, slack up to max)."""
    reload_nodes = list(reload_nodes)
    top = max(capacities)
    vector = [0] + list(demands) + [-top] * len(reload_nodes)
    vector += [0] * (n_nodes - len(vector))  # the start nodes of vehicles already on the road
    callback = routing.RegisterUnaryTransitVector(vector)
    routing.AddDimensionWithVehicleCapacity(
        callback, top if reload_nodes else 0, capacities, False, name)
    dim = routing.GetDimensionOrDie(name)
    for vi in range(routing.vehicles()):
        dim.CumulVar(routing.Start(vi)).SetValue(initial[vi])
    if reload_nodes:
        reloads = set(reload_nodes)
        for node in range(1, len(demands) + 1 + len(reload_nodes)):
            index = manager.NodeToIndex(node)
            if node in reloads:
                dim.SlackVar(index).SetRange(0, top)
            else:
                dim.SlackVar(index).SetValue(0)
        for vi in range(routing.vehicles()):
            dim.SlackVar(routing.Start(vi)).SetValue(0)


def _remove_blocked_arcs(routing, manager, blocked, starts, first_start):
    """Take arcs with no road out of the model, so no route can ever use them."""
    from_hub = [routing.Start(vi) for vi, node in enumerate(starts) if node == 0]
    start_of = {node: routing.Start(vi) for vi, node in enumerate(starts) if node}
    ends = [routing.End(vi) for vi in range(len(starts))]

    def from_indices(node):
        if node == 0:
            return from_hub
        return [start_of[node]] if node >= first_start else [manager.NodeToIndex(node)]

    def to_indices(node):
        if node == 0:
            return ends
        return [] if node >= first_start else [manager.NodeToIndex(node)]

    for i, j in zip(*np.nonzero(blocked)):
        if i == j:
            continue
        for a in from_indices(int(i)):
            next_var = routing.NextVar(a)
            for b in to_indices(int(j)):
                next_var.RemoveValue(b)
