"""Warm starts are taken as the published routes were driven (``routing.solver._drivable``)."""

from __future__ import annotations

import numpy as np
import pytest

from routing import Problem, Stop, Vehicle, check_plan, solve

H = 3600


def line(stops, **vehicle) -> Problem:
    """Hub at km 0, farms at km 11 and 12."""
    xs = np.array([0, 11_000, 12_000])
    dist = np.abs(xs[:, None] - xs[None, :])
    args = dict(id="t", capacity_weight_kg=1000, shift_start_s=6 * H, shift_end_s=18 * H)
    args.update(vehicle)
    return Problem(durations_s=dist * 9 // 100, distances_m=dist, stops=stops,
                   vehicles=[Vehicle(**args)], hub_open_s=6 * H, reload_duration_s=600)


@pytest.mark.parametrize("engine", ["ortools", "pyvrp"])
def test_a_shift_counts_from_when_the_published_route_leaves_not_from_the_shift_start(engine):
    # A 3 h shift and farm a opening at 14:00: leaving at 13:45 the round is done well within
    # the shift, though it ends more than 3 h after the 06:00 shift start.
    stops = [Stop(id="a", location=1, weight_kg=200, service_duration_s=300,
                  window_start_s=14 * H),
             Stop(id="b", location=2, weight_kg=200, service_duration_s=300)]
    problem = line(stops, max_duration_s=3 * H)
    plan = solve(problem, time_limit_s=None, max_iterations=50, engine=engine,
                 initial_routes=[("t", ["a", "b"])])
    assert plan.search["warm_start_dropped"] == 0
    assert check_plan(problem, plan) == [] and plan.unassigned == ()


@pytest.mark.parametrize("engine", ["ortools", "pyvrp"])
def test_a_split_pickup_published_on_two_trips_keeps_one_piece_on_each(engine):
    # 1,500 kg against a 1,000 kg truck: two pieces, one per trip as published.
    stops = [Stop(id="a", location=1, weight_kg=1500, service_duration_s=300)]
    problem = line(stops, max_trips=2)
    plan = solve(problem, time_limit_s=None, max_iterations=50, engine=engine,
                 initial_routes=[("t", ["a", None, "a"])])
    assert plan.search["warm_start_dropped"] == 0
    assert check_plan(problem, plan) == [] and plan.unassigned == ()
    assert plan.routes[0].trips == 2
