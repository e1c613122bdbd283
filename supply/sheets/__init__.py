"""Route sheets: what a driver takes on the road, on a phone (offline HTML) or on paper (PDF).

A pure rendering package: it receives a ``RouteSheet`` (plain data, see ``model``) and
returns text or bytes. It imports nothing of Flask, SQLAlchemy or the database.
"""

from .html import render_html
from .mapdraw import map_scene, render_map_png, render_map_svg
from .model import RouteSheet, SheetItem, SheetLeg, SheetStop
from .pdf import render_pdf

__all__ = [
    "RouteSheet",
    "SheetItem",
    "SheetLeg",
    "SheetStop",
    "map_scene",
    "render_html",
    "render_map_png",
    "render_map_svg",
    "render_pdf",
]
