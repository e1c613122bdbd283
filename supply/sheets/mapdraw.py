"""The route map, drawn from the county road network itself (no web tiles: drivers are offline).

``map_scene`` projects everything once into a picture of ``width`` x ``height`` units (y down):
grey background roads, one polyline per hop of the route, numbered stops, the hub, a scale
bar and the attribution. ``render_map_svg`` and ``render_map_png`` draw that scene; the PDF
draws the same scene as vector graphics, so all three pictures agree.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .model import OSM_COPYRIGHT_URL, LonLat, Polyline, RouteSheet

Point = tuple[float, float]

M_PER_DEG_LAT = 111_320.0
#: Colours per trip, so a second trip out of the hub reads apart from the first.
TRIP_COLOURS = ("#1565c0", "#d84315", "#2e7d32", "#6a1b9a")
ROAD_GREY = "#b0b0b0"
HUB_COLOUR = "#212121"
MIN_SPAN_M = 1_000.0


@dataclass(frozen=True)
class StopMark:
    label: str
    x: float
    y: float
    trip: int


@dataclass(frozen=True)
class HopLine:
    hop: int
    trip: int
    points: tuple[Point, ...]

    @property
    def colour(self) -> str:
        return TRIP_COLOURS[(self.trip - 1) % len(TRIP_COLOURS)]

    @property
    def weight(self) -> float:
        """Relative line width: later trips are drawn thinner on top, so a valley road
        driven on both trips shows both colours."""
        return 1.0 if self.trip == 1 else 0.5


@dataclass(frozen=True)
class MapScene:
    width: float
    height: float
    background: tuple[tuple[Point, ...], ...]
    hops: tuple[HopLine, ...]
    stops: tuple[StopMark, ...]
    hub: Point
    scale_bar_length: float
    scale_bar_label: str
    attribution: str | None


class _Projection:
    """Equirectangular around the view's centre: true enough at county scale."""

    def __init__(self, bounds: tuple[float, float, float, float], width: float, height: float,
                 margin: float) -> None:
        min_lon, min_lat, max_lon, max_lat = bounds
        self.kx = math.cos(math.radians((min_lat + max_lat) / 2))
        span_x = max((max_lon - min_lon) * self.kx, 1e-9)
        span_y = max(max_lat - min_lat, 1e-9)
        self.scale = min((width - 2 * margin) / span_x, (height - 2 * margin) / span_y)
        self.x0 = width / 2 - (min_lon + max_lon) / 2 * self.kx * self.scale
        self.y0 = height / 2 + (min_lat + max_lat) / 2 * self.scale
        self.bounds = self.lonlat_bounds(width, height)

    def __call__(self, point: LonLat) -> Point:
        lon, lat = point
        return (round(self.x0 + lon * self.kx * self.scale, 1),
                round(self.y0 - lat * self.scale, 1))

    def lonlat_bounds(self, width: float, height: float) -> tuple[float, float, float, float]:
        lon_min = -self.x0 / (self.kx * self.scale)
        lon_max = (width - self.x0) / (self.kx * self.scale)
        lat_max = self.y0 / self.scale
        lat_min = (self.y0 - height) / self.scale
        return lon_min, lat_min, lon_max, lat_max

    def metres_per_unit(self) -> float:
        return M_PER_DEG_LAT / self.scale


def _route_bounds(sheet: RouteSheet) -> tuple[float, float, float, float]:
    points = [(sheet.hub_lon, sheet.hub_lat)]
    points += [(stop.lon, stop.lat) for stop in sheet.stops]
    points += [p for line in sheet.route_path for p in line]
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    # A route around one farm still gets a readable neighbourhood around it.
    half_lat = MIN_SPAN_M / M_PER_DEG_LAT / 2
    half_lon = half_lat / max(math.cos(math.radians(min_lat)), 0.01)
    mid_lon, mid_lat = (min_lon + max_lon) / 2, (min_lat + max_lat) / 2
    return (min(min_lon, mid_lon - half_lon), min(min_lat, mid_lat - half_lat),
            max(max_lon, mid_lon + half_lon), max(max_lat, mid_lat + half_lat))


def route_aspect(sheet: RouteSheet) -> float:
    """Height over width of the route's extent on the ground, for sizing the picture."""
    min_lon, min_lat, max_lon, max_lat = _route_bounds(sheet)
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    return (max_lat - min_lat) / max((max_lon - min_lon) * kx, 1e-9)


