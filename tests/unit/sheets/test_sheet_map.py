from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from supply.sheets import map_scene, render_map_png, render_map_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def svg(sheet):
    return render_map_svg(sheet)


def _root(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_the_svg_is_a_well_formed_standalone_document(svg):
    root = _root(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 800 560"


def test_there_is_one_route_polyline_per_hop(sheet, svg):
    legs = [el for el in _root(svg).iter(f"{SVG}polyline") if el.get("class") == "route-leg"]
    assert len(legs) == len(sheet.route_path) == len(sheet.stops) + 1
    assert [int(el.get("data-hop")) for el in legs] == list(range(len(sheet.route_path)))
    assert {el.get("data-trip") for el in legs} == {"1", "2"}


def test_the_road_network_is_drawn_under_the_route(sheet, svg):
    groups = {g.get("class"): g for g in _root(svg).iter(f"{SVG}g")}
    roads = list(groups["roads"].iter(f"{SVG}polyline"))
    assert len(roads) == len(map_scene(sheet).background) >= len(sheet.background_roads) - 1
    children = [child.get("class") for child in _root(svg)]
    assert children.index("roads") < children.index("route")


def test_pickups_are_numbered_and_the_hub_is_marked(sheet, svg):
    root = _root(svg)
    numbers = [g.get("data-sequence") for g in root.iter(f"{SVG}g") if g.get("class") == "stop"]
    assert numbers == [str(stop.sequence) for stop in sheet.pickups]
    hub = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "hub")
    assert hub.find(f"{SVG}text").text == "H"


def test_attribution_is_drawn_when_given_and_absent_when_none(sheet, svg):
    assert "© OpenStreetMap contributors (https://www.openstreetmap.org/copyright)" in svg
    assert "OpenStreetMap" not in render_map_svg(dataclasses.replace(sheet, attribution=None))


def test_a_credit_other_than_osm_is_printed_as_given(sheet):
    svg = render_map_svg(dataclasses.replace(sheet, attribution="County survey 2024 <roads>"))
    assert "County survey 2024 &lt;roads&gt;" in svg
    assert "openstreetmap.org" not in svg


def test_everything_on_the_route_lies_inside_the_picture(sheet):
    scene = map_scene(sheet, 400, 300, margin=10)
    points = [p for hop in scene.hops for p in hop.points] + [(m.x, m.y) for m in scene.stops]
    points.append(scene.hub)
    assert all(10 - 0.1 <= x <= 390 + 0.1 and 10 - 0.1 <= y <= 290 + 0.1 for x, y in points)


def test_roads_far_from_the_route_are_left_out(sheet):
    far = ((120.0, 45.0), (120.1, 45.1))
    with_far = dataclasses.replace(sheet, background_roads=sheet.background_roads + (far,))
    assert map_scene(with_far).background == map_scene(sheet).background


def test_north_is_up(sheet):
    scene = map_scene(sheet)
    north = max(sheet.pickups, key=lambda stop: stop.lat)
    south = min(sheet.pickups, key=lambda stop: stop.lat)
    marks = {mark.label: mark for mark in scene.stops}
    assert marks[str(north.sequence)].y < marks[str(south.sequence)].y


def test_a_route_on_one_spot_still_draws(sheet):
    hub_only = dataclasses.replace(sheet, stops=(), route_path=(), return_legs=())
    scene = map_scene(hub_only)
    assert scene.hub == (400.0, 280.0)
    assert scene.scale_bar_length > 0


def test_the_png_is_a_picture_of_the_requested_size(sheet):
    from io import BytesIO

    from PIL import Image

    data = render_map_png(sheet, 400, 280)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(BytesIO(data)).size == (400, 280)


def test_dense_road_geometry_is_thinned_but_keeps_its_ends(sheet):
    lon0, lat0 = sheet.hub_lon, sheet.hub_lat
    dense = tuple((lon0 + k * 1e-5, lat0 + 0.001) for k in range(2000))
    scene = map_scene(dataclasses.replace(sheet, background_roads=(dense,)))
    (line,) = scene.background
    assert 2 <= len(line) < 200
    project = map_scene(dataclasses.replace(sheet, background_roads=((dense[0], dense[-1]),)))
    assert (line[0], line[-1]) == project.background[0]
