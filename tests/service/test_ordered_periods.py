"""Everything with a start and an end is ordered: streams, farms' pickup windows, hubs' hours, vehicles'
shifts and road closures. Checked at the API (422 naming the field) and by the database (migration
0005's CHECK constraints), so no other path can store an end before its start."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from supply.db.models import Farm, Hub, RoadClosure, Stream, Vehicle

START = datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("ends_at", [START - timedelta(hours=1), START])
def test_a_stream_that_ends_before_or_as_it_starts_is_a_422_naming_ends_at(client, manager, ends_at):
    response = client.post("/api/v1/streams", headers=manager, json={
        "platform": "douyin", "host": "阿依古丽", "starts_at": START.isoformat(), "ends_at": ends_at.isoformat()})
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["fields"]) == ["ends_at"]
    assert client.post("/api/v1/streams", headers=manager, json={
        "platform": "douyin", "host": "阿依古丽", "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat()}).status_code == 201


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/farms", {"name": "f", "lat": 1, "lon": 1, "window_start": "12:00", "window_end": "08:00"},
     "window_end"),
    ("/api/v1/hubs", {"name": "h", "lat": 42.5, "lon": 1.52, "opens_at": "18:00", "cutoff_at": "06:00"},
     "cutoff_at"),
    ("/api/v1/road-closures", {"edge_id": 1, "starts_at": START.isoformat(),
                               "ends_at": (START - timedelta(minutes=1)).isoformat(), "reason": "塌方"}, "ends_at"),
])
def test_windows_hours_and_closures_ending_before_they_start_are_a_422_naming_the_end(client, manager, path, body,
                                                                                      field):
    response = client.post(path, headers=manager, json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]


def test_a_vehicle_shift_ending_before_it_starts_is_a_422(client, manager):
    hub = client.post("/api/v1/hubs", headers=manager, json={
        "name": "h", "lat": 42.5, "lon": 1.52, "opens_at": "06:00", "cutoff_at": "18:00"}).get_json()
    response = client.post("/api/v1/vehicles", headers=manager, json={
        "hub_id": hub["id"], "name": "v", "capacity_kg": 100, "capacity_l": 100,
        "shift_start": "17:00", "shift_end": "07:00"})
    assert response.status_code == 422, response.get_json()
    assert "shift_end" in response.get_json()["error"]["fields"]


def hub_row(db) -> int:
    with db.transaction() as session:
        return session.execute(insert(Hub).values(cooperative_id=1, name="h", lat=1, lon=1, opens_at=time(6),
                                                  cutoff_at=time(18)).returning(Hub.id)).scalar()


@pytest.mark.parametrize("model, values", [
    (Stream, dict(platform="douyin", host="h", starts_at=START, ends_at=START - timedelta(seconds=1))),
    (Stream, dict(platform="douyin", host="h", starts_at=START, ends_at=START)),
    (RoadClosure, dict(edge_id=1, starts_at=START, ends_at=START - timedelta(days=1), reason="r")),
    (Farm, dict(name="f", lat=1, lon=1, window_start=time(12), window_end=time(8))),
    (Farm, dict(name="f", lat=1, lon=1, window_start=time(12), window_end=None)),
    (Hub, dict(name="h", lat=1, lon=1, opens_at=time(18), cutoff_at=time(6))),
    (Vehicle, dict(name="v", capacity_kg=1, capacity_l=1, shift_start=time(17), shift_end=time(7))),
], ids=["stream", "stream-zero-length", "closure", "farm-window", "farm-half-window", "hub", "vehicle"])
def test_the_database_refuses_an_end_before_its_start_from_any_path(db, model, values):
    if model is Vehicle:
        values = dict(values, hub_id=hub_row(db))
    with pytest.raises(IntegrityError):
        with db.transaction() as session:
            session.execute(insert(model).values(cooperative_id=1, **values))


def test_the_database_keeps_ordered_and_open_ended_periods(db):
    with db.transaction() as session:
        session.execute(insert(Stream).values(cooperative_id=1, platform="douyin", host="h", starts_at=START,
                                              ends_at=None))
        session.execute(insert(RoadClosure).values(cooperative_id=1, edge_id=1, starts_at=START,
                                                   ends_at=START + timedelta(hours=1), reason="r"))
        session.execute(insert(Farm).values(cooperative_id=1, name="f", lat=1, lon=1))
