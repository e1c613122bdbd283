"""Re-planning from where the trucks are: a vehicle already on the road starts at its position,
at the current time, with its load aboard; moving a pickup off the vehicle it was published on
costs the reassign penalty. Both engines; routing.check refuses plans that break these rules."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import Problem, Stop, Vehicle, check_plan, choose_engine, plan_from_routes, solve
from tests.unit.routing.test_engines import county_day

ENGINES = ["ortools", "pyvrp"]
H = 3600


def line_problem(**vehicle) -> Problem:
    """Hub at km 0, a farm X at km 10 where the truck is, pickups a and b at km 11 and 12."""
    xs = np.array([0, 10_000, 11_000, 12_000])
    dist = np.abs(xs[:, None] - xs[None, :])
    dur = dist * 9 // 100
    stops = [Stop(id="a", location=2, weight_kg=200, service_duration_s=300),
             Stop(id="b", location=3, weight_kg=200, service_duration_s=300)]
    args = dict(id="t", capacity_weight_kg=1000, shift_start_s=6 * H, shift_end_s=18 * H,
                start_location=1, start_s=10 * H, initial_weight_kg=700, max_trips=2)
    args.update(vehicle)
    return Problem(durations_s=dur, distances_m=dist, stops=stops, vehicles=[Vehicle(**args)],
                   hub_open_s=6 * H, reload_duration_s=600)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_vehicle_starting_mid_route_with_a_load_unloads_before_it_overfills(engine):
    problem = line_problem()
    plan = solve(problem, time_limit_s=None, max_iterations=200, engine=engine)
    assert check_plan(problem, plan) == []
    assert plan.unassigned == ()
    (route,) = plan.routes
    assert route.start_location == 1 and route.locations[0] == 1
    assert route.start_s >= 10 * H
    # 700 kg aboard + 2 x 200 kg > 1000 kg: it goes to the hub first (cheaper than between the two)
    assert [v.kind for v in route.visits] == ["reload", "pickup", "pickup"]
    assert max(v.load_weight_kg for v in route.visits) <= 1000
    assert route.distance_m == 10_000 + 11_000 + 1_000 + 12_000


@pytest.mark.parametrize("engine", ENGINES)
def test_with_no_trip_left_the_load_aboard_leaves_room_for_one_pickup_only(engine):
    problem = line_problem(max_trips=1)
    plan = solve(problem, time_limit_s=None, max_iterations=200, engine=engine)
    assert check_plan(problem, plan) == []
    (route,) = plan.routes
    assert len(route.stop_ids) == 1 and route.visits[0].load_weight_kg == 900
    assert [u.reason for u in plan.unassigned] == ["capacity"]
    # Empty, the same truck takes both without going back.
    empty = line_problem(max_trips=1, initial_weight_kg=0)
    assert solve(empty, time_limit_s=None, max_iterations=200, engine=engine).unassigned == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_vehicle_on_the_road_starts_at_the_current_time_and_misses_windows_already_closed(engine):
    problem = line_problem(initial_weight_kg=0)
    problem = dataclasses.replace(problem, stops=(
        dataclasses.replace(problem.stops[0], window_end_s=9 * H),   # closed before 10:00
        dataclasses.replace(problem.stops[1], window_start_s=11 * H)))
    plan = solve(problem, time_limit_s=None, max_iterations=100, engine=engine)
    assert check_plan(problem, plan) == []
    assert [(u.stop_id, u.reason) for u in plan.unassigned] == [("a", "time_window")]
    (route,) = plan.routes
    assert route.visits[0].service_start_s >= 11 * H


@pytest.mark.parametrize("engine", ENGINES)
def test_a_vehicle_on_the_road_with_nothing_left_still_drives_home(engine):
    problem = dataclasses.replace(line_problem(), stops=())
    plan = solve(problem, time_limit_s=None, max_iterations=10, engine=engine)
    assert check_plan(problem, plan) == []
    (route,) = plan.routes
    assert route.visits == () and route.distance_m == 10_000
    assert route.end_s == route.start_s + 900


def two_trucks_near_a_pickup(detour_km: int, penalty: int) -> Problem:
    """Trucks A and B on the road, 10 km from the hub each; pickup s, 10 km from the hub, was
    published on A, which is detour_km from it; B is 1 km from it. Moving s to B saves
    detour_km - 1 km (at 1 unit a km)."""
    x = detour_km * 1000
    dist = np.array([[0, 10_000, 10_000, 10_000],
                     [10_000, 0, x + 1000, x],
                     [10_000, x + 1000, 0, 1000],
                     [10_000, x, 1000, 0]])
    vehicles = [Vehicle(id=name, capacity_weight_kg=1000, cost_per_km=1, start_location=loc,
                        start_s=9 * H, shift_end_s=20 * H) for name, loc in (("A", 1), ("B", 2))]
    stops = [Stop(id="s", location=3, weight_kg=100, published_vehicle="A")]
    return Problem(durations_s=dist * 9 // 100, distances_m=dist, stops=stops, vehicles=vehicles,
                   reassign_penalty=penalty)


def served_by(plan) -> str:
    return next(r.vehicle_id for r in plan.routes if "s" in r.stop_ids)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_reassign_penalty_keeps_a_stop_on_its_vehicle_unless_the_detour_outweighs_it(engine):
    def run(detour_km, penalty):
        problem = two_trucks_near_a_pickup(detour_km, penalty)
        assert choose_engine(problem)[0] == "pyvrp"
        plan = solve(problem, time_limit_s=None, max_iterations=100, engine=engine)
        assert check_plan(problem, plan) == []
        assert {r.vehicle_id for r in plan.routes} == {"A", "B"}  # both drive home
        return plan

    # Without a penalty the 2 km saved move it; a penalty of 5 keeps it on A ...
    assert served_by(run(3, 0)) == "B"
    kept = run(3, 5)
    assert served_by(kept) == "A" and kept.search["reassigned"] == 0
    # ... but not when keeping it costs a 14 km detour.
    moved = run(15, 5)
    assert served_by(moved) == "B" and moved.search["reassigned"] == 1
    # The penalty is not a cost of driving: the plan's cost is the routes' alone.
    assert moved.cost == sum(r.cost for r in moved.routes)


def test_pyvrp_cannot_carry_the_penalty_on_a_vehicle_free_per_km_so_auto_picks_ortools():
    problem = two_trucks_near_a_pickup(3, 5)
    free = dataclasses.replace(problem, vehicles=(
        problem.vehicles[0], dataclasses.replace(problem.vehicles[1], cost_per_km=0)))
    engine, why = choose_engine(free)
    assert engine == "ortools" and "reassign penalty" in why
    with pytest.raises(ValueError, match="pyvrp engine cannot"):
        solve(free, time_limit_s=None, max_iterations=10, engine="pyvrp")
    plan = solve(free, time_limit_s=None, max_iterations=50)
    assert plan.engine == "ortools" and plan.search["engine_reason"] == why
    assert check_plan(free, plan) == []
    # Without a penalty the same fleet is PyVRP's.
    assert choose_engine(dataclasses.replace(free, reassign_penalty=0))[0] == "pyvrp"


def test_a_penalty_needing_more_profiles_than_pyvrp_has_memory_for_goes_to_ortools(monkeypatch):
    import routing.engine_pyvrp

    problem = two_trucks_near_a_pickup(3, 5)
    monkeypatch.setattr(routing.engine_pyvrp, "_PYVRP_PROFILE_BYTES", 1000)
    engine, why = choose_engine(problem)
    assert engine == "ortools" and "routing profiles" in why
    plan = solve(problem, time_limit_s=None, max_iterations=50, engine="pyvrp")  # may be forced
    assert served_by(plan) == "A"


def test_the_check_refuses_a_plan_that_ignores_the_start_place_time_or_load():
    problem = line_problem(max_trips=1)
    at_hub = dataclasses.replace(problem, vehicles=(dataclasses.replace(
        problem.vehicles[0], start_location=None, start_s=None, initial_weight_kg=0),))
    plan = plan_from_routes(at_hub, [("t", ["a", "b"])])
    assert check_plan(at_hub, plan) == []
    errors = " | ".join(check_plan(problem, plan))
    assert "starts at location 0, the vehicle is at 1" in errors
    assert "before 36000 s" in errors
    assert "1100 kg on board, capacity 1000 kg" in errors
    # The same visits planned from where the truck is: the load aboard still overfills it.
    honest = plan_from_routes(problem, [("t", ["a", "b"])])
    assert [e for e in check_plan(problem, honest)] == [
        "route 0 (vehicle 't') visit 1: 1100 kg on board, capacity 1000 kg"]
    # A truck on the road must be given its way home.
    nothing = dataclasses.replace(honest, routes=(), unassigned=tuple(
        dataclasses.replace(u) for u in plan_from_routes(problem, []).unassigned), cost=0,
        distance_m=0)
    assert any("has no route back" in e for e in check_plan(problem, nothing))


def replan_day(seed: int, n_stops: int, penalty: int) -> tuple[Problem, dict]:
    """A county day planned in the morning; at 11:00 each truck that has been out is at its
    last pickup before 11:00 with what it has collected since it last unloaded; the rest of the
    pickups are published on their vehicles."""
    problem = county_day(seed, n_stops)
    morning = solve(problem, time_limit_s=None, max_iterations=150, seed=seed, engine="pyvrp")
    now = 11 * H
    vehicles, published, done = [], {}, set()
    for v in problem.vehicles:
        route = next((r for r in morning.routes if r.vehicle_id == v.id), None)
        visits = [] if route is None else list(route.visits)
        past = [x for x in visits if x.departure_s <= now]
        for x in visits[len(past):]:
            if x.kind == "pickup":
                published[x.stop_id] = v.id
        done |= {x.stop_id for x in past if x.kind == "pickup"}
        if past:
            last = past[-1]
            trips = v.max_trips - sum(1 for x in past if x.kind == "reload")
            vehicles.append(dataclasses.replace(
                v, start_location=last.location, start_s=max(now, last.departure_s),
                initial_weight_kg=last.load_weight_kg, initial_volume_l=last.load_volume_l,
                max_trips=max(trips, 1), max_duration_s=None))
        else:
            vehicles.append(dataclasses.replace(v, start_s=now))
    stops = [dataclasses.replace(s, published_vehicle=published.get(s.id))
             for s in problem.stops if s.id not in done]
    later = dataclasses.replace(problem, stops=stops, vehicles=vehicles, reassign_penalty=penalty)
    start = [(r.vehicle_id, [x.stop_id for x in r.visits if x.stop_id not in done
                             and (x.kind == "pickup" or x.departure_s > now)])
             for r in morning.routes]
    return later, {"start": start, "published": published}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_stops=st.integers(8, 30), engine=st.sampled_from(ENGINES))
def test_every_replan_from_where_the_trucks_are_passes_the_check(seed, n_stops, engine):
    problem, published = replan_day(seed, n_stops, penalty=50)
    plan = solve(problem, time_limit_s=None, max_iterations=100, seed=seed, engine=engine,
                 initial_routes=published["start"])
    assert check_plan(problem, plan) == []
    # The published routes, without what can no longer be driven in order, are where both start.
    assert plan.search["warm_start"] and plan.search.get("warm_start_accepted", True)
    for v in problem.vehicles:
        if v.start_location not in (None, 0):
            route = next(r for r in plan.routes if r.vehicle_id == v.id)
            assert route.locations[0] == v.start_location and route.start_s >= v.start_s


@pytest.mark.parametrize("engine", ENGINES)
def test_a_replan_with_the_penalty_moves_fewer_published_stops(engine):
    # Over three days: on one day a good morning plan may leave nothing worth moving even
    # without the penalty.
    moved = {0: 0, 2000: 0}
    for day in (21, 22, 23):
        for penalty in (0, 2000):
            problem, published = replan_day(day, 30, penalty)
            plan = solve(problem, time_limit_s=None, max_iterations=200, seed=3, engine=engine,
                         initial_routes=published["start"])
            assert check_plan(problem, plan) == []
            moved[penalty] += plan.search["reassigned"]
            if penalty:
                # Some moves are forced (a truck too full, or too late, for what it was given):
                # few remain.
                assert plan.search["reassigned"] <= 0.15 * len(published["published"])
    assert moved[2000] < moved[0]


def test_a_published_route_that_can_no_longer_be_driven_in_order_is_started_from_what_can():
    problem = line_problem(initial_weight_kg=0)
    problem = dataclasses.replace(problem, stops=(
        dataclasses.replace(problem.stops[0], window_end_s=10 * H + 300), problem.stops[1]))
    plan = solve(problem, time_limit_s=None, max_iterations=20, engine="ortools",
                 initial_routes=[("t", ["b", "a"])])
    # From 10:00 at km 10, a (km 11) closes at 10:05: after b (km 12) it is too late.
    assert plan.search["warm_start_dropped"] == 1
    assert plan.search["warm_start_accepted"] is True
    assert check_plan(problem, plan) == [] and plan.routes[0].stop_ids == ("a", "b")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_truck_out_of_time_drives_home_late_rather_than_failing_the_whole_plan(engine):
    # Its shift and its route time are over before it can be back (a re-plan late in the day):
    # the others are still planned, and the check says what is late.
    problem = line_problem(initial_weight_kg=0, start_s=18 * H - 60, max_duration_s=30)
    helper = Vehicle(id="u", capacity_weight_kg=1000, shift_start_s=6 * H, shift_end_s=20 * H)
    problem = dataclasses.replace(problem, vehicles=(*problem.vehicles, helper))
    plan = solve(problem, time_limit_s=None, max_iterations=50, engine=engine)
    late = next(r for r in plan.routes if r.vehicle_id == "t")
    assert late.visits == () and late.distance_m == 10_000
    assert {r.vehicle_id for r in plan.routes if r.stop_ids} == {"u"} and plan.unassigned == ()
    errors = check_plan(problem, plan)
    assert errors and all("(vehicle 't')" in e for e in errors)
