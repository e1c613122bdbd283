from __future__ import annotations

import re

import pytest

from supply.sheets.sample import sample_sheet

_VIEWBOX = re.compile(r'viewBox="0 0 (\d+) (\d+)"')
_PATH = re.compile(r'\bd="([^"]+)"')
_STEP = re.compile(r"([MmHh])\s*(-?[\d.]+)(?:[\s,]+(-?[\d.]+))?")


@pytest.fixture(scope="session")
def sheet():
    return sample_sheet()


def qr_svg_to_image(svg: str, scale: int = 6):
    """Redraw an inline QR SVG (horizontal runs of dark modules) as a Pillow image."""
    from PIL import Image, ImageDraw

    size = int(_VIEWBOX.search(svg).group(1))
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for command, a, b in _STEP.findall(_PATH.search(svg).group(1)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            end = float(a) if command == "H" else x + float(a)
            row = int(y)
            draw.rectangle((x * scale, row * scale, end * scale - 1, (row + 1) * scale - 1), fill=0)
            x = end
    return image


def decode_qr_svg(svg: str) -> list[str]:
    """The texts a real QR reader (zxing-cpp) finds in the SVG."""
    import zxingcpp

    return [result.text for result in zxingcpp.read_barcodes(qr_svg_to_image(svg))]


@pytest.fixture(scope="session")
def decode_svg():
    return decode_qr_svg
