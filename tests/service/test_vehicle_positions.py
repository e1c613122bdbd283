"""A driver reports where the vehicle is (POST /api/v1/routes/<id>/position): only for a route of
the published plan, its own route for a driver, a real point, a time on the route's day and not in
the future; bad input is a 422 naming the field and stores nothing; the same report sent twice is
kept once. (What a re-plan does with it: tests/service/test_replan_midday.py.)"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import auth
from tests.service.test_replan_midday import DAY, ok, pickups, published_day  # noqa: F401 (fixture)


def positions(client) -> int:
    from supply.db.models import VehiclePosition

    with client.application.extensions["coop"].db.transaction() as session:
        return session.execute(select(func.count()).select_from(VehiclePosition)).scalar()


def driver_of(client, route) -> dict:
    """A driver token for the driver of this route."""
    from supply.services.auth import create_token

    with client.application.extensions["coop"].db.transaction() as session:
        return auth(create_token(session, role="driver", driver_id=route["driver_id"]))


@pytest.fixture
def route(published_day):  # noqa: F811
    return next(r for r in published_day["plan"]["routes"] if pickups(r))


def test_a_driver_reports_the_position_of_its_route_and_a_resend_is_kept_once(client, published_day, route):  # noqa: F811
    driver = driver_of(client, route)
    assert client.get(f"/api/v1/routes/{route['id']}", headers=driver).get_json()["last_position"] is None
    body = {"lat": 42.5345, "lon": 1.5800, "accuracy_m": 8, "reported_at": f"{DAY}T09:30:00+08:00"}
    first = ok(client.post(f"/api/v1/routes/{route['id']}/position", json=body, headers=driver))
    assert (first["route_id"], first["vehicle_id"], first["lat"], first["lon"]) == \
        (route["id"], route["vehicle_id"], 42.5345, 1.58)
    assert first["replayed"] is False and 0 <= first["road_distance_m"] < 1000
    again = ok(client.post(f"/api/v1/routes/{route['id']}/position", json=body, headers=driver))
    assert again["replayed"] is True and again["id"] == first["id"]
    assert positions(client) == 1
    seen = client.get(f"/api/v1/routes/{route['id']}", headers=driver).get_json()["last_position"]
    assert (seen["lat"], seen["lon"], seen["accuracy_m"]) == (42.5345, 1.58, 8.0)
    assert seen["reported_at"].startswith(f"{DAY}T01:30:00")  # 09:30 in the cooperative's time, as UTC
    # Another point for the same vehicle at the same second is refused.
    moved = client.post(f"/api/v1/routes/{route['id']}/position", json={**body, "lat": 42.5}, headers=driver)
    assert moved.status_code == 409 and moved.get_json()["error"]["code"] == "position_time_taken"
    assert positions(client) == 1


@pytest.mark.parametrize("body, field", [
    ({"lat": 91, "lon": 1.5}, "lat"),
    ({"lat": 42.5, "lon": -180.5}, "lon"),
    ({"lat": "42.5", "lon": 1.5}, "lat"),
    ({"lat": True, "lon": 1.5}, "lat"),
    ({"lon": 1.5}, "lat"),
    ({"lat": 42.5, "lon": 1.5, "accuracy_m": -1}, "accuracy_m"),
    ({"lat": 42.5, "lon": 1.5, "reported_at": f"{DAY}T09:30:00"}, "reported_at"),          # no offset
    ({"lat": 42.5, "lon": 1.5, "reported_at": "2026-11-29T23:30:00+08:00"}, "reported_at"),  # the day before
    ({"lat": 42.5, "lon": 1.5, "reported_at": "2099-01-01T09:30:00+08:00"}, "reported_at"),  # the future
    ({"lat": 42.5, "lon": 1.5, "speed": 40}, "speed"),
])
def test_a_bad_position_is_a_422_naming_the_field_and_stores_nothing(client, published_day, route, body, field):  # noqa: F811
    response = client.post(f"/api/v1/routes/{route['id']}/position", json=body, headers=published_day["manager"])
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert positions(client) == 0


def test_not_a_number_and_bodies_that_are_not_objects_are_refused(client, published_day, route):  # noqa: F811
    manager = {**published_day["manager"], "Content-Type": "application/json"}
    for raw in ('{"lat": NaN, "lon": 1.5}', '{"lat": Infinity, "lon": 1.5}', "[42.5, 1.5]", "42.5", "{"):
        response = client.post(f"/api/v1/routes/{route['id']}/position", data=raw, headers=manager)
        assert 400 <= response.status_code < 500 and response.get_json()["error"], raw
    assert positions(client) == 0


def test_only_the_routes_own_driver_on_the_published_plan_and_a_real_route(client, published_day, route, tokens):  # noqa: F811
    body = {"lat": 42.5345, "lon": 1.5800}
    other = client.post(f"/api/v1/routes/{route['id']}/position", json=body, headers=auth(tokens["other_driver"]))
    assert other.status_code == 403
    host = client.post(f"/api/v1/routes/{route['id']}/position", json=body, headers=auth(tokens["host"]))
    assert host.status_code == 403
    for route_id in (999_999, 2**31 - 1):
        missing = client.post(f"/api/v1/routes/{route_id}/position", json=body, headers=published_day["manager"])
        assert missing.status_code == 404, missing.get_json()
    assert client.post(f"/api/v1/routes/{2**40}/position", json=body,
                       headers=published_day["manager"]).status_code == 404
    assert positions(client) == 0


def test_a_route_of_a_draft_is_a_409_for_a_manager(client, published_day):  # noqa: F811
    from supply.db.models import DispatchPlan

    plan_id = published_day["plan"]["id"]
    with client.application.extensions["coop"].db.transaction() as session:
        session.get(DispatchPlan, plan_id).status = "draft"
    route = published_day["plan"]["routes"][0]
    response = client.post(f"/api/v1/routes/{route['id']}/position", json={"lat": 42.5, "lon": 1.5},
                           headers=published_day["manager"])
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "plan_not_published"
    assert positions(client) == 0


def test_a_report_without_a_time_is_stamped_with_the_clock_to_the_second(client, published_day, route):  # noqa: F811
    from supply.services.auth import Principal
    from supply.services.collection import POSITION_CLOCK_SKEW, report_position

    db = client.application.extensions["coop"].db
    now = datetime.fromisoformat(f"{DAY}T09:30:15.734+08:00")
    manager = Principal(role="manager", cooperative_id=1, token_id=1)
    with db.transaction() as session:
        report, replayed = report_position(session, None, manager, route["id"], lat=42.5, lon=1.5, now=now)
    assert report["reported_at"] == now.replace(microsecond=0) and not replayed
    assert report["road_distance_m"] is None  # no network given, no distance
    # A phone's clock a little ahead passes; further ahead does not.
    with db.transaction() as session:
        report_position(session, None, manager, route["id"], lat=42.5, lon=1.5,
                        reported_at=now + POSITION_CLOCK_SKEW, now=now)
    with pytest.raises(Exception, match="future"), db.transaction() as session:
        report_position(session, None, manager, route["id"], lat=42.5, lon=1.5,
                        reported_at=now + POSITION_CLOCK_SKEW + timedelta(seconds=1), now=now)
    assert positions(client) == 2
