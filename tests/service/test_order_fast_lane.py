"""POST /api/v1/orders answers the same through the fast lane as through the Flask view.

The lane (supply.api.fastlane) answers plainly valid orders from managers whose token this process
has verified; it passes everything else to the Flask app. The same script of requests runs with the
lane and without it, on the same fresh database: every status and body must be the same, and the
lane must really have answered the plain ones.
"""
from __future__ import annotations

import pytest

from tests.conftest import _clean
from tests.helpers import order, stocked_farm


def normalized(value):
    """Ids and times differ between two runs; everything else must not."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if k not in ("id", "created_at", "order_id")}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def script(client, tokens) -> list[tuple[int, object, str | None]]:
    manager = {"Authorization": f"Bearer {tokens['manager']}"}
    host = {"Authorization": f"Bearer {tokens['host']}"}
    stocked_farm(client, manager, 3)
    requests = [
        dict(json=order(external_id="DY-1", lines=[("NOODLE-500", 2)]), headers=manager),      # 201
        dict(json=order(external_id="DY-1", lines=[("NOODLE-500", 2)]), headers=manager),      # 200, first answer
        dict(json=order(external_id="DY-1", lines=[("NOODLE-500", 1)]), headers=manager),      # 409 conflicting
        dict(json=order(external_id="DY-2", lines=[("NOODLE-500", 2)]), headers=manager),      # 409 short
        dict(json=order(external_id="DY-3", lines=[("NOPE", 1)]), headers=manager),            # 422 unknown sku
        dict(json=order(external_id="DY-4", stream_id=99), headers=manager),                   # 422 unknown stream
        dict(json={**order(external_id="DY-5"), "lines": [{"sku": "NOODLE-500", "quantity": "1"}]},
             headers=manager),                                                                  # 422 by the schema
        dict(data=b'{"platform": "douyin",', headers={**manager, "Content-Type": "application/json"}),  # 400
        dict(data=b"platform=douyin", headers={**manager, "Content-Type": "text/plain"}),      # 415
        dict(json=order(external_id="DY-6"), headers=host),                                    # 403
        dict(json=order(external_id="DY-7"), headers={"Authorization": "Bearer nope"}),        # 401
        dict(json=order(external_id="DY-8", lines=[("NOODLE-500", 1)]), headers=manager),      # 201, the last unit
    ]
    answers = []
    for kwargs in requests:
        response = client.post("/api/v1/orders", **kwargs)
        location = response.headers.get("Location")
        if location is not None:   # the new order's address, where it can be read
            assert location == f"/api/v1/orders/{response.get_json()['id']}"
        answers.append((response.status_code, normalized(response.get_json()), response.headers.get("Retry-After"),
                        location is not None))
    availability = client.get("/api/v1/products/NOODLE-500/availability", headers=manager).get_json()
    answers.append((0, normalized(availability), None, False))
    return answers


def fast_lane(app):
    """The lane, inside the request observer."""
    from supply.api.fastlane import OrderFastLane

    wrapped = app.wsgi_app
    while not isinstance(wrapped, OrderFastLane):
        wrapped = wrapped.wsgi_app
    return wrapped


@pytest.fixture
def lane_calls(app, monkeypatch):
    """Counts the requests the lane passed on to the Flask app."""
    lane = fast_lane(app)
    passed = []
    inner = lane.next_app

    def counting(environ, start_response):
        if environ["PATH_INFO"] == "/api/v1/orders":
            passed.append(environ["REQUEST_METHOD"])
        return inner(environ, start_response)

    monkeypatch.setattr(lane, "next_app", counting)
    return passed


def test_the_lane_and_the_view_give_the_same_answers(app, client, db, tokens, lane_calls):
    with_lane = script(client, tokens)
    # Of the 12 orders the lane answered the 7 plain ones from the manager (verified while setting up);
    # the schema's 422, the broken and the non-JSON bodies, the host and the unknown token went on.
    assert len(lane_calls) == 5

    _clean(db)
    from supply.api.auth import clear_token_cache
    from supply.services.auth import create_driver, create_token

    clear_token_cache()
    with db.transaction() as session:
        create_driver(session, 1, name="Ma Jun")
        again = {"manager": create_token(session, role="manager"), "host": create_token(session, role="host")}
    app.wsgi_app = fast_lane(app).next_app   # the Flask view only
    lane_calls.clear()
    without_lane = script(client, again)
    assert len(lane_calls) == 12

    assert [a[0] for a in with_lane] == [201, 200, 409, 409, 422, 422, 422, 400, 415, 403, 401, 201, 0]
    assert with_lane == without_lane
    assert with_lane[-1][1]["reserved"] == 3 and with_lane[-1][1]["available"] == 0


def test_the_lane_does_not_let_an_address_past_the_failed_authentication_limit(db, settings, tokens):
    from dataclasses import replace

    from supply.app import create_app
    from supply.wiring import build_services

    limited = replace(settings, rate_limit_unauthenticated="2 per minute", rate_limit_key_prefix=f"lane-{id(db)}")
    app = create_app(limited, services=build_services(limited, db=db))
    client = app.test_client()
    manager = {"Authorization": f"Bearer {tokens['manager']}"}
    assert client.get("/api/v1/products", headers=manager).status_code == 200   # the token is verified now
    statuses = [client.get("/api/v1/products", headers={"Authorization": "Bearer wrong"}).status_code
                for _ in range(3)]
    assert statuses == [401, 401, 429]
    response = client.post("/api/v1/orders", json=order(), headers=manager)
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
