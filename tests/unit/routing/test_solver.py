"""Solver properties: each pickup visited once or left out with a reason; every constraint holds."""

from pathlib import Path

import pytest

from routing import (
    UNREACHABLE,
    Problem,
    Stop,
    Vehicle,
    check_plan,
    diagnose,
    pyvrp_supports,
    read_solomon,
    solve,
)

DATA = Path(__file__).resolve().parents[2] / "data"
ENGINES = ["ortools", "pyvrp"]


def line_problem(positions_km, stops, vehicles, **kwargs):
    """Hub at position 0 km; farms on one road; 1 km = 60 s (60 km/h)."""
    points = [0, *positions_km]
    dist = [[abs(a - b) * 1000 for b in points] for a in points]
    dur = [[abs(a - b) * 60 for b in points] for a in points]
    return Problem(durations_s=dur, distances_m=dist, stops=tuple(stops),
                   vehicles=tuple(vehicles), **kwargs)


def assert_ok(problem, plan):
    assert check_plan(problem, plan) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_small_solomon_plan_visits_every_customer_once_within_windows(engine):
    problem = read_solomon(DATA / "C101_25.txt").problem
    plan = solve(problem, time_limit_s=1, engine=engine)
    assert_ok(problem, plan)
    visited = [sid for r in plan.routes for sid in r.stop_ids]
    assert sorted(visited) == list(range(1, 26))
    assert plan.unassigned == ()
    assert plan.engine == engine


def test_plan_comes_back_within_the_time_limit():
    problem = read_solomon(DATA / "C101_25.txt").problem
    plan = solve(problem, time_limit_s=0.5, engine="ortools")
    assert plan.solve_time_s < 0.8
    assert_ok(problem, plan)


@pytest.mark.parametrize("engine", ENGINES)
def test_volume_capacity_binds_as_well_as_weight(engine):
    stops = [Stop(id=i, location=i, weight_kg=10, volume_l=60) for i in range(1, 5)]
    vehicles = [Vehicle(id=v, capacity_weight_kg=1000, capacity_volume_l=100) for v in "ab"]
    vehicles += [Vehicle(id="c", capacity_weight_kg=1000, capacity_volume_l=130)]
    vehicles += [Vehicle(id="d", capacity_weight_kg=1000, capacity_volume_l=130)]
    problem = line_problem([1, 2, 3, 4], stops, vehicles)
    plan = solve(problem, time_limit_s=1, engine=engine)
    assert_ok(problem, plan)
    assert plan.unassigned == ()
    for route in plan.routes:
        cap = next(v.capacity_volume_l for v in vehicles if v.id == route.vehicle_id)
        assert max(v.load_volume_l for v in route.visits) <= cap


@pytest.mark.parametrize("engine", ["auto", *ENGINES])
def test_cold_chain_pickups_ride_only_refrigerated_vehicles(engine):
    stops = [Stop(id=i, location=i, weight_kg=10, cold_chain=i % 2 == 0) for i in range(1, 7)]
    vehicles = [Vehicle(id="cold", capacity_weight_kg=40, refrigerated=True),
                Vehicle(id="dry", capacity_weight_kg=40)]
    problem = line_problem([1, 2, 3, 4, 5, 6], stops, vehicles)
    assert pyvrp_supports(problem)
    plan = solve(problem, time_limit_s=1, engine=engine)
    assert plan.engine == ("pyvrp" if engine == "auto" else engine)
    assert_ok(problem, plan)
    assert plan.unassigned == ()
    for route in plan.routes:
        if route.vehicle_id == "dry":
            assert all(sid % 2 == 1 for sid in route.stop_ids)


@pytest.mark.parametrize("engine", ENGINES)
def test_one_truck_makes_several_trips_and_unloads_between_them(engine):
    stops = [Stop(id=i, location=i, weight_kg=60, service_duration_s=300) for i in range(1, 5)]
    vehicles = [Vehicle(id="t", capacity_weight_kg=100, max_trips=4)]
    problem = line_problem([5, 6, 7, 8], stops, vehicles)
    # The optimum needs all four trips; on a busy machine one second was not always enough to find it.
    plan = solve(problem, time_limit_s=5, engine=engine)
    assert_ok(problem, plan)
    assert plan.unassigned == ()
    (route,) = plan.routes
    assert route.trips == 4
    assert max(v.load_weight_kg for v in route.visits) <= 100
    assert route.locations[0] == route.locations[-1] == 0


