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
        try:
            list(string.Formatter().parse(text))
        except ValueError as error:
            pytest.fail(f"{key}: {error}")
    with pytest.raises(ValueError):  # the check itself can fail
        list(string.Formatter().parse("a stray { brace"))


def test_duplicate_keys_across_areas_are_refused(monkeypatch):
    from types import SimpleNamespace

    a = SimpleNamespace(__name__="a", EN={"x.k": "1"})
    b = SimpleNamespace(__name__="b", EN={"x.k": "2"})
    monkeypatch.setattr(i18n, "_area_modules", lambda: [a, b])
    with pytest.raises(ValueError, match="x.k"):
        i18n._build_catalog()


# Keys the code builds: f"kl.activation.{a}" or f"step.{kind}_title" -> a pattern with a word where the {} was.
DYNAMIC_KEY = re.compile(r"""\bf["']([a-z0-9_]+\.[a-z0-9_.]*)\{[^}]+\}([a-z0-9_.]*)["']""")


def _code() -> str:
    sources = [ROOT / "app.py", *(p for p in (ROOT / "cnnviz").rglob("*.py") if "strings" not in p.parts)]
    return "\n".join(path.read_text() for path in sources)


def test_every_catalog_key_is_used():
    # Dead strings cost translators time: a key must appear in the code, or start with a prefix the code builds
    # keys from (tr(f"kl.activation.{a}")), or name a kernel preset (kernels.<key>.name/why, built from PRESETS).
    code = _code()
    built = [re.compile(re.escape(prefix) + r"[a-z0-9_-]+" + re.escape(suffix) + "$")
             for prefix, suffix in DYNAMIC_KEY.findall(code)]
    built += [re.compile(r"kernels\.[a-z0-9_]+\.(name|why)$"), re.compile(r"kernels\.param\."), re.compile(r"samples\.")]
    assert any(pattern.match("kl.activation.relu") for pattern in built)  # the scan itself works
    assert not any(pattern.match("kl.no_such_key") for pattern in built)
    unused = [key for key in CATALOG["en"] if key not in code and not any(p.match(key) for p in built)]
    assert unused == []
