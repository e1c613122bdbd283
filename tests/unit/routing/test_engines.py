"""Both engines on the cooperative's whole workload: PyVRP models every constraint, routing.check
decides feasibility, a seeded budgeted search repeats, and a search that finds nothing says so."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import (
    UNREACHABLE,
    Problem,
    SearchFailed,
    Stop,
    Vehicle,
    check_plan,
    choose_engine,
    saving_bound,
    solve,
)
from routing.solver import _penalties

ENGINES = ["ortools", "pyvrp"]


def county_day(seed: int, n_stops: int = 24, *, closed_farms: int = 1) -> Problem:
    """A small day like the cooperative's: farms on a plane, Manhattan roads at 40 km/h, cold
    pickups, a mixed fleet (one refrigerated van), several trips with unloading at the hub,
    windows, a hub cut-off, shifts, per-km and per-use costs, priorities, and farms whose road
    to the hub is closed."""
    rng = np.random.default_rng(seed)
    xy = np.vstack([[0, 0], rng.integers(-15_000, 15_000, size=(n_stops, 2))])
    dist = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)
    dur = dist * 9 // 100  # 40 km/h
    for farm in range(1, closed_farms + 1):
        dur[farm, :] = dur[:, farm] = dist[farm, :] = dist[:, farm] = UNREACHABLE
        dur[farm, farm] = dist[farm, farm] = 0
    stops = []
    for i in range(1, n_stops + 1):
        window = [(7 * 3600, 17 * 3600), (8 * 3600, 12 * 3600), (13 * 3600, 17 * 3600)][i % 3]
        weight = int(rng.integers(20, 400))
        stops.append(Stop(id=f"f{i}", location=i, weight_kg=weight, volume_l=weight * 2,
                          service_duration_s=300 + weight, window_start_s=window[0],
                          window_end_s=window[1], cold_chain=i % 5 == 0,
                          priority=2 if i % 7 == 0 else 1))
    vehicles = [Vehicle(id=f"truck{k}", capacity_weight_kg=1500, capacity_volume_l=4000,
                        shift_start_s=6 * 3600, shift_end_s=int(18.5 * 3600), cost_per_km=300,
                        fixed_cost=150, max_trips=3) for k in range(2)]
    vehicles += [Vehicle(id="van", capacity_weight_kg=800, capacity_volume_l=3000,
                         shift_start_s=7 * 3600, shift_end_s=16 * 3600, cost_per_km=180,
                         fixed_cost=60, max_trips=2, max_duration_s=8 * 3600),
                 Vehicle(id="cold", capacity_weight_kg=600, capacity_volume_l=2000, refrigerated=True,
                         shift_start_s=6 * 3600, shift_end_s=int(18.5 * 3600), cost_per_km=250,
                         fixed_cost=120, max_trips=3)]
    return Problem(durations_s=dur, distances_m=dist, stops=stops, vehicles=vehicles,
                   hub_open_s=6 * 3600, hub_cutoff_s=int(18.5 * 3600), reload_duration_s=900)


def test_auto_gives_the_cooperative_day_to_pyvrp_and_says_why():
    problem = county_day(1)
    engine, why = choose_engine(problem)
    assert engine == "pyvrp" and "every constraint" in why
    plan = solve(problem, time_limit_s=None, max_iterations=300)
    assert plan.engine == "pyvrp"
    assert plan.search["engine_reason"] == why
    assert check_plan(problem, plan) == []


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_stops=st.integers(4, 30))
def test_every_pyvrp_plan_of_a_cooperative_day_passes_the_independent_check(seed, n_stops):
    problem = county_day(seed, n_stops)
    plan = solve(problem, time_limit_s=None, max_iterations=150, seed=seed, engine="pyvrp")
    assert check_plan(problem, plan) == []
    assert ("f1", "unreachable") in {(u.stop_id, u.reason) for u in plan.unassigned}
    for route in plan.routes:
        vehicle = next(v for v in problem.vehicles if v.id == route.vehicle_id)
        assert route.trips <= vehicle.max_trips


def test_pyvrp_uses_reload_trips_with_the_unloading_time_and_keeps_cold_pickups_cold():
    problem = county_day(3, 30)
    plan = solve(problem, time_limit_s=None, max_iterations=400, engine="pyvrp")
    assert check_plan(problem, plan) == []
    assert any(r.trips > 1 for r in plan.routes)
    cold = {s.id for s in problem.stops if s.cold_chain}
    for route in plan.routes:
        if route.vehicle_id != "cold":
            assert not cold & set(route.stop_ids)
        reloads = [v for v in route.visits if v.kind == "reload"]
        assert all(v.departure_s - v.service_start_s == 900 for v in reloads)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_seeded_budgeted_plan_repeats_exactly(engine):
    problem = county_day(5, 30)
    first = solve(problem, time_limit_s=None, max_iterations=60, seed=11, engine=engine)
    again = solve(problem, time_limit_s=None, max_iterations=60, seed=11, engine=engine)
    assert first.to_dict()["routes"] == again.to_dict()["routes"]
    assert first.search["stopped_by"] == "iterations"
    assert first.search["iterations"] == 60
    assert first.search["seed"] == 11


@pytest.mark.parametrize("engine", ENGINES)
def test_both_engines_honour_the_seed(engine):
    problem = county_day(8, 30, closed_farms=0)
    plans = {tuple((r.vehicle_id, r.stop_ids) for r in solve(
        problem, time_limit_s=None, max_iterations=5, seed=seed, engine=engine).routes)
        for seed in range(5)}
    assert len(plans) > 1


def test_a_search_that_finds_nothing_in_time_raises_instead_of_leaving_everything_out():
    problem = county_day(2, 400, closed_farms=0)
    with pytest.raises(SearchFailed, match="no plan|served no pickup"):
        solve(problem, time_limit_s=0.06, engine="ortools")


def test_search_arguments_out_of_range_are_refused_clearly():
    problem = county_day(1, 4)
    with pytest.raises(ValueError, match="max_iterations"):
        solve(problem, max_iterations=0)
    with pytest.raises(ValueError, match="time_limit_s, max_iterations"):
        solve(problem, time_limit_s=None)
    with pytest.raises(ValueError, match="seed"):
        solve(problem, seed=-1)


def test_the_penalty_for_leaving_a_pickup_out_exceeds_what_leaving_it_out_saves():
    problem = county_day(4, 20)
    bound = saving_bound(problem)
    # The bound: a dedicated trip on the longest arcs at the dearest rate, and the dearest vehicle.
    finite = problem.distances_m[problem.distances_m < UNREACHABLE]
    assert bound >= 2 * int(finite.max()) * 300 + 1000 * 150
    for cap in (1 << 60, 1 << 42):
        penalties = _penalties(problem, list(problem.stops), 10_000, cap=cap)
        assert min(penalties.values()) > bound
        assert penalties[2] > penalties[1]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_pickup_is_never_left_out_to_save_distance(engine):
    # The farthest farm costs a dedicated trip on a dear vehicle, and the second load a reload
    # trip: both are still collected.
    dist = [[0, 40_000, 40_000], [40_000, 0, 0], [40_000, 0, 0]]
    dur = [[0, 2400, 2400], [2400, 0, 0], [2400, 0, 0]]
    stops = [Stop(id="a", location=1, weight_kg=80), Stop(id="b", location=2, weight_kg=80)]
    vehicles = [Vehicle(id="t", capacity_weight_kg=100, max_trips=2, cost_per_km=5000,
                        fixed_cost=20_000)]
    problem = Problem(durations_s=dur, distances_m=dist, stops=stops, vehicles=vehicles,
                      reload_duration_s=600)
    plan = solve(problem, time_limit_s=None, max_iterations=200, engine=engine)
    assert check_plan(problem, plan) == []
    assert plan.unassigned == ()
    assert plan.routes[0].trips == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_a_warm_start_from_the_published_plan_is_never_worse_and_takes_in_new_pickups(engine):
    full = county_day(6, 27)
    problem = dataclasses.replace(full, stops=full.stops[:-3])  # the morning's pickups
    published = solve(problem, time_limit_s=None, max_iterations=300, engine=engine)
    start = [(r.vehicle_id, [v.stop_id for v in r.visits]) for r in published.routes]
    again = solve(problem, time_limit_s=None, max_iterations=5, engine=engine, initial_routes=start)
    assert check_plan(problem, again) == []
    assert again.search["warm_start"] is True
    assert (len(again.unassigned), again.cost) <= (len(published.unassigned), published.cost)
    # Three more pickups later in the day: the published routes are the start, the new farms get in.
    later = solve(full, time_limit_s=None, max_iterations=100, engine=engine, initial_routes=start)
    assert check_plan(full, later) == []
    assert later.search.get("warm_start_accepted", True)
    left = {u.stop_id for u in later.unassigned} - {u.stop_id for u in published.unassigned}
    # OR-Tools' local search from the given routes may keep a new cold pickup out on this budget
    # (the refrigerated van's route must be rearranged to take it); PyVRP takes all three in.
    assert len(left) <= (1 if engine == "ortools" else 0)


def test_a_plan_that_leaves_out_what_an_idle_vehicle_could_collect_is_a_search_cut_short():
    from routing.solver import _check_finished, _Piece

    problem = county_day(7, 6, closed_farms=0)
    pieces = [_Piece(s, s.weight_kg, s.volume_l, 1) for s in problem.stops]
    dry = next(k for k, p in enumerate(pieces) if not p.stop.cold_chain)
    order = [k for k in range(len(pieces)) if k != dry] + [dry]
    cut_short = [order[:-1]] + [[] for _ in problem.vehicles[1:]]  # a dry pickup out, trucks idle
    with pytest.raises(SearchFailed, match="idle vehicles could collect"):
        _check_finished(problem, pieces, cut_short, "ortools", {})
    everything = [list(range(len(pieces)))] + [[] for _ in problem.vehicles[1:]]
    _check_finished(problem, pieces, everything, "ortools", {})  # complete: nothing to say


def far_clusters() -> tuple[Problem, list]:
    """Three clusters far apart (seven, seven and six farms of 100 kg) and a start with one
    1,000 kg truck per cluster, though two carry them all (a truck's use costs as much as 2,000
    km): the third cluster must be split between the two others, neither can take it whole, and
    moving one farm at a time only lengthens the day until the last one leaves."""
    centres = [(60_000, 0, 7), (-60_000, 0, 7), (0, 60_000, 6)]
    xy = np.array([(0, 0)] + [(cx + 300 * j, cy) for cx, cy, n in centres for j in range(n)])
    dist = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)
    dur = dist * 6 // 100  # 60 km/h
    stops = [Stop(id=f"f{i}", location=i, weight_kg=100, service_duration_s=300) for i in range(1, 21)]
    vehicles = [Vehicle(id=f"t{k}", capacity_weight_kg=1000, shift_start_s=6 * 3600,
                        shift_end_s=22 * 3600, cost_per_km=100, fixed_cost=2_000_00)
                for k in range(3)]
    problem = Problem(durations_s=dur, distances_m=dist, stops=stops, vehicles=vehicles)
    start = [("t0", [f"f{i}" for i in range(1, 8)]), ("t1", [f"f{i}" for i in range(8, 15)]),
             ("t2", [f"f{i}" for i in range(15, 21)])]
    return problem, start


def _far_clusters_model(problem: Problem, prize: int | None = None):
    """far_clusters' hub and farms in a PyVRP model (pickups optional with ``prize``, else
    required), and its locations, for the vehicles and edges to be added."""
    import pyvrp

    m = pyvrp.Model()
    where = [m.add_location(x=0, y=0) for _ in range(len(problem.stops) + 1)]
    m.add_depot(where[0])
    for s in problem.stops:
        m.add_client(where[s.location], pickup=[s.weight_kg], service_duration=s.service_duration_s,
                     **({} if prize is None else {"prize": prize, "required": False}))
    return m, where


def _far_clusters_data(problem: Problem, prize: int | None = None, capacity: int = 1000):
    """far_clusters as PyVRP data: three trucks (1,000 kg), one routing profile."""
    m, where = _far_clusters_model(problem, prize)
    m.add_vehicle_type(num_available=3, capacity=[capacity], fixed_cost=2_000_00, unit_distance_cost=100)
    for i, a in enumerate(where):
        for j, b in enumerate(where):
            m.add_edge(a, b, distance=int(problem.distances_m[i, j]) // 1000,
                       duration=int(problem.durations_s[i, j]))
    return m.data()


def _closing_run(three, calls):
    """``run`` for _search_and_close: the search proper held at ``three``, the tries searching."""
    import pyvrp
    from pyvrp.stop import MaxIterations, MultipleCriteria, NoImprovement

    class Held:  # the search proper, held where it started
        best, num_iterations, runtime = three, 0, 0.0

    def run(d, limit_s, iterations, k, initial, patience=None):
        calls.append((k, d.vehicle_type(0).num_available, initial.num_routes(), patience,
                      [c.required for c in d.clients()], d.num_vehicle_types,
                      [vt.fixed_cost for vt in d.vehicle_types()]))
        if k == 0:
            return Held
        stop = MaxIterations(iterations)
        if patience is not None:
            stop = MultipleCriteria([stop, NoImprovement(patience)])
        return pyvrp.solve(d, stop, seed=k, initial_solution=initial, collect_stats=False)

    return run


def pyvrp_solution(data, start):
    """far_clusters' start (farm ids f1..f20 on routes) as a PyVRP solution of ``data``."""
    import pyvrp

    return pyvrp.Solution(data, [[int(sid[1:]) - 1 for sid in seq] for _, seq in start])


