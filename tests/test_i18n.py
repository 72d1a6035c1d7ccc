"""The string catalog: every key the UI asks for exists, and lookups behave."""
import re
from pathlib import Path

import pytest

from cnnviz import i18n
from cnnviz.i18n import CATALOG, t

ROOT = Path(__file__).resolve().parents[1]
# tr("key"...) and t("key"...) calls with a literal key.
KEY_CALL = re.compile(r"""\btr?\(\s*["']([a-z0-9_]+\.[a-z0-9_.]+)["']""")


def _keys_used_in_ui() -> set[str]:
    sources = [ROOT / "app.py", *(ROOT / "cnnviz" / "ui").rglob("*.py")]
    return {key for path in sources for key in KEY_CALL.findall(path.read_text())}


def test_every_key_used_by_the_ui_is_in_the_english_catalog():
    used = _keys_used_in_ui()
    assert "nav.kernel_lab" in used  # the scan itself works
    missing = sorted(used - CATALOG["en"].keys())
    assert missing == []


def test_lookup_formats_placeholders():
    CATALOG["en"]["test.greeting"] = "Hello {name}"
    try:
        assert t("test.greeting", name="Ada") == "Hello Ada"
    finally:
        del CATALOG["en"]["test.greeting"]


def test_unknown_language_falls_back_to_english():
    assert t("nav.kernel_lab", lang="xx") == CATALOG["en"]["nav.kernel_lab"]


def test_missing_key_is_an_error():
    with pytest.raises(KeyError, match="no.such.key"):
        t("no.such.key")


def test_every_placeholder_is_well_formed():
    import string

    for key, text in CATALOG["en"].items():
        # raises ValueError on a stray brace
        list(string.Formatter().parse(text)), key


def test_duplicate_keys_across_areas_are_refused(monkeypatch):
    from types import SimpleNamespace

    a = SimpleNamespace(__name__="a", EN={"x.k": "1"})
    b = SimpleNamespace(__name__="b", EN={"x.k": "2"})
    monkeypatch.setattr(i18n, "_area_modules", lambda: [a, b])
    with pytest.raises(ValueError, match="x.k"):
        i18n._build_catalog()
