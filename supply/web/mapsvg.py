"""The whole plan on one map, as inline SVG: the county's roads in grey, each route in its colour,
stops numbered, unplanned pickups marked with their reason. Names are escaped (they are farms')."""
from __future__ import annotations

import math

from markupsafe import escape

COLOURS = ["#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#4e342e",
           "#283593", "#558b2f"]
WIDTH = 1000


def _projector(bbox, width: int):
    west, south, east, north = bbox
    k = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * k, 1e-9)
    span_y = max(north - south, 1e-9)
    height = max(200, int(width * span_y / span_x))

    def at(lon: float, lat: float) -> tuple[float, float]:
        return round((lon - west) * k / span_x * width, 1), round((north - lat) / span_y * height, 1)

    return at, height


def _polyline(points, at) -> str:
    return " ".join("%g,%g" % at(lon, lat) for lon, lat in points)


def plan_svg(scene: dict) -> str:
    at, height = _projector(scene["bbox"], WIDTH)
    west, south, east, north = scene["bbox"]
    out = [f'<svg class="plan-map" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg" '
           f'role="img" aria-label="plan {int(scene["plan_id"])}" data-west="{west}" data-south="{south}" '
           f'data-east="{east}" data-north="{north}">',
           '<g class="roads" fill="none" stroke="#c8c8c8" stroke-width="1">']
    out += [f'<polyline points="{_polyline(line, at)}"/>' for line in scene["background"] if len(line) > 1]
    out.append("</g>")
    for index, route in enumerate(scene["routes"]):
        colour = COLOURS[index % len(COLOURS)]
        out.append(f'<g class="route" data-route-id="{int(route["id"])}" stroke="{colour}" fill="none" '
                   f'stroke-width="3.5" stroke-linejoin="round">')
        out += [f'<polyline points="{_polyline(hop, at)}"/>' for hop in route["lines"] if len(hop) > 1]
        for stop in route["stops"]:
            x, y = at(stop["lon"], stop["lat"])
            out.append(f'<g class="stop"><title>{escape(stop["name"])}</title>'
                       f'<circle cx="{x}" cy="{y}" r="9" fill="#fff" stroke-width="3"/>'
                       f'<text x="{x}" y="{y + 4}" text-anchor="middle" font-size="11" stroke="none" '
                       f'fill="{colour}" font-weight="bold">{int(stop["sequence"])}</text></g>')
        out.append("</g>")
    for item in scene["unplanned"]:
        x, y = at(item["lon"], item["lat"])
        out.append(f'<g class="unplanned"><title>{escape(item["name"])}: {escape(item["reason"])} '
                   f'{escape(item["detail"])}</title><path d="M{x - 7},{y - 7}L{x + 7},{y + 7}M{x - 7},{y + 7}'
                   f'L{x + 7},{y - 7}" stroke="#c62828" stroke-width="4"/></g>')
    for closure in scene.get("closures", []):
        x, y = at(closure["lon"], closure["lat"])
        out.append(f'<g class="closure"><title>{escape(closure["reason"])}</title><rect x="{x - 7}" y="{y - 7}" '
                   f'width="14" height="14" fill="#c62828" stroke="#fff" stroke-width="2"/></g>')
    if scene.get("hub"):
        hx, hy = at(scene["hub"]["lon"], scene["hub"]["lat"])
        out.append(f'<g class="hub"><title>{escape(scene["hub"]["name"])}</title><rect x="{hx - 10}" '
                   f'y="{hy - 10}" width="20" height="20" fill="#111"/><text x="{hx}" y="{hy + 5}" '
                   f'text-anchor="middle" font-size="13" fill="#fff">H</text></g>')
    if scene.get("attribution"):
        out.append(f'<text x="{WIDTH - 6}" y="{height - 6}" text-anchor="end" font-size="12" fill="#555">'
                   f'{escape(scene["attribution"])}</text>')
    out.append("</svg>")
    return "".join(out)
