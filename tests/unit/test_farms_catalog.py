"""The `farms` catalog (notices, statements, slips): every msgid the code uses is there, translated."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from supply import i18n

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["supply/services/statements.py", "supply/services/notices.py", "supply/services/recall.py",
           "supply/services/farm_papers.py"]


def used_msgids() -> set[str]:
    found = set()
    for module in MODULES:
        if (ROOT / module).exists():
            found |= {msg for _, msg, _, _ in extract_from_file("python", ROOT / module, keywords={"_": None})}
    return found


def test_every_farms_msgid_has_its_chinese_translation():
    assert i18n.untranslated("farms") == []


def test_every_string_the_farms_code_marks_is_in_the_catalog():
    with i18n.catalog_path("farms").open("rb") as f:
        catalog = {m.id for m in read_po(f, locale="zh_Hans_CN", domain="farms") if m.id}
    used = used_msgids()
    assert used, "the farms' modules mark their text for translation"
    assert sorted(used - catalog) == []


def test_chinese_by_default_english_by_a_switch():
    assert i18n.gettext_for(None, "farms")("not paid") == "不付款"
    assert i18n.gettext_for("en", "farms")("not paid") == "not paid"
