"""The route sheet as an A4 PDF (fpdf2), CJK font embedded, the map as vector graphics.

Page 1 opens with the overview: vehicle, driver, times, totals, the map and the route's QR
code. Then one block per stop, never split across pages: ETA, window, farm, phone, roads to take,
what to collect, the load after the stop, and the QR code that opens the stop-collected page
(the code is also a link, for a driver reading the PDF on a phone).
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from . import fmt, qr
from .i18n import _, locale as sheet_locale
from .mapdraw import HUB_COLOUR, TRIP_COLOURS, attribution_text, map_scene, route_aspect
from .model import RouteSheet, SheetLeg, SheetStop
from .typeface import font_path

FONT = "sheet"
MARGIN = 12.0
PAGE_W = 210.0
CONTENT_W = PAGE_W - 2 * MARGIN
INK = (17, 17, 17)
MUTED = (90, 90, 90)
LINE = (190, 190, 190)
COLD = (2, 119, 189)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


class _SheetPDF(FPDF):
    def __init__(self, sheet: RouteSheet) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.sheet = sheet
        self.footer_credit = attribution_text(sheet)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT, size=7)
        self.set_text_color(*MUTED)
        left = _("Route %(route)s · %(date)s · plan %(plan)s v%(version)s") % {
            "route": self.sheet.route_id, "date": self.sheet.date.isoformat(), "plan": self.sheet.plan_id,
            "version": self.sheet.plan_version}
        if self.footer_credit:
            left += " · " + _("Map data %(credit)s") % {"credit": self.footer_credit}
        self.cell(CONTENT_W - 20, 4, left)
        self.cell(20, 4, f"{self.page_no()}/{{nb}}", align="R")
        self.set_text_color(*INK)


def render_pdf(sheet: RouteSheet, font_file: str | Path | None = None, *, locale: str | None = None) -> bytes:
    """The sheet as PDF bytes: A4 portrait, Noto Sans SC (or the given font) embedded; labels in
    Simplified Chinese unless `locale` is "en"."""
    with sheet_locale(locale):
        return _render_pdf(sheet, font_file)


def _render_pdf(sheet: RouteSheet, font_file: str | Path | None = None) -> bytes:
    pdf = _SheetPDF(sheet)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_font(FONT, fname=str(font_path(font_file)))
    pdf.set_title(_("Route %(route)s") % {"route": sheet.route_id} + f" {sheet.date.isoformat()}")
    pdf.set_subject(_("%(cooperative)s route sheet") % {"cooperative": sheet.cooperative_name})
    pdf.set_lang("zh-Hans")
    pdf.set_creation_date(sheet.departure)
    pdf.add_page()
    _overview(pdf, sheet)
    pdf.ln(4)  # stops follow on the same page when they fit: less paper per route
    for stop in sheet.stops:
        _keep_together(pdf, _stop_height(pdf, sheet, stop))
        _stop_block(pdf, sheet, stop)
    if sheet.return_legs:
        _keep_together(pdf, 2 + 6.5 + _measure(pdf, 9, 4.6, _legs_text(sheet.return_legs),
                                               CONTENT_W - 6) + 6)
        _return_block(pdf, sheet)
    return bytes(pdf.output())


def _keep_together(pdf: FPDF, height: float) -> None:
    """Start a new page unless a block of ``height`` fits on this one.

    (fpdf2's offset_rendering would measure by drawing, but it deep-copies the document and
    its CJK font for every block, which is slow on a long route.)"""
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()


def _text(pdf: FPDF, size: float, text: str, height: float | None = None,
           colour: tuple[int, int, int] = INK, width: float = 0, align: str = "L") -> None:
    pdf.set_font(FONT, size=size)
    pdf.set_text_color(*colour)
    pdf.multi_cell(width, height or size * 0.5, text, align=align,
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)


def _fact_row(pdf: FPDF, facts: list[tuple[str, str]]) -> None:
    width = CONTENT_W / len(facts)
    top = pdf.get_y()
    for index, (label, value) in enumerate(facts):
        x = MARGIN + index * width
        pdf.set_draw_color(*LINE)
        pdf.rect(x + 0.5, top, width - 1, 15)
        pdf.set_xy(x + 2, top + 1.2)
        pdf.set_font(FONT, size=7.5)
        pdf.set_text_color(*MUTED)
        pdf.cell(width - 4, 4, label)
        pdf.set_xy(x + 2, top + 5.5)
        pdf.set_text_color(*INK)
        size = 12.0
        pdf.set_font(FONT, size=size)
        while size > 7 and pdf.get_string_width(value) > width - 4:
            size -= 0.5
            pdf.set_font(FONT, size=size)
        pdf.cell(width - 4, 7, value)
    pdf.set_xy(MARGIN, top + 17)


def _overview(pdf: FPDF, sheet: RouteSheet) -> None:
    _text(pdf, 17, f"{sheet.cooperative_name} · " + _("Route %(route)s") % {"route": sheet.route_id}, 8.5)
    _text(pdf, 9.5, _("%(date)s · plan %(plan)s (version %(version)s) · hub %(hub)s") % {
        "date": sheet.date.isoformat(), "plan": sheet.plan_id, "version": sheet.plan_version,
        "hub": sheet.hub_name}, 5, MUTED)
    pdf.ln(2)
    _fact_row(pdf, [(_("Vehicle"), f"{sheet.vehicle_name} {sheet.vehicle_plate}"),
                    (_("Driver"), sheet.driver_name),
                    (_("Departure"), fmt.clock(sheet.departure, sheet)),
                    (_("Back at hub"), fmt.clock(sheet.return_at, sheet))])
    _fact_row(pdf, [(_("Distance"), fmt.km(sheet.total_distance_m)),
                    (_("Time"), fmt.duration(sheet.total_duration_s)),
                    (_("Stops"), str(len(sheet.pickups))),
                    (_("Weight"), fmt.kg(sheet.total_weight_kg)),
                    (_("Trips"), str(sheet.trips))])
    if sheet.has_cold_chain:
        _text(pdf, 10, _("Cold chain on this route: keep items marked [cold] in the refrigerated box."),
              5.5, COLD)
        pdf.ln(1)
    map_top = pdf.get_y()
    # As tall as the route needs (a long valley is wide and flat), within what the page has.
    map_h = max(90.0, min(CONTENT_W * route_aspect(sheet) + 12, 297 - 14 - map_top - 46))
    _draw_map(pdf, sheet, MARGIN, map_top, CONTENT_W, map_h)
    pdf.set_xy(MARGIN, map_top + map_h + 1.5)
    caption = _("Stops numbered in driving order; H = hub %(hub)s.") % {"hub": sheet.hub_name}
    credit = attribution_text(sheet)
    if credit:
        caption += " " + _("Roads: %(roads)s") % {"roads": credit}
    _text(pdf, 8, caption, 4, MUTED)
    if sheet.route_url:
        pdf.ln(2)
        top = pdf.get_y()
        _draw_qr(pdf, sheet.route_url, MARGIN, top, 32)
        pdf.set_xy(MARGIN + 36, top + 8)
        _text(pdf, 10, _("Whole route online:"), 5, width=CONTENT_W - 36)
        pdf.set_x(MARGIN + 36)
        _text(pdf, 9, sheet.route_url, 4.5, MUTED, width=CONTENT_W - 36)
        pdf.set_xy(MARGIN, max(pdf.get_y(), top + 32))


def _draw_map(pdf: FPDF, sheet: RouteSheet, x: float, y: float, w: float, h: float) -> None:
    scene = map_scene(sheet, w, h, margin=6)

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return x + point[0], y + point[1]

    with pdf.rect_clip(x, y, w, h):
        pdf.set_fill_color(251, 250, 246)
        pdf.rect(x, y, w, h, style="F")
        pdf.set_draw_color(176, 176, 176)
        pdf.set_line_width(0.25)
        for line in scene.background:
            pdf.polyline([at(p) for p in line])
        for hop in scene.hops:
            if len(hop.points) >= 2:
                pdf.set_line_width(1.0 * hop.weight)
                pdf.set_draw_color(*_rgb(hop.colour))
                pdf.polyline([at(p) for p in hop.points])
        hx, hy = at(scene.hub)
        pdf.set_fill_color(*_rgb(HUB_COLOUR))
        pdf.set_draw_color(255, 255, 255)
        pdf.set_line_width(0.4)
        pdf.rect(hx - 2.8, hy - 2.8, 5.6, 5.6, style="DF")
        _centred(pdf, "H", hx, hy, 8, (255, 255, 255))
        for mark in scene.stops:
            sx, sy = at((mark.x, mark.y))
            pdf.set_fill_color(255, 255, 255)
            pdf.set_draw_color(*_rgb(TRIP_COLOURS[(mark.trip - 1) % len(TRIP_COLOURS)]))
            pdf.set_line_width(0.7)
            pdf.circle(sx, sy, 2.8, style="DF")
            _centred(pdf, mark.label, sx, sy, 7.5, INK)
        bar_y = y + h - 4
        pdf.set_draw_color(*INK)
        pdf.set_line_width(0.3)
        pdf.polyline([(x + 3, bar_y - 1.5), (x + 3, bar_y),
                      (x + 3 + scene.scale_bar_length, bar_y),
                      (x + 3 + scene.scale_bar_length, bar_y - 1.5)])
        _centred(pdf, scene.scale_bar_label, x + 3 + scene.scale_bar_length / 2, bar_y - 3.2,
                 7, INK)
        if scene.attribution:
            pdf.set_font(FONT, size=6.5)
            text_w = pdf.get_string_width(scene.attribution) + 2
            pdf.set_fill_color(251, 250, 246)
            pdf.set_xy(x + w - text_w - 1, y + h - 4.5)
            pdf.set_text_color(51, 51, 51)
            pdf.cell(text_w, 3.5, scene.attribution, align="R", fill=True)
            pdf.set_text_color(*INK)
    pdf.set_draw_color(*LINE)
    pdf.set_line_width(0.2)
    pdf.rect(x, y, w, h)


def _centred(pdf: FPDF, text: str, cx: float, cy: float, size: float,
             colour: tuple[int, int, int]) -> None:
    pdf.set_font(FONT, size=size)
    pdf.set_text_color(*colour)
    height = size * 0.3528  # points to mm
    pdf.set_xy(cx - 10, cy - height / 2)
    pdf.cell(20, height, text, align="C")
    pdf.set_text_color(*INK)


def _draw_qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """Dark modules as filled rectangles (vector, sharp at any zoom), plus a link area."""
    modules = qr.size(url)
    border = 2
    module = size / (modules + 2 * border)
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    for row, col, length in qr.dark_runs(url):
        pdf.rect(x + (col + border) * module, y + (row + border) * module,
                 length * module, module, style="F")
    pdf.link(x, y, size, size, url)


def _legs_text(legs: tuple[SheetLeg, ...]) -> str:
    return " → ".join(f"{leg.display_name} {fmt.km(leg.distance_m)}" for leg in legs)


_Paragraph = tuple[float, float, str, tuple[int, int, int]]  # size, line height, text, colour
QR_SIZE = 30.0
QTY_W, WEIGHT_W = 30.0, 24.0


def _stop_text(sheet: RouteSheet, stop: SheetStop) -> tuple[list[_Paragraph], _Paragraph]:
    """The paragraphs above the items table, and the load line below it."""
    title = _("Back at hub: unload") + f" · {stop.farm_name}" if stop.is_reload else stop.farm_name
    above: list[_Paragraph] = [(13, 6.5, title, INK)]
    if stop.phone:
        above.append((11, 6, _("Tel. %(phone)s") % {"phone": stop.phone}, INK))
    if stop.legs_from_previous:
        above.append((9, 4.6, _("Roads: %(roads)s") % {"roads": _legs_text(stop.legs_from_previous)}, MUTED))
    load = (10, 6, _("Load after this stop: %(weight)s · %(volume)s") % {
        "weight": fmt.kg(stop.load_after_kg), "volume": fmt.litres(stop.load_after_l)}, INK)
    return above, load


def _text_width(stop: SheetStop) -> float:
    return CONTENT_W - 6 - (QR_SIZE + 4 if stop.collect_url else 0)


def _measure(pdf: FPDF, size: float, line_h: float, text: str, width: float) -> float:
    pdf.set_font(FONT, size=size)
    return pdf.multi_cell(width, line_h, text, dry_run=True, output=MethodReturnValue.HEIGHT)


def _stop_height(pdf: FPDF, sheet: RouteSheet, stop: SheetStop) -> float:
    """Height the stop block takes, measured without drawing (for keeping it on one page)."""
    width = _text_width(stop)
    above, load = _stop_text(sheet, stop)
    text_h = 13 + sum(_measure(pdf, size, line_h, text, width) for size, line_h, text, _ in above)
    if stop.items:
        name_w = width - QTY_W - WEIGHT_W
        text_h += 1 + 5 + 1 + sum(
            max(5.5, _measure(pdf, 10.5, 5.5, _item_label(item), name_w)) for item in stop.items)
    text_h += _measure(pdf, load[0], load[1], load[2], width)
    qr_h = QR_SIZE + 8 if stop.collect_url else 8
    return 2 + max(text_h, qr_h) + 2


def _stop_block(pdf: FPDF, sheet: RouteSheet, stop: SheetStop) -> None:
    qr_size = QR_SIZE if stop.collect_url else 0.0
    text_w = _text_width(stop)
    top = pdf.get_y() + 2
    page = pdf.page
    left = MARGIN + 3
    colour = _rgb(TRIP_COLOURS[(sheet.trip_of_hop(stop.sequence - 1) - 1) % len(TRIP_COLOURS)])
    pdf.set_draw_color(*colour)
    pdf.set_line_width(0.8)
    pdf.set_fill_color(255, 255, 255)
    pdf.circle(left + 4.5, top + 6.5, 4.5, style="DF")
    _centred(pdf, str(stop.sequence), left + 4.5, top + 6.5, 13, INK)
    pdf.set_xy(left + 12, top + 2.5)
    pdf.set_font(FONT, size=15)
    eta = fmt.clock(stop.arrival, sheet)
    pdf.cell(pdf.get_string_width(eta) + 3, 8, eta)
    if not stop.is_reload:
        pdf.set_font(FONT, size=10)
        pdf.set_text_color(*MUTED)
        pdf.cell(60, 8, _("window %(window)s") % {"window": fmt.window(stop)})
        pdf.set_text_color(*INK)
    pdf.set_xy(left, top + 13)
    pdf.set_left_margin(left)
    above, load = _stop_text(sheet, stop)
    for size, line_h, text, text_colour in above:
        _text(pdf, size, text, line_h, text_colour, width=text_w)
    if stop.items:
        pdf.ln(1)
        _items_table(pdf, stop, text_w)
    _text(pdf, load[0], load[2], load[1], load[3], width=text_w)
    pdf.set_left_margin(MARGIN)
    text_bottom = pdf.get_y()
    if qr_size:
        qr_x = MARGIN + CONTENT_W - qr_size - 3
        _draw_qr(pdf, stop.collect_url, qr_x, top + 3, qr_size)
        pdf.set_xy(qr_x - 2, top + 3 + qr_size)
        pdf.set_font(FONT, size=7)
        pdf.set_text_color(*MUTED)
        pdf.cell(qr_size + 4, 3.5, _("scan when unloaded") if stop.is_reload
                 else _("scan when collected"), align="C")
        pdf.set_text_color(*INK)
    bottom = max(text_bottom, top + qr_size + 8) if pdf.page == page else text_bottom
    if pdf.page == page:
        pdf.set_draw_color(*(LINE if stop.is_reload else INK))
        pdf.set_line_width(0.35)
        pdf.rect(MARGIN, top, CONTENT_W, bottom + 1.5 - top)
    pdf.set_xy(MARGIN, bottom + 2)


def _item_label(item) -> str:
    return item.product_name + ("  " + _("[cold]") if item.cold_chain else "")


def _items_table(pdf: FPDF, stop: SheetStop, width: float) -> None:
    qty_w, weight_w = QTY_W, WEIGHT_W
    name_w = width - qty_w - weight_w
    pdf.set_font(FONT, size=8)
    pdf.set_text_color(*MUTED)
    pdf.set_draw_color(*LINE)
    pdf.set_line_width(0.2)
    x = pdf.get_x()
    pdf.cell(name_w, 5, _("Collect"), border="B")
    pdf.cell(qty_w, 5, _("Qty"), border="B", align="R")
    pdf.cell(weight_w, 5, _("Weight"), border="B", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*LINE)
    pdf.set_line_width(0.2)
    for item in stop.items:
        name = _item_label(item)
        pdf.set_font(FONT, size=10.5)
        row_top = pdf.get_y()
        pdf.set_x(x)
        row_h = pdf.multi_cell(name_w, 5.5, name, new_x=XPos.RIGHT, new_y=YPos.TOP,
                               output=MethodReturnValue.HEIGHT)
        pdf.set_xy(x + name_w, row_top)
        pdf.cell(qty_w, 5.5, f"{fmt.quantity(item.quantity)} {item.unit}", align="R")
        pdf.cell(weight_w, 5.5, fmt.kg(item.weight_kg), align="R")
        row_bottom = row_top + max(5.5, row_h)
        pdf.line(x, row_bottom, x + width, row_bottom)
        pdf.set_xy(x, row_bottom)
    pdf.ln(1)


def _return_block(pdf: FPDF, sheet: RouteSheet) -> None:
    top = pdf.get_y() + 2
    pdf.set_xy(MARGIN + 3, top + 2)
    pdf.set_left_margin(MARGIN + 3)
    _text(pdf, 13, _("Return to %(hub)s") % {"hub": sheet.hub_name} + f" · {fmt.clock(sheet.return_at, sheet)}", 6.5,
          width=CONTENT_W - 6)
    _text(pdf, 9, _("Roads: %(roads)s") % {"roads": _legs_text(sheet.return_legs)}, 4.6, MUTED, width=CONTENT_W - 6)
    pdf.set_left_margin(MARGIN)
    bottom = pdf.get_y() + 1.5
    pdf.set_draw_color(*LINE)
    pdf.rect(MARGIN, top, CONTENT_W, bottom - top)
    pdf.set_xy(MARGIN, bottom + 2)
