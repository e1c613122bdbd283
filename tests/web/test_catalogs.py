"""Chinese first: every string a person reads on a page or a route sheet has its translation."""
from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from supply import i18n
from supply.web.catalog import extract


@pytest.mark.parametrize("domain", ["messages", "sheets"])
def test_every_string_marked_in_the_code_has_a_chinese_translation(domain):
    with i18n.catalog_path(domain).open("rb") as f:
        catalog = read_po(f, locale="zh_Hans_CN", domain=domain)
    used = extract(domain)
    assert used, f"no string of {domain} was found: the extraction itself is broken"
    absent = sorted(str(m) for m in used if catalog.get(m[0] if isinstance(m, tuple) else m) is None)
    assert not absent, f"msgids not in {domain}.po (run python -m supply.web.catalog): {absent}"
    assert not i18n.untranslated(domain), f"untranslated in {domain}.po: {i18n.untranslated(domain)}"


def test_the_extraction_finds_strings_in_templates_and_in_code():
    used = extract("messages")
    assert "Mark collected" in used  # a template
    assert "This token is not valid." in used  # Python
    assert ("%(num)d stop", "%(num)d stops") in used  # a plural