def test_pyvrp_closes_a_vehicle_no_single_move_can_close():
    """The closing step alone: the search proper is held at the start (three trucks), and the
    step takes a truck out and finds the two-truck plan."""
    from routing.engine_pyvrp import _objective, _search_and_close

    problem, start = far_clusters()
    data = _far_clusters_data(problem)
    three = pyvrp_solution(data, start)
    calls = []
    best, spent, _, closed = _search_and_close(data, _closing_run(three, calls), three, None, 200)
    assert best.is_feasible() and best.num_routes() == 2 and closed == 1
    assert _objective(best) < _objective(three) - 2_000_00 // 2  # a truck less, a longer day
    # The first try runs with one truck fewer, from the plan without the route taken out, and
    # gives up after 50 iterations without a better plan (a tenth of 200, at least 50).
    assert calls[1][:4] == (1, 2, 2, 50)
    assert spent <= 200


def test_a_closing_try_requires_the_optional_pickups_the_plan_serves():
    """Where pickups are optional, a try may not close a truck by leaving its pickups out: those
    the plan serves are required in the try (the one it leaves out stays optional), and the try
    still finds the two-truck plan serving them all."""
    import pyvrp

    from routing.engine_pyvrp import _search_and_close

    problem, start = far_clusters()
    data = _far_clusters_data(problem, prize=5_000_00)
    # f20 left out of the start: the plan serves 19 pickups with three trucks.
    three = pyvrp.Solution(data, [[int(sid[1:]) - 1 for sid in seq if sid != "f20"]
                                  for _, seq in start])
    calls = []
    best, _, _, closed = _search_and_close(data, _closing_run(three, calls), three, None, 200)
    assert all(not required for required in calls[0][4])  # the search proper: all optional
    assert calls[1][4] == [True] * 19 + [False]  # the try: the 19 served required, f20 not
    assert best.is_feasible() and best.num_routes() == 2 and closed == 1
    served = {a.idx for r in best.routes() for a in r.schedule() if a.is_client()}
    assert served >= set(range(19))


