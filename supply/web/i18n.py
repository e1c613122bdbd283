"""The pages' language: Simplified Chinese unless the person switched to English (a cookie, set by
`?lang=en` on any page). Strings go through the `messages` catalog (supply.i18n); numbers, dates and
times are written by Babel in the locale and in the cooperative's time zone."""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal
from flask import Flask, g, request

from supply import i18n

COOKIE = "lang"


def current_locale() -> str:
    if "locale" not in g:
        g.locale = i18n.normalize_locale(request.args.get("lang") or request.cookies.get(COOKIE))
    return g.locale


def gettext(message: str) -> str:
    return i18n.translations(current_locale(), "messages").gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.translations(current_locale(), "messages").ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks a string for the catalog where it is defined; translated where it is shown."""
    return message


def timezone() -> ZoneInfo:
    return ZoneInfo(g.get("coop_timezone") or "Asia/Shanghai")


def number(value, digits: int | None = None) -> str:
    if value is None:
        return ""
    fmt = None if digits is None else "#,##0." + "0" * digits if digits else "#,##0"
    return format_decimal(value, format=fmt, locale=i18n.babel_locale(current_locale()))


def when(value) -> str:
    """A moment as the cooperative's clock shows it (date and time, short)."""
    if value is None:
        return ""
    locale = i18n.babel_locale(current_locale())
    if isinstance(value, datetime):
        return format_datetime(value.astimezone(timezone()), "short", locale=locale)
    if isinstance(value, time):
        return format_time(value, "HH:mm", locale=locale)
    if isinstance(value, date):
        return format_date(value, "medium", locale=locale)
    return str(value)


def clock(value) -> str:
    """HH:mm on the cooperative's clock."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(timezone())
    return format_time(value, "HH:mm", locale=i18n.babel_locale(current_locale()))


def install_i18n(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)
    app.jinja_env.filters.update(number=number, when=when, clock=clock)
    app.jinja_env.globals.update(current_locale=current_locale)

    @app.after_request
    def remember_language(response):
        chosen = request.args.get("lang")
        if chosen and request.blueprint in ("pages", "driver", "host", "console") \
                and i18n.normalize_locale(chosen) == chosen.lower()[:2]:
            response.set_cookie(COOKIE, i18n.normalize_locale(chosen), max_age=365 * 86400, samesite="Lax",
                                httponly=True, secure=request.is_secure)
        return response