def test_reload_time_at_the_hub_counts_against_the_shift():
    stops = [Stop(id=i, location=i, weight_kg=60) for i in range(1, 3)]
    vehicles = [Vehicle(id="t", capacity_weight_kg=100, max_trips=2, shift_end_s=3600)]
    problem = line_problem([10, 10], stops, vehicles, reload_duration_s=1800)
    # 2 trips x 20 min driving + 30 min unloading > 60 min: only one pickup fits.
    plan = solve(problem, time_limit_s=1)
    assert_ok(problem, plan)
    assert len(plan.unassigned) == 1
    assert plan.unassigned[0].reason == "capacity"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_pickup_larger_than_any_truck_is_split_and_the_parts_sum_to_the_whole(engine):
    stops = [Stop(id="big", location=1, weight_kg=250, volume_l=90), Stop(id="s", location=2,
                                                                            weight_kg=20)]
    vehicles = [Vehicle(id=v, capacity_weight_kg=100) for v in range(3)]
    problem = line_problem([3, 4], stops, vehicles)
    plan = solve(problem, time_limit_s=1, engine=engine)
    assert_ok(problem, plan)
    parts = [v for r in plan.routes for v in r.visits if v.stop_id == "big"]
    assert len(parts) >= 3
    assert sum(v.weight_kg for v in parts) == 250
    assert sum(v.volume_l for v in parts) == 90


@pytest.mark.parametrize("engine", ["auto", "ortools"])
def test_left_out_pickups_carry_the_right_reason(engine):
    positions = [2, 3, 4, 50, 5, 6]
    stops = [
        Stop(id="ok", location=1, weight_kg=20),
        Stop(id="cut_off", location=2, weight_kg=10),
        Stop(id="cold", location=3, weight_kg=10, cold_chain=True),
        Stop(id="far", location=4, weight_kg=10, window_end_s=600),
        Stop(id="low", location=5, weight_kg=90, priority=1),
        Stop(id="high", location=6, weight_kg=90, priority=2),
    ]
    problem = line_problem(positions, stops, [Vehicle(id="t", capacity_weight_kg=100)])
    dur = [list(r) for r in problem.durations_s]
    dist = [list(r) for r in problem.distances_m]
    dur[0][2] = dist[0][2] = UNREACHABLE  # the pass to "cut_off" is closed
    problem = Problem(durations_s=dur, distances_m=dist, stops=problem.stops,
                      vehicles=problem.vehicles)
    plan = solve(problem, time_limit_s=0.5, engine=engine)
    assert_ok(problem, plan)
    reasons = {u.stop_id: u.reason for u in plan.unassigned}
    assert reasons == {"cut_off": "unreachable", "cold": "no_suitable_vehicle",
                       "far": "time_window", "ok": "capacity", "low": "capacity"}
    assert [sid for r in plan.routes for sid in r.stop_ids] == ["high"]


@pytest.mark.parametrize("engine", ENGINES)
def test_hub_cut_off_and_shift_limit_the_farms_that_can_be_reached(engine):
    stops = [Stop(id="near", location=1, weight_kg=1), Stop(id="far", location=2, weight_kg=1)]
    problem = line_problem([10, 40], stops, [Vehicle(id="t", capacity_weight_kg=10)],
                           hub_open_s=0, hub_cutoff_s=3600)
    assert diagnose(problem, problem.stop("far"))[0] == "time_window"
    plan = solve(problem, time_limit_s=0.5, engine=engine)
    assert_ok(problem, plan)
    assert [(u.stop_id, u.reason) for u in plan.unassigned] == [("far", "time_window")]


@pytest.mark.parametrize("engine", ENGINES)
def test_max_route_duration_holds(engine):
    stops = [Stop(id=i, location=i, weight_kg=1, service_duration_s=600) for i in range(1, 5)]
    vehicles = [Vehicle(id=v, capacity_weight_kg=100, max_duration_s=3000) for v in range(3)]
    problem = line_problem([5, 6, 7, 8], stops, vehicles)
    plan = solve(problem, time_limit_s=0.5, engine=engine)
    assert_ok(problem, plan)
    assert plan.unassigned == ()
    assert all(r.duration_s <= 3000 for r in plan.routes)


