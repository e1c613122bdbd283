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


def test_the_cheapest_of_two_rounds_of_searches_is_kept_and_one_search_has_one_round():
    problem = county_day(5, 30)
    both = solve(problem, time_limit_s=None, max_iterations=80, seed=4, engine="pyvrp")
    assert both.search["searches"] == engine_pyvrp.PARALLEL_SEARCHES == 2
    # Two rounds of two searches: the first round's, then the second's (from the first's best).
    objectives = both.search["search_objectives"]
    assert len(objectives) == 4 and all(isinstance(o, int) for o in objectives)
    assert both.search["objective"] == min(objectives)
    assert both.search["search_won"] == objectives.index(min(objectives))
    assert both.search["iterations"] == 80 and both.search["stopped_by"] == "iterations"
    # The first search of the first round is what one search alone finds with the same seed and
    # that round's half of the budget; one search alone has one round, with the whole budget.
    engine_pyvrp.PARALLEL_SEARCHES = 1
    try:
        half = solve(problem, time_limit_s=None, max_iterations=40, seed=4, engine="pyvrp")
        alone = solve(problem, time_limit_s=None, max_iterations=80, seed=4, engine="pyvrp")
    finally:
        engine_pyvrp.PARALLEL_SEARCHES = 2
    assert half.search["searches"] == 1 and half.search["objective"] == objectives[0]
    assert len(alone.search["search_objectives"]) == 1 and alone.search["iterations"] == 80


def test_a_budget_too_small_to_share_gives_one_round():
    plan = solve(county_day(5, 20), time_limit_s=None, max_iterations=1, seed=0, engine="pyvrp")
    assert len(plan.search["search_objectives"]) == 2


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
        # The forked process runs the second search with this module as patched.
        if seed == 4 + engine_pyvrp._SEED_STRIDE:
            raise RuntimeError("the second search broke")
        return real(problem, pieces, limit_s, seed, *rest)

    monkeypatch.setattr(engine_pyvrp, "_one_search", second_fails)
    plan = solve(county_day(5, 20), time_limit_s=None, max_iterations=30, seed=4, engine="pyvrp")
    objectives = plan.search["search_objectives"]
    assert objectives[1] is None and all(isinstance(o, int) for k, o in enumerate(objectives)
                                         if k != 1)
    assert plan.search["search_won"] != 1
    assert plan.search["searches_failed"] == {1: "RuntimeError: the second search broke"}
    assert plan.routes
