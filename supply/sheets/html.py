"""The route sheet as one self-contained HTML file: no network needed to open or print it.

CSS, the map and the QR codes are inline; text from users (farm names, products, phones) is
escaped by Jinja2's autoescape. Only SVG this package generates itself is marked safe.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from . import fmt, qr
from .i18n import _, current, locale as sheet_locale, ngettext
from .mapdraw import attribution_parts, render_map_svg
from .model import RouteSheet, SheetStop


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("supply.sheets", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(_, ngettext, newstyle=True)
    env.filters.update(
        km=fmt.km, duration=fmt.duration, kg=fmt.kg, litres=fmt.litres,
        quantity=fmt.quantity, window=fmt.window,
    )
    return env


def _qr_svg(url: str | None) -> Markup | None:
    return Markup(qr.svg(url)) if url else None


def _tel(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit() or ch == "+")


def _stop_view(sheet: RouteSheet, stop: SheetStop) -> dict:
    return {
        "stop": stop,
        "eta": fmt.clock(stop.arrival, sheet),
        "tel": _tel(stop.phone),
        "qr": _qr_svg(stop.collect_url),
    }


def render_html(sheet: RouteSheet, *, locale: str | None = None) -> str:
    """The whole sheet as an HTML document (UTF-8 text), readable offline and printable on A4; labels
    in Simplified Chinese unless `locale` is "en"."""
    with sheet_locale(locale):
        return _render_html(sheet)


def _render_html(sheet: RouteSheet) -> str:
    attribution = attribution_parts(sheet)
    return _environment().get_template("route_sheet.html").render(
        sheet=sheet,
        stops=[_stop_view(sheet, stop) for stop in sheet.stops],
        departure=fmt.clock(sheet.departure, sheet),
        return_at=fmt.clock(sheet.return_at, sheet),
        map_svg=Markup(render_map_svg(sheet, title=_("Route %(route)s map") % {"route": sheet.route_id})),
        route_qr=_qr_svg(sheet.route_url),
        attribution=attribution[0] if attribution else None,
        attribution_url=attribution[1] if attribution else None,
        lang="zh-Hans" if current() == "zh" else "en",
    )
