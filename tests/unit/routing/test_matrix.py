"""Travel matrices and road paths: one-way streets, closures, cut-off points, legs."""

import numpy as np
import pytest

from routing.matrix import NoRoute, shortest_path, travel_matrix
from routing.model import UNREACHABLE

# points on the hand-made network (tests/data/roads/tiny.osm)
VALLEY_WEST = (81.126, 43.150)  # end of the track at the west end
VALLEY_MID = (81.132, 43.150)  # where the one-way loop leaves the main road
LOOP = (81.132, 43.151)  # first corner of the one-way loop
MAIN_EAST = (81.134, 43.150)


def nodes_of(net, *points):
    return [s.node for s in net.snap_many(points)]


def test_diagonal_is_zero_and_entries_are_integers(tiny):
    m = travel_matrix(tiny, nodes_of(tiny, VALLEY_WEST, VALLEY_MID, LOOP))
    assert m.travel_time_s.dtype == np.int64 and m.distance_m.dtype == np.int64
    assert np.all(np.diag(m.travel_time_s) == 0) and np.all(np.diag(m.distance_m) == 0)
    assert m.reachable.all() and m.unreachable_pairs == [] and m.cut_off() == []


def test_one_way_streets_make_the_matrix_asymmetric(tiny):
    m = travel_matrix(tiny, nodes_of(tiny, VALLEY_MID, LOOP))
    assert m.distance_m[0, 1] == pytest.approx(111, abs=1)  # straight up the loop
    assert m.distance_m[1, 0] > 400  # round the loop and back along the main road
    assert m.travel_time_s[1, 0] > m.travel_time_s[0, 1]


def test_rectangular_matrix_to_other_destinations(tiny):
    m = travel_matrix(tiny, nodes_of(tiny, VALLEY_MID), nodes_of(tiny, LOOP, MAIN_EAST, VALLEY_MID))
    assert m.travel_time_s.shape == (1, 3)
    assert m.travel_time_s[0, 2] == 0


def test_a_closed_edge_changes_the_matrix(tiny):
    nodes = nodes_of(tiny, VALLEY_MID, MAIN_EAST)
    closed = tiny.close_nearest_edge(81.133, 43.1501)
    before, after = travel_matrix(tiny, nodes), travel_matrix(closed, nodes)
    # east on the main road is closed: go round the one-way loop instead
    assert after.distance_m[0, 1] > before.distance_m[0, 1]
    # and nothing leads back west any more
    assert not after.reachable[1, 0]
    assert after.travel_time_s[1, 0] == UNREACHABLE and after.distance_m[1, 0] == UNREACHABLE
    assert after.unreachable_pairs == [(1, 0)]
    assert after.cut_off(origin=0) == [1]


def test_a_point_cut_off_by_a_closure_is_reported_not_a_crash(tiny):
    nodes = nodes_of(tiny, VALLEY_MID, LOOP, VALLEY_WEST)
    closed = tiny.close_nearest_edge(*VALLEY_WEST)
    m = travel_matrix(closed, nodes)
    assert m.cut_off(origin=0) == [2]
    assert sorted(m.unreachable_pairs) == [(0, 2), (1, 2), (2, 0), (2, 1)]
    with pytest.raises(NoRoute):
        shortest_path(closed, nodes[0], nodes[2])


def test_bad_node_indices_are_rejected(tiny):
    with pytest.raises(ValueError, match="not in the network"):
        travel_matrix(tiny, [0, tiny.n_nodes])
    with pytest.raises(ValueError, match="integer node indices"):
        travel_matrix(tiny, [0.5, 1.0])
    assert travel_matrix(tiny, []).travel_time_s.shape == (0, 0)


