"""Network: snapping, closures, drawing and saving (on the hand-made network and a generated county)."""

import numpy as np
import pytest

from routing.network import Network, SnapError
from routing.stats import network_stats
from routing.store import load_network, load_saved_network, save_network


def test_snaps_to_the_nearest_road_node_with_distance_in_metres(tiny):
    snap = tiny.snap(81.1321, 43.1503)
    assert (tiny.node_lon[snap.node], tiny.node_lat[snap.node]) == (81.132, 43.150)
    assert snap.distance_m == pytest.approx(35, abs=2)


def test_a_point_beyond_the_maximum_snap_distance_is_an_error_naming_it(tiny):
    with pytest.raises(SnapError, match="Far farm.*from the nearest road") as info:
        tiny.snap(81.20, 43.20, name="Far farm")
    assert isinstance(info.value, ValueError)
    assert info.value.point == (81.20, 43.20)
    with pytest.raises(SnapError, match="point 1"):
        tiny.snap_many([(81.132, 43.150), (81.132, 43.160)], max_snap_m=500)


def test_bad_points_and_limits_are_rejected(tiny):
    with pytest.raises(ValueError, match="invalid point"):
        tiny.snap(200, 43)
    with pytest.raises(ValueError, match="max_snap_m"):
        tiny.snap(81.13, 43.15, max_snap_m=0)
    with pytest.raises(ValueError, match="names"):
        tiny.snap_many([(81.13, 43.15)], names=["a", "b"])
    assert tiny.snap_many([]) == []


def test_closing_edges_gives_a_new_network_and_leaves_the_original_open(tiny):
    edge = tiny.nearest_edge(81.133, 43.1501)
    closed = tiny.close_edges([edge])
    assert closed.closed_edges == {edge}
    assert tiny.closed_edges == frozenset()
    assert tiny.close_nearest_edge(81.133, 43.1501).closed_edges == {edge}
    assert closed.reopen_edges().closed_edges == frozenset()
    with pytest.raises(ValueError, match="unknown edge"):
        tiny.close_edges([tiny.n_edges])


def test_nearest_edge_passes_through_the_point(tiny):
    edge = tiny.nearest_edge(81.133, 43.1501)  # on the main road between 81.132 and 81.134
    assert sorted(lon for lon, _ in tiny.edge_coords(edge)) == [81.132, 81.134]


def test_edge_polylines_cover_the_network_and_can_be_bounded_and_simplified(county):
    lines = county.edge_polylines()
    assert len(lines) == county.n_edges
    assert sum(len(line.coords) for line in lines) == len(county.edge_nodes)
    lon, lat = float(np.median(county.node_lon)), float(np.median(county.node_lat))
    bounded = county.edge_polylines(bbox=(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01))
    assert 0 < len(bounded) < len(lines)
    simple = county.edge_polylines(tolerance_m=20)
    assert sum(len(line.coords) for line in simple) < sum(len(line.coords) for line in lines)
    assert all(s.coords[0] == l.coords[0] and s.coords[-1] == l.coords[-1] for s, l in zip(simple, lines))
    with pytest.raises(ValueError, match="bbox"):
        county.edge_polylines(bbox=(1, 1, 0, 0))


def test_save_and_load_round_trip(county, tmp_path):
    net = county.close_edges([3])
    path = save_network(net, tmp_path / "county")
    assert path.suffix == ".npz"
    loaded = load_network(path)
    assert isinstance(loaded, Network)
    for name in ("node_lon", "node_lat", "edge_ptr", "edge_nodes", "edge_forward", "edge_backward",
                 "seg_length_dm", "seg_time_ds", "seg_road", "seg_class"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(net, name))
    assert loaded.road_names == net.road_names
    assert loaded.places == net.places
    assert loaded.closed_edges == {3}
    assert loaded.attribution is None
    assert network_stats(loaded) == network_stats(net)


def test_saved_extract_keeps_its_attribution(tiny, tmp_path):
    loaded = load_saved_network(save_network(tiny, tmp_path / "tiny.npz"))
    assert loaded.attribution == tiny.attribution
    assert "OpenStreetMap contributors" in loaded.attribution


def test_network_arrays_are_read_only(tiny):
    with pytest.raises(ValueError):
        tiny.node_lon[0] = 0.0
