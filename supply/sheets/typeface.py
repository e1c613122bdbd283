"""The typeface printed sheets are set in: Noto Sans SC (SIL Open Font License 1.1).

Farm and product names are often Chinese, so the PDF and the PNG map need a font with CJK
glyphs, embedded (as a subset) in every PDF. The font file comes from the
``pylopdf-fonts-zh-cn`` package on PyPI, which ships Noto Sans SC with its licence. Callers
that need another face (e.g. Traditional Chinese) pass ``font_path`` to the renderers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


def font_path(override: str | Path | None = None) -> Path:
    """The font file to embed: ``override`` when given, else Noto Sans SC."""
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise ValueError(f"font_path: no font file at {path}")
        return path
    import pylopdf_fonts_zh_cn

    return Path(pylopdf_fonts_zh_cn.sans_path())


@lru_cache(maxsize=8)
def _pil_font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def pil_font(size: int, override: str | Path | None = None):
    return _pil_font(str(font_path(override)), size)
