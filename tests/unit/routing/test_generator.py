"""Generated county networks: deterministic by seed, statistics like the real extracts."""

import numpy as np
import pytest

from routing.generator import generate_county
from routing.matrix import travel_matrix
from routing.stats import network_stats


def test_same_seed_gives_the_same_network_and_another_seed_another():
    a, b = generate_county(seed=3, n_villages=8), generate_county(seed=3, n_villages=8)
    np.testing.assert_array_equal(a.node_lon, b.node_lon)
    np.testing.assert_array_equal(a.edge_nodes, b.edge_nodes)
    assert a.places == b.places and a.road_names == b.road_names
    c = generate_county(seed=4, n_villages=8)
    assert c.n_nodes != a.n_nodes or not np.array_equal(c.node_lon, a.node_lon)


@pytest.mark.parametrize("seed, n_villages", [(1, 40), (2, 10), (5, 120)])
def test_statistics_resemble_the_real_county_networks(seed, n_villages):
    stats = network_stats(generate_county(seed=seed, n_villages=n_villages))
    # STATS.md: degree-2 share 0.90-0.93; contracted degree 1 25-32%, 3 43-68%, 4 3-28%;
    # density from 0.15 (Beatty desert) to 1.6 km/km² (Andorra)
    assert 0.88 <= stats["degree2_share"] <= 0.96
    shares = stats["contracted_degree_share"]
    assert 0.15 <= shares[1] <= 0.40
    assert 0.40 <= shares[3] <= 0.70
    assert 0.02 <= shares[4] <= 0.30
    assert 0.15 <= stats["density_km_per_km2"] <= 1.6
    assert 50 <= stats["edge_length_m"]["median"] <= 300
    assert stats["cycles"] > n_villages
    assert stats["scc_share"] == 1.0
    assert stats["oneway_edges"] > 0
    assert stats["attribution"] is None
    assert stats["places"] == n_villages + 1  # and the county town
    assert {"primary", "secondary", "residential", "track"} <= set(stats["road_km_by_class"])


def test_villages_are_named_places_near_the_roads_around_the_given_centre(county):
    villages = [p for p in county.places if p.kind == "village"]
    assert len(villages) == 12 and len({p.name for p in villages}) == 12
    snaps = county.snap_many([(p.lon, p.lat) for p in county.places], max_snap_m=300)
    assert all(s.distance_m > 0 for s in snaps)
    assert abs(np.mean(county.node_lat) - 43.15) < 0.5 and abs(np.mean(county.node_lon) - 81.13) < 0.5
    m = travel_matrix(county, [s.node for s in snaps])
    assert m.reachable.all()


def test_county_can_be_placed_elsewhere():
    net = generate_county(seed=1, n_villages=3, lat=35.0, lon=104.0)
    assert abs(np.mean(net.node_lat) - 35.0) < 0.3 and abs(np.mean(net.node_lon) - 104.0) < 0.3


def test_roads_carry_names_of_several_classes(county):
    named = [n for n in county.road_names if n]
    assert any(n.startswith("G") for n in named) and any(n.endswith(" Lu") for n in named)
    assert len(county.road_classes) >= 5


@pytest.mark.parametrize("kwargs", [dict(n_villages=0), dict(n_villages=2.5), dict(lat=95.0), dict(node_spacing_m=1)])
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        generate_county(**kwargs)
