"""Points go to the road network as (lon, lat), in the service's snapper as in `Network.snap`."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from routing.osm import read_osm
from supply.roads import make_snapper
from supply.wiring import _lazy_snapper

TINY = Path(__file__).resolve().parents[1] / "data" / "roads" / "tiny.osm"


@pytest.fixture(scope="module")
def tiny():
    return read_osm(TINY)


def test_the_snapper_takes_lon_then_lat_like_network_snap(tiny):
    snap = make_snapper(tiny, 2_000)
    node, distance_m = snap(81.1321, 43.1503)
    found = tiny.snap(81.1321, 43.1503)
    assert (node, distance_m) == (found.node, pytest.approx(found.distance_m))
    assert (tiny.node_lon[node], tiny.node_lat[node]) == (81.132, 43.150)
    assert distance_m == pytest.approx(35, abs=2)


def test_a_swapped_point_is_caught_off_the_network(tiny):
    snap = make_snapper(tiny, 2_000)
    with pytest.raises(ValueError, match=r"lon 43\.15030, lat 81\.13210.*from the nearest road"):
        snap(43.1503, 81.1321)


def test_every_snapper_names_its_parameters_lon_then_lat():
    for snapper in (make_snapper(None, 1.0), _lazy_snapper(None)):
        assert list(inspect.signature(snapper).parameters) == ["lon", "lat"]
