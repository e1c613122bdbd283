"""Keeping the `messages` and `sheets` catalogs in step with the code: every string marked for
translation in the pages (templates and Python) or the route sheets, read with Babel's extractors.

`python -m supply.web.catalog` adds the new msgids to the catalogs (empty, to be translated) and
drops the ones no longer used; the tests fail while any msgid lacks its Chinese translation.
"""
from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from supply import i18n

SUPPLY = Path(__file__).resolve().parents[1]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
SOURCES = {
    "messages": [(SUPPLY / "web", [("**.py", "python"), ("templates/**.html", "jinja2"),
                                   ("static/**.js", "ignore")])],
    "sheets": [(SUPPLY / "sheets", [("**.py", "python"), ("templates/**.html", "jinja2")])],
}
JINJA = {"extensions": "jinja2.ext.i18n", "trimmed": "false"}


def extract(domain: str) -> dict[str | tuple[str, str], list[str]]:
    """msgid (or (singular, plural)) -> where it is used."""
    found: dict = {}
    for root, method_map in SOURCES[domain]:
        options = {pattern: JINJA for pattern, method in method_map if method == "jinja2"}
        for filename, lineno, message, _comments, _context in extract_from_dir(
                root, method_map, options_map=options, keywords=KEYWORDS):
            found.setdefault(message, []).append(f"{root.name}/{filename}:{lineno}")
    return found


def update(domain: str) -> Path:
    path = i18n.catalog_path(domain)
    old = Catalog(locale="zh_Hans_CN", domain=domain)
    if path.exists():
        with path.open("rb") as f:
            old = read_po(f, locale="zh_Hans_CN", domain=domain)
    new = Catalog(locale="zh_Hans_CN", domain=domain, project="coop-dispatch", charset="utf-8",
                  creation_date=old.creation_date)  # no churn in the header when nothing changed
    for message_id, where in sorted(extract(domain).items(), key=lambda kv: str(kv[0])):
        key = message_id[0] if isinstance(message_id, tuple) else message_id
        previous = old.get(key)
        string = previous.string if previous else ("", "") if isinstance(message_id, tuple) else ""
        new.add(message_id, string, locations=[(w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1])) for w in where])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, new, width=100, omit_header=False, sort_output=True)
    return path


if __name__ == "__main__":
    for name in ("messages", "sheets"):
        print(update(name))
