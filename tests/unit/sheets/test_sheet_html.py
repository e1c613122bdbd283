from __future__ import annotations

import dataclasses
import re

import pytest
from markupsafe import escape

from supply.sheets import render_html

QR_BLOCK = re.compile(r'data-url="([^"]+)">\s*(<svg[^>]*class="qr".*?</svg>)', re.S)


@pytest.fixture(scope="module")
def page(sheet):
    return render_html(sheet, locale="en")  # labels checked in English here; Chinese in tests/web


def test_every_farm_name_appears_escaped(sheet, page):
    for stop in sheet.stops:
        assert str(escape(stop.farm_name)) in page
    assert any("<script>" in stop.farm_name for stop in sheet.stops)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(" in page


def test_chinese_text_is_kept_as_utf8(page):
    assert "王大妈家庭农场" in page
    assert "荞麦面 500 g" in page
    assert '<meta charset="utf-8">' in page


def test_the_file_needs_nothing_from_the_network(page):
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page
    assert "url(" not in page
    assert not re.search(r'\bsrc=', page)


def test_it_prints_on_a4_and_fits_a_phone(page):
    assert "@page { size: A4" in page
    assert 'name="viewport"' in page
    assert "break-inside: avoid" in page


def test_header_shows_vehicle_driver_and_times(sheet, page):
    for text in (sheet.vehicle_name, sheet.vehicle_plate, sheet.driver_name, sheet.hub_name):
        assert str(escape(text)) in page
    assert '<b class="departure">07:30</b>' in page


def test_totals_are_shown(sheet, page):
    assert f'<b class="total-distance">{sheet.total_distance_m / 1000:.1f} km</b>' in page
    assert '<b class="total-stops">6</b>' in page
    assert f'<b class="total-weight">{sheet.total_weight_kg:,.1f} kg</b>' in page
    assert '<b class="total-trips">2</b>' in page
    hours, minutes = divmod(round(sheet.total_duration_s / 60), 60)
    assert f'<b class="total-duration">{hours} h {minutes:02d} min</b>' in page


def test_each_stop_shows_eta_window_items_load_and_roads(sheet, page):
    assert "08:30–10:00" in page
    for stop in sheet.stops:
        section = page.split(f'id="stop-{stop.sequence}"')[1].split("</section>")[0]
        assert stop.arrival.strftime("%H:%M") in section
        assert f"{stop.load_after_kg:,.1f} kg" in section
        for item in stop.items:
            assert str(escape(item.product_name)) in section
        for leg in stop.legs_from_previous:
            assert str(escape(leg.road_name.strip() or "unnamed road")) in section  # rendered in English
    assert "unnamed road" in page


def test_phone_numbers_are_tappable(page):
    assert 'href="tel:+8613500000003"' in page


def test_attribution_is_shown_when_the_network_came_from_osm(page):
    assert "© OpenStreetMap contributors" in page
    assert 'href="https://www.openstreetmap.org/copyright"' in page


def test_no_attribution_when_the_network_needs_none(sheet):
    page = render_html(dataclasses.replace(sheet, attribution=None))
    assert "OpenStreetMap" not in page
    assert "openstreetmap.org" not in page


def test_the_map_is_inline_svg_with_one_line_per_hop(sheet, page):
    assert page.count('class="route-leg"') == len(sheet.route_path)


def test_every_qr_code_decodes_to_its_page(sheet, page, decode_svg):
    found = dict(QR_BLOCK.findall(page))
    expected = [stop.collect_url for stop in sheet.stops] + [sheet.route_url]
    assert sorted(found) == sorted(expected)
    for url, svg in found.items():
        assert decode_svg(svg) == [url]


def test_stops_without_urls_get_no_qr_code(sheet):
    bare = dataclasses.replace(
        sheet, route_url=None,
        stops=tuple(dataclasses.replace(stop, collect_url=None) for stop in sheet.stops))
    assert 'class="qr"' not in render_html(bare)


def test_hostile_text_in_every_field_is_escaped(sheet):
    evil = '"><img onerror=alert(1)>'
    hostile = dataclasses.replace(
        sheet, cooperative_name=evil, hub_name=evil, vehicle_name=evil, driver_name=evil,
        route_id=evil,
        stops=tuple(dataclasses.replace(stop, phone=evil, items=tuple(
            dataclasses.replace(item, product_name=evil, unit=evil) for item in stop.items))
            for stop in sheet.stops))
    assert "<img" not in render_html(hostile)