def test_path_follows_named_roads_and_adds_up_to_the_matrix(tiny):
    a, b = nodes_of(tiny, LOOP, VALLEY_WEST)
    path = shortest_path(tiny, a, b)
    m = travel_matrix(tiny, [a, b])
    assert path.distance_m == m.distance_m[0, 1]
    assert path.travel_time_s == m.travel_time_s[0, 1]
    assert [leg.road for leg in path.legs] == ["Loop Lane", "X701", ""]
    assert path.legs[-1].road_class == "track"
    assert sum(leg.distance_m for leg in path.legs) == pytest.approx(path.distance_m, abs=1)
    assert path.coords[0] == LOOP and path.coords[-1] == VALLEY_WEST


def test_matrix_equals_dijkstra_on_the_uncontracted_graph(county):
    from scipy.sparse.csgraph import dijkstra

    from routing.matrix import _SplitGraph, _decode

    rng = np.random.default_rng(3)
    nodes = rng.choice(county.n_nodes, 25, replace=False)
    net = county.close_edges(rng.choice(county.n_edges, 5, replace=False))
    m = travel_matrix(net, nodes)
    full = _SplitGraph(net, np.arange(net.n_nodes))  # every node kept: no contraction at all
    w = dijkstra(full.csgraph, indices=full.compact[nodes])[:, full.compact[nodes]]
    reachable = np.isfinite(w)
    np.testing.assert_array_equal(reachable, m.reachable)
    time_ds, length_dm = _decode(np.where(reachable, w, 0))
    np.testing.assert_array_equal(np.rint(time_ds / 10)[reachable], m.travel_time_s[reachable])
    np.testing.assert_array_equal(np.rint(length_dm / 10)[reachable], m.distance_m[reachable])


def test_paths_on_a_county_add_up_to_the_matrix(county):
    rng = np.random.default_rng(5)
    nodes = rng.choice(county.n_nodes, 6, replace=False)
    m = travel_matrix(county, nodes)
    for i in range(len(nodes)):
        for j in range(len(nodes)):
            path = shortest_path(county, int(nodes[i]), int(nodes[j]))
            assert (path.distance_m, path.travel_time_s) == (m.distance_m[i, j], m.travel_time_s[i, j])
            assert sum(leg.distance_m for leg in path.legs) == pytest.approx(m.distance_m[i, j], abs=1)
            assert sum(leg.travel_time_s for leg in path.legs) == pytest.approx(m.travel_time_s[i, j], abs=1)


def test_andorra_matrix_is_mostly_asymmetric_with_plausible_times(andorra):
    rng = np.random.default_rng(1)
    nodes = rng.choice(andorra.n_nodes, 300, replace=False)
    m = travel_matrix(andorra, nodes)
    assert m.reachable.all()
    off = ~np.eye(len(nodes), dtype=bool)
    assert np.mean((m.travel_time_s != m.travel_time_s.T)[off]) > 0.6
    assert 10 * 60 < np.median(m.travel_time_s[off]) < 40 * 60
    assert m.travel_time_s.max() < 3 * 3600
    # road distance is never shorter than the straight line
    from routing.geo import haversine_m

    lon, lat = andorra.node_lon[nodes], andorra.node_lat[nodes]
    straight = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    assert np.all(m.distance_m[off] >= straight[off] - 1)


def test_many_paths_found_together_are_the_paths_found_one_by_one(county):
    from routing.matrix import shortest_paths

    rng = np.random.default_rng(4)
    nodes = rng.choice(county.n_nodes, size=40, replace=False)
    pairs = [(int(a), int(b)) for a, b in zip(nodes[:-1], nodes[1:])] + [(int(nodes[0]), int(nodes[0]))]
    times = travel_matrix(county, nodes).travel_time_s
    hop_times = [int(times[i, i + 1]) for i in range(len(nodes) - 1)] + [0]
    for found in (shortest_paths(county, pairs), shortest_paths(county, pairs, hop_times)):
        for (a, b), path in zip(pairs, found):
            one = shortest_path(county, a, b)
            assert (path.distance_m, path.travel_time_s, path.legs) == \
                (one.distance_m, one.travel_time_s, one.legs)
    closed = county.close_edges(range(county.n_edges))  # every road closed: no path anywhere
    assert shortest_paths(closed, pairs[:3]) == [None, None, None]
