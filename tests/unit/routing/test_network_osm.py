"""Reading OpenStreetMap extracts: tagging rules on a hand-made file, counts on the bundled extracts."""

import pytest

from routing.osm import OSM_ATTRIBUTION, is_accessible, parse_direction, parse_maxspeed, read_osm
from routing.stats import network_stats
from routing.store import load_network


@pytest.mark.parametrize(
    "value, kmh",
    [
        ("50", 50), ("50 km/h", 50), ("30 mph", 48.28), ("50mph", 80.47), ("AD:urban", 50),
        ("FR:rural", 90), ("RU:living_street", 20), ("walk", 5), ("50;30", 30), ("none", None),
        ("signals", None), ("", None), (None, None), ("1000", None), ("AD:unknown", None),
    ],
)
def test_maxspeed_values_parse_to_kmh_or_none(value, kmh):
    assert parse_maxspeed(value) == pytest.approx(kmh, abs=0.01) if kmh else parse_maxspeed(value) is None


@pytest.mark.parametrize(
    "tags, expected",
    [
        ({"highway": "residential"}, (True, True)),
        ({"highway": "residential", "oneway": "yes"}, (True, False)),
        ({"highway": "residential", "oneway": "-1"}, (False, True)),
        ({"highway": "primary", "junction": "roundabout"}, (True, False)),
        ({"highway": "primary", "junction": "roundabout", "oneway": "no"}, (True, True)),
        ({"highway": "motorway"}, (True, False)),
        ({"highway": "motorway", "oneway": "no"}, (True, True)),
        ({"highway": "residential", "oneway": "reversible"}, None),
    ],
)
def test_oneway_rules(tags, expected):
    assert parse_direction(tags) == expected


@pytest.mark.parametrize(
    "tags, allowed",
    [
        ({}, True), ({"access": "private"}, False), ({"access": "agricultural"}, False),
        ({"access": "no"}, False), ({"motor_vehicle": "no"}, False), ({"motorcar": "private"}, False),
        ({"access": "no", "motor_vehicle": "yes"}, True), ({"access": "destination"}, True),
    ],
)
def test_most_specific_access_tag_decides(tags, allowed):
    assert is_accessible(tags) is allowed


def test_tiny_extract_drops_excluded_ways_and_keeps_places(tiny):
    # 12 road nodes in the file; private service, agricultural track and footway ends are dropped
    assert tiny.n_nodes == 9
    assert {p.name for p in tiny.places} == {"Xiaocun"}
    assert tiny.attribution == OSM_ATTRIBUTION
    assert "X701" in tiny.road_names  # the ref wins over the name
    assert set(tiny.road_classes) == {"primary", "residential", "track"}


def test_tiny_extract_honours_maxspeed_and_default_speeds(tiny):
    # the main road is tagged 50 mph: 162.2 m takes 7.3 s; the track says AD:urban (50 km/h)
    primary = tiny.road_classes.index("primary")
    track = tiny.road_classes.index("track")
    speed_primary = tiny.seg_length_dm[tiny.seg_class == primary] / tiny.seg_time_ds[tiny.seg_class == primary] * 3.6
    speed_track = tiny.seg_length_dm[tiny.seg_class == track] / tiny.seg_time_ds[tiny.seg_class == track] * 3.6
    assert speed_primary == pytest.approx(80.47, rel=0.01)
    assert speed_track == pytest.approx(50, rel=0.01)


def _close(value, expected, rel):
    assert abs(value - expected) <= rel * expected, f"{value} not within {rel:.0%} of {expected}"


@pytest.mark.parametrize(
    "name, options, stats_md",
    [
        # STATS.md figures: full-graph nodes, segments and km before keeping the main component
        ("andorra-2021-10-28.osm.pbf", {}, dict(nodes=41373, segments=42016, deg2=0.924, scc=0.964, km=782, edges=3736)),
        (
            "andorra-2021-10-28.osm.pbf",
            {"exclude_classes": ("track", "service")},
            dict(nodes=23059, segments=23513, deg2=0.927, scc=0.995, km=440, edges=2104),
        ),
        ("beatty-nv-2017.osm.pbf", {}, dict(nodes=2020, segments=2100, deg2=0.898, scc=0.889, km=246, edges=284)),
    ],
)
def test_bundled_extracts_match_measured_statistics(roads_dir, name, options, stats_md):
    net = read_osm(roads_dir / name, **options)
    stats = network_stats(net)
    assert stats["scc_share"] == pytest.approx(stats_md["scc"], abs=0.01)
    _close(stats["nodes"], stats_md["nodes"] * stats_md["scc"], 0.05)
    _close(stats["segments"], stats_md["segments"] * stats_md["scc"], 0.05)
    _close(stats["road_km"], stats_md["km"], 0.07)
    assert stats["degree2_share"] == pytest.approx(stats_md["deg2"], abs=0.02)
    # contraction here also keeps nodes where one-way and two-way stretches meet
    _close(stats["edges"], stats_md["edges"], 0.2)
    assert stats["attribution"] == OSM_ATTRIBUTION


def test_andorra_has_its_places_and_roads(andorra):
    stats = network_stats(andorra)
    assert stats["places"] == 64
    assert set(stats["road_km_by_class"]) >= {"track", "secondary", "primary", "residential", "trunk"}
    assert stats["oneway_edges"] > 100
    assert {"CG-1", "CG-2", "CG-3"} <= set(andorra.road_names)


def test_andorra_places_snap_close_to_the_road(andorra):
    snaps = andorra.snap_many([(p.lon, p.lat) for p in andorra.places], names=[p.name for p in andorra.places])
    distances = sorted(s.distance_m for s in snaps)
    assert distances[len(distances) // 2] < 60
    assert distances[-1] < 1100


def test_load_network_reads_pbf_and_osm_and_rejects_unknown_formats(roads_dir, tiny_osm, tmp_path):
    net = load_network(roads_dir / "beatty-nv-2017.osm.pbf")
    assert net.n_nodes > 1000
    bad = tmp_path / "roads.csv"
    bad.write_text("x")
    with pytest.raises(ValueError, match="unknown network format"):
        load_network(bad)
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path / "missing.osm.pbf")
    assert load_network(tiny_osm).n_nodes == 9
