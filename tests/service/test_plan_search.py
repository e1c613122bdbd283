"""A dispatch plan records how it was searched, and a seeded, budgeted plan repeats exactly."""
from __future__ import annotations

from tests.conftest import auth
from tests.web.conftest import DAY, build_day, wait_for_job


def plan(client, manager, hub_id, **search) -> dict:
    job = wait_for_job(client, manager, client.post("/api/v1/dispatch-plans", headers=manager, json={
        "hub_id": hub_id, "date": DAY, **search}))
    return client.get(f"/api/v1/dispatch-plans/{job['result']['plan_id']}", headers=manager).get_json()


def confirmed_day(client, tokens, manager) -> dict:
    """A day whose pickups are all confirmed as ready, not yet planned."""
    day = build_day(client, tokens, publish=False)
    for p in day["pickups"]:
        assert client.post(f"/api/v1/pickups/{p['id']}/confirm", json={"quantity_ready": p["quantity"]},
                           headers=manager).status_code == 200
    return day


def test_a_seeded_budgeted_plan_repeats_and_shows_its_engine_seed_budget_and_figures(client, tokens):
    manager = auth(tokens["manager"])
    day = confirmed_day(client, tokens, manager)
    first = plan(client, manager, day["hub"]["id"], seed=7, max_iterations=50)
    again = plan(client, manager, day["hub"]["id"], seed=7, max_iterations=50)
    assert (first["version"], again["version"]) == (1, 2)
    search = first["search"]
    assert first["engine"] == "pyvrp" and search["engine_reason"]
    assert (search["seed"], search["max_iterations"], search["time_limit_s"]) == (7, 50, None)
    assert search["iterations"] == 50 and search["stopped_by"] == "iterations"
    assert search["objective"] >= 0 and search["solve_time_s"] >= 0
    # Two searches side by side; the plan is the cheaper one's, and so is the objective recorded.
    assert search["searches"] == 2 and search["objective"] == min(search["search_objectives"])
    assert search == {**again["search"], "solve_time_s": search["solve_time_s"],
                      "search_time_s": search["search_time_s"]}
    assert [[(s["farm_id"], s["kind"]) for s in r["stops"]] for r in first["routes"]] == \
        [[(s["farm_id"], s["kind"]) for s in r["stops"]] for r in again["routes"]]
    assert first["distance_m"] == again["distance_m"] > 0


def test_plan_search_arguments_out_of_range_are_refused(client, tokens):
    manager = auth(tokens["manager"])
    for body in ({"seed": -1}, {"max_iterations": 0}, {"max_iterations": "many"},
                 # a JSON body's integers are JSON integers: not text, not a float
                 {"seed": "5"}, {"seed": 5.0}, {"max_iterations": "1_0"}, {"max_iterations": 50.5}):
        response = client.post("/api/v1/dispatch-plans", headers=manager,
                               json={"hub_id": 1, "date": DAY, **body})
        assert response.status_code == 422, response.get_json()
        assert set(response.get_json()["error"]["fields"]) == set(body)


def test_a_new_version_starts_from_the_published_plan(client, tokens):
    manager = auth(tokens["manager"])
    day = confirmed_day(client, tokens, manager)
    first = plan(client, manager, day["hub"]["id"], max_iterations=50)
    assert first["search"]["warm_start"] is False
    assert client.post(f"/api/v1/dispatch-plans/{first['id']}/publish", headers=manager).status_code == 200
    second = plan(client, manager, day["hub"]["id"], max_iterations=20)
    assert second["search"]["warm_start"] is True
    # From a plan that was already good, a short search keeps it as good.
    assert second["cost"] <= first["cost"]
    assert len(second["unplanned"]) <= len(first["unplanned"])


def test_a_plan_asked_for_without_a_limit_searches_for_the_default_limit(client, tokens, monkeypatch):
    from supply.services import planning

    manager = auth(tokens["manager"])
    day = confirmed_day(client, tokens, manager)
    asked = []
    real = planning.solve

    def recorded(problem, *, time_limit_s, **kwargs):
        asked.append(time_limit_s)
        return real(problem, time_limit_s=None, **{**kwargs, "max_iterations": 20})

    monkeypatch.setattr(planning, "solve", recorded)
    plan(client, manager, day["hub"]["id"])
    plan(client, manager, day["hub"]["id"], time_limit_s=3)
    assert asked == [planning.DEFAULT_TIME_LIMIT_S, 3]