def _two_types_data(problem: Problem, van_only: set[int] = frozenset()):
    """far_clusters as PyVRP data with two trucks of type 0 and one dearer vehicle of type 1; the
    locations in ``van_only`` are reached by type 1 alone (type 0's profile prohibits them, as
    ``_pyvrp_data`` does the cold-chain pickups for trucks without cooling)."""
    day = 22 * 3600
    m, where = _far_clusters_model(problem)
    plain, every = m.add_profile(), m.add_profile()
    m.add_vehicle_type(num_available=2, capacity=[1000], fixed_cost=2_000_00, unit_distance_cost=100,
                       tw_late=day, profile=plain)
    m.add_vehicle_type(num_available=1, capacity=[1000], fixed_cost=3_000_00, unit_distance_cost=100,
                       tw_late=day, profile=every)
    for i, a in enumerate(where):
        for j, b in enumerate(where):
            d, t = int(problem.distances_m[i, j]) // 1000, int(problem.durations_s[i, j])
            m.add_edge(a, b, distance=d, duration=t, profile=every)
            prohibited = i != j and (i in van_only or j in van_only)
            m.add_edge(a, b, distance=d, duration=2 * day + 1 if prohibited else t, profile=plain)
    return m.data()


def _start_on_two_types(data):
    """Clusters one and two on the trucks of type 0, the third on the vehicle of type 1."""
    import pyvrp

    return pyvrp.Solution(data, [pyvrp.Route(data, list(range(0, 7)), 0),
                                 pyvrp.Route(data, list(range(7, 14)), 0),
                                 pyvrp.Route(data, list(range(14, 20)), 1)])


