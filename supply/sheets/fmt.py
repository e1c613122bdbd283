"""How numbers, times and windows read on a sheet, shared by the HTML and the PDF."""

from __future__ import annotations

import datetime as dt

from .i18n import _
from .model import RouteSheet, SheetStop


def clock(moment: dt.datetime, sheet: RouteSheet) -> str:
    """HH:MM in the departure's timezone, with +1d when it falls after the service day."""
    local = moment.astimezone(sheet.timezone)
    text = local.strftime("%H:%M")
    days = (local.date() - sheet.date).days
    return f"{text} +{days}d" if days > 0 else text


def window(stop: SheetStop) -> str:
    if stop.window_start is None and stop.window_end is None:
        return _("any time")
    start = stop.window_start.strftime("%H:%M") if stop.window_start else "…"
    end = stop.window_end.strftime("%H:%M") if stop.window_end else "…"
    return f"{start}–{end}"


def km(distance_m: float) -> str:
    return f"{distance_m / 1000:.1f} km"


def duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": minutes}


def kg(weight_kg: float) -> str:
    return f"{weight_kg:,.1f} kg"


def litres(volume_l: float) -> str:
    return f"{volume_l:,.0f} L"


def quantity(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")
