"""Route sheets in Chinese by default (HTML and PDF), English by a switch; their QR codes open the
driver's pages; a farm named like a script is text on the sheet and its map."""
from __future__ import annotations

import io
import re

from pypdf import PdfReader

from supply.sheets import render_html, render_pdf, render_map_svg
from supply.sheets.sample import sample_sheet
from tests.conftest import auth
from tests.web.conftest import EVIL


def test_the_html_sheet_reads_in_chinese_unless_english_is_asked_for():
    sheet = sample_sheet()
    chinese = render_html(sheet)
    assert '<html lang="zh-Hans">' in chinese
    for label in ("车辆", "司机", "出发", "里程", "时间窗", "提货", "离开本站时载货"):
        assert label in chinese, label
    assert "Vehicle" not in chinese and "Load after this stop" not in chinese
    english = render_html(sheet, locale="en")
    assert '<html lang="en">' in english and "Vehicle" in english and "车辆" not in english


def test_the_pdf_sheet_prints_chinese_labels():
    reader = PdfReader(io.BytesIO(render_pdf(sample_sheet())))
    text = "".join(page.extract_text() for page in reader.pages).replace(" ", "").replace("\x00", "")
    for label in ("车辆", "司机", "路线", "时间窗", "提货"):
        assert label in text, label
    assert "Vehicle" not in text


def test_durations_read_in_chinese():
    from supply.sheets import fmt
    from supply.sheets.i18n import locale

    assert fmt.duration(3 * 3600 + 5 * 60) == "3 小时 05 分钟"
    with locale("en"):
        assert fmt.duration(3 * 3600 + 5 * 60) == "3 h 05 min"


def test_the_sheet_of_a_published_route_links_to_the_drivers_pages_and_escapes_farm_names(client, tokens, day):
    route = day["route"]
    page = client.get(f"/api/v1/routes/{route['id']}/sheet.html", headers=auth(tokens["manager"]))
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "车辆" in text
    urls = set(re.findall(r'data-url="([^"]+)"', text))
    assert f"http://localhost/d/routes/{route['id']}" in urls
    stops = [s for s in route["stops"] if s["kind"] == "pickup"]
    assert {f"http://localhost/d/stops/{s['id']}" for s in stops} <= urls
    assert EVIL not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_the_map_writes_a_script_like_name_as_text():
    import dataclasses

    sheet = sample_sheet()
    hostile = dataclasses.replace(sheet, hub_name=EVIL, stops=tuple(
        dataclasses.replace(s, farm_name=EVIL) for s in sheet.stops))
    svg = render_map_svg(hostile)
    assert "<script" not in svg
    assert "<script" not in render_html(hostile)