def _touches(line: Polyline, bounds: tuple[float, float, float, float]) -> bool:
    min_lon, min_lat, max_lon, max_lat = bounds
    lons = [p[0] for p in line]
    lats = [p[1] for p in line]
    return not (max(lons) < min_lon or min(lons) > max_lon
                or max(lats) < min_lat or min(lats) > max_lat)


def _thin(points: list[Point], min_step: float = 0.0) -> tuple[Point, ...]:
    """Drop points closer than ``min_step`` to the last kept one (ends always kept): a whole
    county's roads would otherwise make the HTML sheet heavy for a phone."""
    out: list[Point] = []
    for point in points:
        if not out or math.dist(out[-1], point) > min_step:
            out.append(point)
    if len(points) > 1 and out[-1] != points[-1]:
        if len(out) > 1:
            out[-1] = points[-1]
        else:
            out.append(points[-1])
    return tuple(out)


def _scale_bar(metres_per_unit: float, width: float) -> tuple[float, str]:
    target_m = metres_per_unit * width / 5
    magnitude = 10 ** math.floor(math.log10(target_m))
    step = max(s for s in (1, 2, 5) if s * magnitude <= target_m) * magnitude
    label = f"{step / 1000:g} km" if step >= 1000 else f"{step:g} m"
    return step / metres_per_unit, label


def map_scene(sheet: RouteSheet, width: float = 800, height: float = 560,
              margin: float = 28) -> MapScene:
    """Project the sheet's roads, route and stops into a ``width`` x ``height`` picture."""
    project = _Projection(_route_bounds(sheet), width, height, margin)
    background = tuple(
        line for line in (_thin([project(p) for p in road], min_step=width / 400)
                          for road in sheet.background_roads
                          if len(road) >= 2 and _touches(road, project.bounds))
        if len(line) >= 2
    )
    hops = tuple(
        HopLine(hop=i, trip=sheet.trip_of_hop(i), points=_thin([project(p) for p in line]))
        for i, line in enumerate(sheet.route_path) if line
    )
    stops = tuple(
        StopMark(str(stop.sequence), *project((stop.lon, stop.lat)),
                 trip=sheet.trip_of_hop(index))
        for index, stop in enumerate(sheet.stops) if not stop.is_reload
    )
    bar_length, bar_label = _scale_bar(project.metres_per_unit(), width)
    return MapScene(width, height, background, hops, stops,
                    project((sheet.hub_lon, sheet.hub_lat)), bar_length, bar_label,
                    attribution_text(sheet))


def attribution_parts(sheet: RouteSheet) -> tuple[str, str | None] | None:
    """The credit to print and, when the roads came from OSM, the licence page to cite."""
    if not sheet.attribution or not sheet.attribution.strip():
        return None
    text = sheet.attribution.strip()
    is_osm = "openstreetmap" in text.lower()
    return text, (OSM_COPYRIGHT_URL if is_osm and OSM_COPYRIGHT_URL not in text else None)


def attribution_text(sheet: RouteSheet) -> str | None:
    """The credit as one line, licence page included."""
    parts = attribution_parts(sheet)
    if parts is None:
        return None
    text, url = parts
    return f"{text} ({url})" if url else text


def _svg_points(points: tuple[Point, ...]) -> str:
    return " ".join(f"{x:g},{y:g}" for x, y in points)


