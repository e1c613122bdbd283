"""QR codes for the sheet: the same symbol as inline SVG (HTML) and as dark modules (PDF)."""

from __future__ import annotations

from functools import lru_cache

import segno


@lru_cache(maxsize=256)
def make(url: str) -> segno.QRCode:
    # Level M survives a crease or a smudge on paper without growing the symbol much.
    return segno.make(url, error="m", micro=False)


def svg(url: str, css_class: str = "qr") -> str:
    """Scalable inline SVG (viewBox, no fixed size) carrying the URL in a data attribute."""
    return make(url).svg_inline(omitsize=True, svgclass=css_class, lineclass=None, border=2)


def dark_runs(url: str) -> list[tuple[int, int, int]]:
    """Horizontal runs of dark modules as (row, first column, length), quiet zone excluded."""
    runs = []
    for row, line in enumerate(make(url).matrix):
        col = 0
        while col < len(line):
            if line[col]:
                start = col
                while col < len(line) and line[col]:
                    col += 1
                runs.append((row, start, col - start))
            else:
                col += 1
    return runs


def size(url: str) -> int:
    """Modules per side, without quiet zone."""
    return len(make(url).matrix)
