"""Message catalogs: what a person reads is written in English in the code and shown in Simplified
Chinese by default, English by a switch.

Catalogs are gettext `.po` files under `supply/translations/zh/LC_MESSAGES/<domain>.po`, one domain
per audience (`messages` for pages, `sheets` for route sheets, `farms` for notices and statements).
They are read with Babel at first use and kept compiled in memory, so there is no build step and no
binary file in the repository. English is the source language: its catalog is the msgids themselves.

No Flask here: sheets, notices and statements are made by services and jobs too.
"""
from __future__ import annotations

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

CATALOGS = Path(__file__).resolve().parent / "translations"
DEFAULT_LOCALE = "zh"
LOCALES = ("zh", "en")
_BABEL_LOCALE = {"zh": "zh_Hans_CN", "en": "en"}


def normalize_locale(value: str | None) -> str:
    """`zh`, `zh-CN`, `zh_Hans_CN`, ... -> `zh`; `en`, `en-GB`, ... -> `en`; anything else the default."""
    if not value:
        return DEFAULT_LOCALE
    head = value.strip().replace("-", "_").split("_")[0].lower()
    return head if head in LOCALES else DEFAULT_LOCALE


def babel_locale(locale: str | None) -> str:
    """The Babel locale identifier used to format numbers and dates for `locale`."""
    return _BABEL_LOCALE[normalize_locale(locale)]


def catalog_path(domain: str, locale: str = DEFAULT_LOCALE) -> Path:
    return CATALOGS / locale / "LC_MESSAGES" / f"{domain}.po"


@lru_cache(maxsize=None)
def translations(locale: str | None = None, domain: str = "messages") -> gettext.NullTranslations:
    """The gettext translations of `domain` for `locale` (English: the msgids as they are)."""
    locale = normalize_locale(locale)
    path = catalog_path(domain, locale)
    if locale == "en" or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=_BABEL_LOCALE[locale], domain=domain)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=domain)


def untranslated(domain: str, locale: str = DEFAULT_LOCALE) -> list[str]:
    """The msgids of `domain` that have no translation (or a fuzzy one) in `locale`'s catalog."""
    with catalog_path(domain, locale).open("rb") as f:
        catalog = read_po(f, locale=_BABEL_LOCALE[locale], domain=domain)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def gettext_for(locale: str | None = None, domain: str = "messages"):
    """`_` for one locale and domain: `_ = gettext_for("zh", "farms"); _("Have ready")`."""
    return translations(locale, domain).gettext


def ngettext_for(locale: str | None = None, domain: str = "messages"):
    return translations(locale, domain).ngettext
