"""The sheet's language: Simplified Chinese unless a caller renders it in English.

Labels go through the `sheets` catalog (supply.i18n). The language is a context variable set by
`render_html` / `render_pdf` for the time of one rendering, so the helpers need no extra argument.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from supply import i18n as catalogs

_LOCALE: ContextVar[str] = ContextVar("sheet_locale", default=catalogs.DEFAULT_LOCALE)


def current() -> str:
    return _LOCALE.get()


def _(message: str) -> str:
    return catalogs.translations(_LOCALE.get(), "sheets").gettext(message)


def N_(message: str) -> str:
    """Marks a string for the catalog where it is defined; translated where it is shown."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalogs.translations(_LOCALE.get(), "sheets").ngettext(singular, plural, n)


@contextmanager
def locale(value: str | None):
    """Render in `value` (zh, en, zh-CN, ...; anything else: Chinese) inside the block."""
    token = _LOCALE.set(catalogs.normalize_locale(value))
    try:
        yield
    finally:
        _LOCALE.reset(token)
