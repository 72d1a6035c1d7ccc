"""One lookup for every user-facing string, so the interface can be translated as a whole.

English is the reference language: a key missing from another language falls back to
English, and a key missing from English is a bug (KeyError); tests catch both. The UI asks
through ``cnnviz.ui.common.tr``; errors raised by the core carry their key
(``cnnviz.errors.UserError``) and are translated where they are shown.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import cnnviz.strings as _strings_pkg

# Languages the interface can be shown in, in the order a language picker lists them.
LANGUAGES: tuple[str, ...] = ("en", "zh")
DEFAULT_LANGUAGE = "en"


def _area_modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(_strings_pkg.__path__))
    return [importlib.import_module(f"{_strings_pkg.__name__}.{name}") for name in names]


def _build_catalog() -> dict[str, dict[str, str]]:
    catalog: dict[str, dict[str, str]] = {}
    owner: dict[str, str] = {}
    for module in _area_modules():
        for lang in LANGUAGES:
            table = getattr(module, lang.upper(), {})
            for key, text in table.items():
                where = f"{lang}:{key}"
                if where in owner:
                    raise ValueError(f"string key {key!r} is defined twice: in {owner[where]} and {module.__name__}")
                owner[where] = module.__name__
                catalog.setdefault(lang, {})[key] = text
    return catalog


CATALOG: dict[str, dict[str, str]] = _build_catalog()


def t(key: str, lang: str = DEFAULT_LANGUAGE, **fmt: object) -> str:
    """Return the text for ``key`` in ``lang``, formatted with ``fmt``.

    Args:
        key: catalog key such as ``"kl.title"``.
        lang: language code; unknown languages and missing keys fall back to English.
        **fmt: values for ``str.format`` placeholders in the text.

    Returns:
        The translated, formatted text.

    Raises:
        KeyError: the key is not in the English catalog.
    """
    table = CATALOG.get(lang, {})
    text = table.get(key)
    if text is None:
        text = CATALOG[DEFAULT_LANGUAGE][key]
    return text.format(**fmt) if fmt else text
