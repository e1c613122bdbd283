"""Reference solvers for the routing benchmark, run on the very same integer instances.

Each returns ``[(vehicle_id, [stop ids...]), ...]``; the benchmark rebuilds a Plan from these
routes and checks it with the same independent checker as our own plans.
"""

from __future__ import annotations

import numpy as np


def solve_pyvrp(problem, time_limit_s: float, seed: int = 0):
    """Plain PyVRP on the problem as given: every client required, the file's fleet size."""
    import pyvrp
    from pyvrp.stop import MaxRuntime

    hub = problem.hub_location
    locs = [hub] + [s.location for s in problem.stops]
    dist = np.asarray(problem.distances_m, dtype=np.int64)[np.ix_(locs, locs)]
    dur = np.asarray(problem.durations_s, dtype=np.int64)[np.ix_(locs, locs)]
    clients = [
        pyvrp.Client(location=i + 1, pickup=[s.weight_kg], service_duration=s.service_duration_s,
                     tw_early=s.window_start_s,
                     **({} if s.window_end_s is None else {"tw_late": s.window_end_s}))
        for i, s in enumerate(problem.stops)
    ]
    v = problem.vehicles[0]
    vehicle_type = pyvrp.VehicleType(
        num_available=len(problem.vehicles), capacity=[v.capacity_weight_kg],
        tw_early=problem.departure_s(v), tw_late=problem.return_deadline_s(v))
    depot = pyvrp.Depot(location=0, tw_early=problem.hub_open_s,
                        **({} if problem.hub_cutoff_s is None else {"tw_late": problem.hub_cutoff_s}))
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(0, 0) for _ in locs], clients=clients, depots=[depot],
        vehicle_types=[vehicle_type], distance_matrices=[dist], duration_matrices=[dur])
    result = pyvrp.solve(data, stop=MaxRuntime(time_limit_s), seed=seed, display=False,
                         collect_stats=False)
    routes = []
    for k, route in enumerate(result.best.routes()):
        ids = [problem.stops[a.idx].id for a in route.schedule() if a.is_client()]
        routes.append((problem.vehicles[k].id, ids))
    return routes


def solve_vroom(problem, exploration_level: int = 5):
    """VROOM (pyvroom) at its highest exploration level, one thread; it has no time limit."""
    import vroom

    inp = vroom.Input()
    inp.set_durations_matrix(profile="car", matrix_input=[list(r) for r in problem.durations_s])
    for v in problem.vehicles:
        shift = {}
        if problem.return_deadline_s(v) < 2**31:  # VROOM's times are 32-bit
            shift["time_window"] = vroom.TimeWindow(problem.departure_s(v),
                                                    problem.return_deadline_s(v))
        inp.add_vehicle(vroom.Vehicle(
            id=v.id, start=problem.hub_location, end=problem.hub_location,
            capacity=[v.capacity_weight_kg], **shift))
    for k, s in enumerate(problem.stops):
        windows = [] if s.window_end_s is None else [vroom.TimeWindow(s.window_start_s,
                                                                      s.window_end_s)]
        inp.add_job(vroom.Job(id=k, location=s.location, default_service=s.service_duration_s,
                              pickup=[s.weight_kg], time_windows=windows))
    solution = inp.solve(exploration_level=exploration_level, nb_threads=1)
    frame = solution.routes
    routes = []
    for vehicle_id, rows in frame.groupby("vehicle_id", sort=False):
        jobs = rows[rows["type"] == "job"]
        routes.append((int(vehicle_id), [problem.stops[int(j)].id for j in jobs["id"]]))
    return routes
