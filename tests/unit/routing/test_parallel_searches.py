"""PyVRP's searches side by side: each in a process of its own, the cheapest plan kept."""

from __future__ import annotations

import os

import pytest

import routing.engine_pyvrp as engine_pyvrp
from routing import solve
from routing.engine_pyvrp import run_side_by_side

from tests.unit.routing.test_engines import county_day


def _pid():
    return os.getpid()


def _fails():
    raise ValueError("no plan here")


def _dies():
    os._exit(3)


def test_side_by_side_runs_each_call_in_a_process_of_its_own_and_keeps_their_order():
    outcomes = run_side_by_side([_pid, _pid, lambda: "third"])
    assert outcomes[0] == os.getpid()
    assert outcomes[1] != os.getpid()
    assert outcomes[2] == "third"


def test_a_call_that_fails_or_whose_process_dies_gives_an_exception_not_a_hang():
    outcomes = run_side_by_side([lambda: 1, _fails, _dies])
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], ValueError) and "no plan here" in str(outcomes[1])
    assert isinstance(outcomes[2], RuntimeError) and "ended (3)" in str(outcomes[2])


def test_the_cheapest_of_the_searches_is_kept_and_the_first_is_the_single_search():
    problem = county_day(5, 30)
    both = solve(problem, time_limit_s=None, max_iterations=80, seed=4, engine="pyvrp")
    assert both.search["searches"] == engine_pyvrp.PARALLEL_SEARCHES == 2
    objectives = both.search["search_objectives"]
    assert len(objectives) == 2 and all(isinstance(o, int) for o in objectives)
    assert both.search["objective"] == min(objectives)
    assert both.search["search_won"] == objectives.index(min(objectives))
    # The first search is what one search alone finds with the same seed and budget.
    engine_pyvrp.PARALLEL_SEARCHES = 1
    try:
        alone = solve(problem, time_limit_s=None, max_iterations=80, seed=4, engine="pyvrp")
    finally:
        engine_pyvrp.PARALLEL_SEARCHES = 2
    assert alone.search["searches"] == 1
    assert alone.search["objective"] == objectives[0]
    if both.search["search_won"] == 0:
        assert alone.to_dict()["routes"] == both.to_dict()["routes"]


@pytest.mark.parametrize("searches", [1, 3])
def test_a_seeded_budgeted_plan_repeats_with_any_number_of_searches(monkeypatch, searches):
    monkeypatch.setattr(engine_pyvrp, "PARALLEL_SEARCHES", searches)
    problem = county_day(6, 30)
    first = solve(problem, time_limit_s=None, max_iterations=60, seed=9, engine="pyvrp")
    again = solve(problem, time_limit_s=None, max_iterations=60, seed=9, engine="pyvrp")
    assert first.search["searches"] == searches
    assert first.to_dict()["routes"] == again.to_dict()["routes"]
    assert first.search["search_objectives"] == again.search["search_objectives"]


def test_a_day_too_large_to_copy_keeps_one_search(monkeypatch):
    monkeypatch.setattr(engine_pyvrp, "_PARALLEL_BYTES", 1)
    plan = solve(county_day(5, 20), time_limit_s=None, max_iterations=30, seed=0, engine="pyvrp")
    assert plan.search["searches"] == 1


def test_a_search_that_fails_leaves_the_plan_to_the_others_and_says_why(monkeypatch):
    real = engine_pyvrp._one_search

    def second_fails(problem, pieces, limit_s, seed, *rest):
        if seed != 4:  # the forked process runs the second search with this module as patched
            raise RuntimeError("the second search broke")
        return real(problem, pieces, limit_s, seed, *rest)

    monkeypatch.setattr(engine_pyvrp, "_one_search", second_fails)
    plan = solve(county_day(5, 20), time_limit_s=None, max_iterations=30, seed=4, engine="pyvrp")
    assert plan.search["search_won"] == 0 and plan.search["search_objectives"][1] is None
    assert plan.search["searches_failed"] == {1: "RuntimeError: the second search broke"}
    assert plan.routes