def render_map_svg(sheet: RouteSheet, width: float = 800, height: float = 560,
                   title: str | None = None) -> str:
    """The map as a standalone SVG document (also inlined in the HTML sheet)."""
    scene = map_scene(sheet, width, height)
    w, h = scene.width, scene.height
    label = title if title is not None else f"Route {sheet.route_id}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:g} {h:g}" '
        f'class="route-map" role="img" aria-label={quoteattr(label)}>',
        f"<title>{escape(label)}</title>",
        f'<rect width="{w:g}" height="{h:g}" fill="#fbfaf6"/>',
        f'<g class="roads" fill="none" stroke="{ROAD_GREY}" stroke-width="1.2" '
        'stroke-linejoin="round" stroke-linecap="round">',
    ]
    out += [f'<polyline points="{_svg_points(line)}"/>' for line in scene.background]
    out.append('</g><g class="route" fill="none" stroke-linejoin="round" '
               'stroke-linecap="round" stroke-opacity="0.9">')
    out += [
        f'<polyline class="route-leg" data-hop="{hop.hop}" data-trip="{hop.trip}" '
        f'stroke="{hop.colour}" stroke-width="{4 * hop.weight:g}" '
        f'points="{_svg_points(hop.points)}"/>'
        for hop in scene.hops
    ]
    out.append("</g>")
    hx, hy = scene.hub
    out.append(
        f'<g class="hub"><rect x="{hx - 11:g}" y="{hy - 11:g}" width="22" height="22" '
        f'fill="{HUB_COLOUR}" stroke="#fff" stroke-width="2"/>'
        f'<text x="{hx:g}" y="{hy + 5:g}" text-anchor="middle" font-size="14" '
        f'font-weight="bold" fill="#fff" font-family="sans-serif">H</text></g>'
    )
    out.append('<g class="stops" font-family="sans-serif" font-size="13" font-weight="bold" '
               'text-anchor="middle">')
    for mark in scene.stops:
        colour = TRIP_COLOURS[(mark.trip - 1) % len(TRIP_COLOURS)]
        out.append(
            f'<g class="stop" data-sequence="{escape(mark.label)}">'
            f'<circle cx="{mark.x:g}" cy="{mark.y:g}" r="11" fill="#fff" stroke="{colour}" '
            f'stroke-width="3"/><text x="{mark.x:g}" y="{mark.y + 4.5:g}" fill="#000">'
            f"{escape(mark.label)}</text></g>"
        )
    out.append("</g>")
    bar_y = h - 14
    out.append(
        f'<g class="scale" font-family="sans-serif" font-size="12">'
        f'<path d="M12 {bar_y - 5:g}v5h{scene.scale_bar_length:.1f}v-5" fill="none" '
        f'stroke="#000" stroke-width="1.5"/>'
        f'<text x="{12 + scene.scale_bar_length / 2:.1f}" y="{bar_y - 8:g}" '
        f'text-anchor="middle">{escape(scene.scale_bar_label)}</text></g>'
    )
    if scene.attribution:
        out.append(
            f'<text class="attribution" x="{w - 6:g}" y="{h - 6:g}" text-anchor="end" '
            f'font-family="sans-serif" font-size="11" fill="#333" paint-order="stroke" '
            f'stroke="#fbfaf6" stroke-width="3">{escape(scene.attribution)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def render_map_png(sheet: RouteSheet, width: int = 1600, height: int = 1120,
                   font_file: str | Path | None = None) -> bytes:
    """The same map as a PNG (Pillow), for messaging apps that do not show SVG."""
    from PIL import Image, ImageDraw

    from .typeface import pil_font

    scene = map_scene(sheet, width, height, margin=width * 0.035)
    unit = width / 800  # stroke widths and marker sizes follow the SVG's proportions
    image = Image.new("RGB", (width, height), "#fbfaf6")
    draw = ImageDraw.Draw(image)
    for line in scene.background:
        draw.line(line, fill=ROAD_GREY, width=max(1, round(1.2 * unit)), joint="curve")
    for hop in scene.hops:
        if len(hop.points) >= 2:
            draw.line(hop.points, fill=hop.colour, width=round(4 * unit * hop.weight),
                      joint="curve")
    hx, hy = scene.hub
    r = 11 * unit
    label_font = pil_font(round(13 * unit), font_file)
    draw.rectangle((hx - r, hy - r, hx + r, hy + r), fill=HUB_COLOUR, outline="#fff",
                   width=round(2 * unit))
    draw.text((hx, hy), "H", fill="#fff", font=label_font, anchor="mm")
    for mark in scene.stops:
        colour = TRIP_COLOURS[(mark.trip - 1) % len(TRIP_COLOURS)]
        draw.ellipse((mark.x - r, mark.y - r, mark.x + r, mark.y + r), fill="#fff",
                     outline=colour, width=round(3 * unit))
        draw.text((mark.x, mark.y), mark.label, fill="#000", font=label_font, anchor="mm")
    small = pil_font(round(11 * unit), font_file)
    bar_y = height - 14 * unit
    x0, x1 = 12 * unit, 12 * unit + scene.scale_bar_length
    draw.line(((x0, bar_y - 5 * unit), (x0, bar_y), (x1, bar_y), (x1, bar_y - 5 * unit)),
              fill="#000", width=max(1, round(1.5 * unit)))
    draw.text(((x0 + x1) / 2, bar_y - 8 * unit), scene.scale_bar_label, fill="#000",
              font=small, anchor="md")
    if scene.attribution:
        draw.text((width - 6 * unit, height - 6 * unit), scene.attribution, fill="#333",
                  font=small, anchor="rd", stroke_width=round(2 * unit), stroke_fill="#fbfaf6")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