def test_a_closing_try_on_the_last_route_of_its_type_closes_that_type():
    """The route of the one vehicle of type 1 is tried first (fewest pickups for what it costs);
    the try runs without that type (PyVRP keeps no type with no vehicle) and finds the plan on
    the two trucks, which costs less."""
    from routing.engine_pyvrp import _objective, _search_and_close

    problem, _ = far_clusters()
    data = _two_types_data(problem)
    three = _start_on_two_types(data)
    calls = []
    best, _, _, closed = _search_and_close(data, _closing_run(three, calls), three, None, 200)
    assert calls[1][5] == 1 and calls[1][1] == 2  # type 1 gone, the two trucks of type 0 kept
    assert best.is_feasible() and closed == 1 and _objective(best) < _objective(three)
    assert [r.vehicle_type() for r in best.routes()] == [0, 0]


def test_a_route_whose_pickups_only_its_type_reaches_is_not_tried_without_that_type():
    """The third cluster is reached by type 1 alone: its route is never taken out (a try without
    the type could not serve them); the tries take out the trucks' routes instead, and every try
    keeps type 1 (the dearer one, 3,000 yuan)."""
    from routing.engine_pyvrp import _others_reach, _search_and_close

    problem, _ = far_clusters()
    data = _two_types_data(problem, van_only=set(range(15, 21)))
    three = _start_on_two_types(data)
    van_route = list(three.routes())[2]
    assert not _others_reach(data, van_route, 1) and _others_reach(data, list(three.routes())[0], 0)
    calls = []
    best, _, _, _ = _search_and_close(data, _closing_run(three, calls), three, None, 200)
    tries = [c for c in calls if c[0] > 0 and c[3] is not None]
    assert tries and all(3_000_00 in c[6] for c in tries)
    assert tries[0][6] == [2_000_00, 3_000_00] and tries[0][1] == 1  # a truck's route taken out
    assert best.is_feasible() and any(r.vehicle_type() == 1 for r in best.routes())


