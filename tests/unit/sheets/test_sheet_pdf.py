from __future__ import annotations

import dataclasses
import io
import re

import pytest
from pypdf import PdfReader

from supply.sheets import render_pdf


def _squash(text: str) -> str:
    # pypdf spaces out the glyphs of a CID font and, with the embedded code-to-CID CMap
    # fpdf2 writes for OpenType (CFF) fonts, puts a NUL before each character (poppler's
    # pdftotext reads the same file cleanly); compare without either.
    return re.sub(r"[\s\x00]+", "", text)


def _text(reader: PdfReader) -> str:
    return _squash("".join(page.extract_text() for page in reader.pages))


def _uris(reader: PdfReader) -> list[str]:
    uris = []
    for page in reader.pages:
        for annot in page.get("/Annots", []):
            action = annot.get_object().get("/A")
            if action and action.get("/S") == "/URI":
                uris.append(str(action["/URI"]))
    return uris


@pytest.fixture(scope="module")
def data(sheet):
    return render_pdf(sheet, locale="en")  # labels checked in English here; Chinese in tests/web


@pytest.fixture(scope="module")
def reader(data):
    return PdfReader(io.BytesIO(data))


def test_it_is_a_pdf_on_a4(data, reader):
    assert data.startswith(b"%PDF-")
    for page in reader.pages:
        assert float(page.mediabox.width) == pytest.approx(595.28, abs=0.5)
        assert float(page.mediabox.height) == pytest.approx(841.89, abs=0.5)


def test_chinese_farm_and_product_names_are_in_the_text(sheet, reader):
    text = _text(reader)
    for stop in sheet.stops:
        assert _squash(stop.farm_name) in text
        for item in stop.items:
            assert _squash(item.product_name) in text
    assert _squash(sheet.driver_name) in text
    assert "王大妈家庭农场" in text


def test_the_font_is_embedded(reader):
    descriptors = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object().get("/FontDescriptor")
                if descriptor is not None:
                    descriptors.append(descriptor.get_object())
    assert descriptors
    assert all("/FontFile2" in d or "/FontFile3" in d for d in descriptors)


def test_header_and_totals_are_printed(sheet, reader):
    text = _text(reader)
    for expected in (sheet.vehicle_name, sheet.vehicle_plate, "Departure07:30",
                     f"{sheet.total_distance_m / 1000:.1f}km",
                     f"{sheet.total_weight_kg:,.1f}kg", "Stops6", "Trips2"):
        assert _squash(expected) in text


def test_each_stop_shows_eta_window_load_and_roads(sheet, reader):
    text = _text(reader)
    for stop in sheet.stops:
        assert stop.arrival.strftime("%H:%M") in text
        assert f"{stop.load_after_kg:,.1f}kg" in text
        for leg in stop.legs_from_previous:
            assert _squash(leg.road_name.strip() or "unnamed road") in text  # rendered in English
    assert "window08:30–10:00" in text


def test_every_qr_code_links_to_its_page(sheet, reader):
    expected = [sheet.route_url] + [stop.collect_url for stop in sheet.stops]
    assert sorted(_uris(reader)) == sorted(expected)


def test_attribution_is_printed_when_given(reader):
    text = _text(reader)
    assert _squash("© OpenStreetMap contributors") in text
    assert "https://www.openstreetmap.org/copyright" in text


def test_no_attribution_when_none(sheet):
    reader = PdfReader(io.BytesIO(render_pdf(dataclasses.replace(sheet, attribution=None))))
    assert "OpenStreetMap" not in _text(reader)


def test_markup_in_names_is_printed_as_text(reader):
    assert "<script>alert('x')</script>&Sons" in _text(reader)


def test_a_long_route_flows_over_pages_without_losing_a_stop(sheet):
    many = tuple(
        dataclasses.replace(stop, sequence=n, stop_id=f"S{n}", farm_name=f"农场{n}号")
        for n, stop in enumerate((sheet.stops[0],) * 25, start=1))
    long_sheet = dataclasses.replace(sheet, stops=many, route_path=())
    reader = PdfReader(io.BytesIO(render_pdf(long_sheet)))
    text = _text(reader)
    assert len(reader.pages) > 4
    assert all(f"农场{n}号" in text for n in range(1, 26))


def test_a_missing_font_file_is_named_in_the_error(sheet, tmp_path):
    with pytest.raises(ValueError, match="font_path"):
        render_pdf(sheet, font_file=tmp_path / "none.otf")
