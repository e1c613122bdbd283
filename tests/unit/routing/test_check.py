"""The checker accepts a solver's plan and rejects plans broken in each way."""

from dataclasses import replace
from pathlib import Path

import pytest

from routing import (
    InfeasiblePlan,
    Plan,
    Problem,
    Stop,
    Unassigned,
    Vehicle,
    assert_feasible,
    check_plan,
    read_solomon,
    solve,
)

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def solved():
    problem = read_solomon(DATA / "C101_25.txt").problem
    return problem, solve(problem, time_limit_s=0.5, engine="ortools")


def with_route(plan, r, route):
    routes = list(plan.routes)
    routes[r] = route
    return replace(plan, routes=tuple(routes))


def test_a_solver_plan_passes(solved):
    problem, plan = solved
    assert check_plan(problem, plan) == []
    assert_feasible(problem, plan)


def test_a_missing_pickup_is_caught(solved):
    problem, plan = solved
    route = plan.routes[0]
    broken = with_route(plan, 0, replace(route, visits=route.visits[1:]))
    errors = check_plan(problem, broken)
    assert any("neither visited nor left out" in e for e in errors)
    with pytest.raises(InfeasiblePlan):
        assert_feasible(problem, broken)


def test_a_pickup_both_visited_and_left_out_is_caught(solved):
    problem, plan = solved
    sid = plan.routes[0].visits[0].stop_id
    broken = replace(plan, unassigned=(Unassigned(sid, "capacity"),))
    assert any("both visited and left out" in e for e in check_plan(problem, broken))


def test_a_late_arrival_is_caught(solved):
    problem, plan = solved
    route = plan.routes[0]
    late = replace(route, start_s=route.start_s + 5000)
    assert any("after its window" in e or "reports arrival" in e
               for e in check_plan(problem, with_route(plan, 0, late)))


def test_overloading_and_cold_chain_on_a_dry_truck_are_caught():
    dur = [[0, 10, 10], [10, 0, 10], [10, 10, 0]]
    stops = (Stop(id="a", location=1, weight_kg=8, cold_chain=True),
             Stop(id="b", location=2, weight_kg=8))
    good = Problem(durations_s=dur, distances_m=dur, stops=stops,
                   vehicles=(Vehicle(id="t", capacity_weight_kg=20, refrigerated=True),))
    plan = solve(good, time_limit_s=0.5, engine="ortools")
    assert check_plan(good, plan) == []
    weak = replace(good, vehicles=(Vehicle(id="t", capacity_weight_kg=10),))
    errors = check_plan(weak, plan)
    assert any("capacity 10 kg" in e for e in errors)
    assert any("cold-chain" in e for e in errors)


def test_wrong_reported_figures_and_unknown_reasons_are_caught(solved):
    problem, plan = solved
    assert any("plan reports" in e for e in check_plan(problem, replace(plan, distance_m=1)))
    assert any("reports" in e for e in check_plan(
        problem, with_route(plan, 0, replace(plan.routes[0], end_s=0))))
    empty = Plan(routes=(), unassigned=tuple(Unassigned(s.id, "weather") for s in problem.stops),
                 cost=0, distance_m=0, engine="none")
    assert any("unknown reason" in e for e in check_plan(problem, empty))