def test_a_try_whose_fleet_cannot_carry_the_day_is_not_run():
    """Trucks of 900 kg: two carry 1,800 kg of the 2,000 the three routes collect, so no try
    can close one; none is run, and the plan stays on three trucks."""
    from routing.engine_pyvrp import _can_carry, _search_and_close

    problem, start = far_clusters()
    data = _far_clusters_data(problem, capacity=900)
    three = pyvrp_solution(data, start)
    everything = set(range(20))
    assert not _can_carry(data, everything, [0], [2]) and _can_carry(data, everything, [0], [3])
    calls = []
    best, _, _, closed = _search_and_close(data, _closing_run(three, calls), three, None, 200)
    assert [c[3] for c in calls if c[0] > 0] == [None]  # the final search alone: no try
    assert closed == 0 and best.num_routes() == 3


def test_what_a_fleet_carries_counts_its_trips_and_which_pickups_each_type_reaches():
    """far_clusters on two trucks of type 0 and a vehicle of type 1 that alone reaches the third
    cluster (600 kg): the trucks alone carry 2,000 kg but cannot reach those six pickups; with the
    van they can; a van of 500 kg cannot take them, unless it makes a second trip."""
    from routing.engine_pyvrp import _can_carry

    problem, _ = far_clusters()
    data = _two_types_data(problem, van_only=set(range(15, 21)))
    everything = set(range(20))
    assert _can_carry(data, everything, [0, 1], [2, 1])
    assert not _can_carry(data, everything, [0], [2])  # nobody reaches the third cluster
    assert _can_carry(data, set(range(14)), [0], [2])  # the first two clusters alone
    small = [data.vehicle_type(0), data.vehicle_type(1).replace(capacity=[500])]
    assert not _can_carry(data.replace(vehicle_types=small), everything, [0, 1], [2, 1])
    twice = [small[0], small[1].replace(reload_depots=[0], max_reloads=1)]
    assert _can_carry(data.replace(vehicle_types=twice), everything, [0, 1], [2, 1])