@pytest.mark.parametrize("engine", ["auto", *ENGINES])
def test_routes_never_use_an_arc_with_no_road(engine):
    stops = [Stop(id=i, location=i, weight_kg=1) for i in range(1, 4)]
    problem = line_problem([1, 2, 3], stops, [Vehicle(id="t", capacity_weight_kg=10, max_trips=3),
                                              Vehicle(id="u", capacity_weight_kg=10)])
    dur = [list(r) for r in problem.durations_s]
    for i in (1, 2, 3):
        for j in (1, 2, 3):
            if i != j:
                dur[i][j] = UNREACHABLE  # farms reachable only through the hub
    problem = Problem(durations_s=dur, distances_m=problem.distances_m, stops=problem.stops,
                      vehicles=problem.vehicles)
    plan = solve(problem, time_limit_s=1, engine=engine)
    assert plan.engine == ("ortools" if engine == "auto" else engine)
    assert_ok(problem, plan)
    if engine != "pyvrp":  # PyVRP never uses the missing roads, but may not route via the hub
        assert plan.unassigned == ()
    for route in plan.routes:
        locs = route.locations
        assert all(problem.is_reachable(a, b) for a, b in zip(locs, locs[1:]))


def test_per_use_cost_prefers_fewer_vehicles():
    stops = [Stop(id=i, location=i, weight_kg=10) for i in range(1, 4)]
    vehicles = [Vehicle(id=v, capacity_weight_kg=100, fixed_cost=100000) for v in range(3)]
    problem = line_problem([5, 5, 5], stops, vehicles)
    for engine in ENGINES:
        plan = solve(problem, time_limit_s=0.5, engine=engine)
        assert_ok(problem, plan)
        assert len(plan.routes) == 1
        assert plan.cost == 100000 + 10 * 1000


def test_an_empty_problem_gives_an_empty_plan():
    problem = line_problem([], [], [Vehicle(id="t", capacity_weight_kg=1)])
    plan = solve(problem, time_limit_s=1)
    assert plan.routes == () and plan.unassigned == ()


def test_bad_arguments_are_refused():
    problem = line_problem([1], [Stop(id=1, location=1, cold_chain=True)],
                           [Vehicle(id="t", capacity_weight_kg=1)])
    with pytest.raises(ValueError, match="engine"):
        solve(problem, engine="gurobi")
    with pytest.raises(ValueError, match="time_limit_s"):
        solve(problem, time_limit_s=0)


def test_auto_gives_a_pickup_larger_than_a_vehicle_load_to_ortools_and_says_why():
    stops = [Stop(id="big", location=1, weight_kg=150), Stop(id="s", location=2, weight_kg=20)]
    problem = line_problem([3, 4], stops, [Vehicle(id=v, capacity_weight_kg=100) for v in "ab"])
    plan = solve(problem, time_limit_s=0.5)
    assert plan.engine == "ortools"
    assert "'big'" in plan.search["engine_reason"]
    assert_ok(problem, plan)
    assert plan.unassigned == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_several_priorities_leave_out_the_least_important_first(engine):
    stops = [Stop(id=f"p{p}", location=p, weight_kg=50, priority=p) for p in (1, 2, 3)]
    problem = line_problem([1, 2, 3], stops, [Vehicle(id="t", capacity_weight_kg=100)])
    plan = solve(problem, time_limit_s=0.5, engine=engine)
    assert_ok(problem, plan)
    assert [u.stop_id for u in plan.unassigned] == ["p1"]


def test_plan_from_routes_rebuilds_times_and_reports_the_rest_left_out():
    from routing import plan_from_routes

    stops = [Stop(id=i, location=i, weight_kg=10) for i in range(1, 4)]
    problem = line_problem([1, 2, 3], stops, [Vehicle(id="t", capacity_weight_kg=100)])
    plan = plan_from_routes(problem, [("t", [1, 2])])
    assert_ok(problem, plan)
    assert plan.distance_m == 4000
    assert [(u.stop_id, u.reason) for u in plan.unassigned] == [(3, "capacity")]
    with pytest.raises(ValueError, match="unknown stop"):
        plan_from_routes(problem, [("t", [9])])
