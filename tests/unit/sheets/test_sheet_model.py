from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from supply.sheets import RouteSheet, SheetItem, SheetLeg, SheetStop

UTC = dt.UTC


def _stop(sequence=1, kind="pickup", arrival=dt.datetime(2026, 11, 24, 8, tzinfo=UTC), **kw):
    return SheetStop(sequence=sequence, kind=kind, stop_id=f"S{sequence}", farm_name="农场",
                     phone="", lon=100.0, lat=30.0, arrival=arrival, **kw)


def test_lists_are_stored_as_tuples_so_a_sheet_cannot_change(sheet):
    stop = _stop(items=[SheetItem("A", "荞麦面", 2, "bag", 1.0)], legs_from_previous=[])
    assert isinstance(stop.items, tuple)
    assert isinstance(sheet.stops, tuple)
    assert all(isinstance(line, tuple) for line in sheet.background_roads)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stop.farm_name = "x"


def test_a_naive_arrival_time_is_refused():
    with pytest.raises(ValueError, match="arrival"):
        _stop(arrival=dt.datetime(2026, 11, 24, 8))


def test_an_unknown_stop_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        _stop(kind="delivery")


def test_route_path_needs_one_polyline_per_hop(sheet):
    with pytest.raises(ValueError, match="route_path"):
        dataclasses.replace(sheet, route_path=sheet.route_path[:-1])


def test_stops_must_be_in_sequence_order(sheet):
    with pytest.raises(ValueError, match="stops"):
        dataclasses.replace(sheet, stops=tuple(reversed(sheet.stops)))


def test_a_reload_stop_starts_a_new_trip_and_is_not_counted_as_a_pickup(sheet):
    reloads = [stop for stop in sheet.stops if stop.is_reload]
    assert len(reloads) == 1
    assert sheet.trips == 2
    assert len(sheet.pickups) == len(sheet.stops) - 1
    reload_hop = sheet.stops.index(reloads[0])
    assert sheet.trip_of_hop(reload_hop) == 1
    assert sheet.trip_of_hop(reload_hop + 1) == 2


def test_total_weight_is_what_the_pickups_collect(sheet):
    expected = sum(item.weight_kg for stop in sheet.stops for item in stop.items)
    assert sheet.total_weight_kg == pytest.approx(expected)


def test_an_empty_road_name_reads_as_unnamed_road():
    from supply.sheets.i18n import locale

    assert SheetLeg("", 1200, 90).display_name == "无名道路"
    with locale("en"):
        assert SheetLeg("", 1200, 90).display_name == "unnamed road"
    assert SheetLeg(" X071 县道 ", 1200, 90).display_name == "X071 县道"


def test_a_sheet_without_stops_or_path_is_valid():
    departure = dt.datetime(2026, 11, 24, 7, tzinfo=UTC)
    empty = RouteSheet("R", "P", 1, "Co-op", "Hub", 100.0, 30.0, "Van", "A-1", "Li",
                       departure.date(), departure, departure, 0, 0)
    assert empty.trips == 1
    assert empty.total_weight_kg == 0