def test_a_search_from_a_plan_missing_required_pickups_starts_from_them_placed(monkeypatch):
    """PyVRP prices a plan without some of its required pickups below any plan with them all, so
    the search's late acceptance would keep going back to such a start. The search starts from
    the start with the missing pickups placed."""
    import pyvrp
    from pyvrp.stop import MaxIterations

    from routing.engine_pyvrp import _pyvrp_search

    problem, start = far_clusters()
    data = _far_clusters_data(problem)
    two = pyvrp_solution(data, start[:2])  # the third cluster's six pickups missing
    three = pyvrp_solution(data, start)
    assert two.num_missing_clients() == 6 and three.is_feasible()
    evaluator = pyvrp.CostEvaluator([1000.0], 1000.0, 1000.0)
    # Why the start is placed first: missing, the six cost nothing, penalised or not.
    assert evaluator.penalised_cost(two) < evaluator.penalised_cost(three)
    starts = []
    real = pyvrp.IteratedLocalSearch

    def spy(data, pm, ls, initial, params):
        starts.append(initial)
        return real(data, pm, ls, initial, params)

    monkeypatch.setattr(pyvrp, "IteratedLocalSearch", spy)
    result = _pyvrp_search(data, MaxIterations(20), 1, pyvrp.SolveParams(), [], two)
    assert starts[0].num_missing_clients() == 0
    assert result.best.is_feasible() and result.best.num_missing_clients() == 0


def test_a_day_with_every_pickup_required_starts_from_penalties_priced_like_its_roads():
    """far_clusters, every pickup required and trucks that cost to use: an average pickup's load
    over capacity, an average drive's lateness and an average drive's length over the limit are
    each priced as an average road, far below the halfway start PyVRP uses elsewhere; where
    pickups are optional (prizes) or vehicles cost nothing to use, the start stays halfway."""
    import pyvrp

    from routing.engine_pyvrp import _initial_penalties

    problem, _ = far_clusters()
    params = pyvrp.PenaltyParams(max_penalty=1e9)
    data = _far_clusters_data(problem)
    (load,), warp, distance = _initial_penalties(data, params)
    midpoint = params.midpoint_penalties(data)
    assert load < midpoint[0][0] / 1000 and warp < midpoint[1] / 1000
    durations = data.duration_matrix(0)
    real = data.distance_matrix(0) < data.distance_matrix(0).max()
    road = 100 * data.distance_matrix(0)[real].mean()  # 100 a unit of distance
    assert load * 100 == pytest.approx(road) and warp * durations[real].mean() == pytest.approx(road)
    assert distance * data.distance_matrix(0)[real].mean() == pytest.approx(road)
    assert _initial_penalties(_far_clusters_data(problem, prize=5_000_00), params) == midpoint
    free = data.replace(vehicle_types=[data.vehicle_type(0).replace(fixed_cost=0)])
    assert _initial_penalties(free, params) == midpoint


@pytest.mark.parametrize("priced", [True, False])
def test_a_short_search_starts_its_penalties_halfway(monkeypatch, priced):
    """_pyvrp_search starts the penalty manager from the penalties priced like the roads, or, for
    a search too short for the manager to find its level, halfway between the bounds."""
    import sys

    import pyvrp
    from pyvrp.stop import MaxIterations

    from routing.engine_pyvrp import _initial_penalties, _pyvrp_search

    problem, start = far_clusters()
    data = _far_clusters_data(problem)
    params = pyvrp.SolveParams()
    started = []
    manager = sys.modules["pyvrp.PenaltyManager"]  # the module: pyvrp.PenaltyManager is the class
    real = manager.PenaltyManager

    def spy(penalties, penalty_params):
        started.append(penalties)
        return real(penalties, penalty_params)

    monkeypatch.setattr(manager, "PenaltyManager", spy)
    _pyvrp_search(data, MaxIterations(5), 1, params, [], pyvrp_solution(data, start), priced)
    expected = (_initial_penalties(data, params.penalty) if priced
                else params.penalty.midpoint_penalties(data))
    assert started == [expected]
    assert _initial_penalties(data, params.penalty) != params.penalty.midpoint_penalties(data)
