"""WGS-84 -> GCJ-02 against the reference implementations' published test points."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from supply.domain.geo import out_of_china, wgs84_to_gcj02

# (wgs lat, wgs lon, gcj lat, gcj lon): googollee/eviltransform's tests (Shanghai, Shenzhen, Beijing)
# and coordtransform's (Beijing, 39.915 N 116.404 E).
REFERENCE = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
    (39.915, 116.404, 39.91640428150164, 116.41024449916938),
]


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = (a[0] - b[0]) * 111_320
    dlon = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    return math.hypot(dlat, dlon)


@pytest.mark.parametrize("wgs_lat,wgs_lon,gcj_lat,gcj_lon", REFERENCE)
def test_points_in_china_move_as_the_reference_implementations_move_them(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    got = wgs84_to_gcj02(wgs_lat, wgs_lon)
    assert _metres(got, (gcj_lat, gcj_lon)) < 0.5


def test_points_outside_china_are_left_as_they_are():
    assert wgs84_to_gcj02(42.5078, 1.5211) == (42.5078, 1.5211)
    assert out_of_china(42.5078, 1.5211) and not out_of_china(31.2, 121.5)


def test_a_coordinate_out_of_range_is_refused():
    with pytest.raises(ValueError):
        wgs84_to_gcj02(95.0, 116.0)


@settings(max_examples=200, deadline=None)
@given(st.floats(18.0, 53.0), st.floats(74.0, 134.0))
def test_the_offset_inside_china_stays_within_a_kilometre(lat, lon):
    moved = wgs84_to_gcj02(lat, lon)
    assert 1.0 < _metres((lat, lon), moved) < 1000.0
