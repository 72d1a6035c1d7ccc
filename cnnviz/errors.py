"""Errors a student may read, in the reader's language: a catalog key and its values, rendered late.

The core raises ``UserError`` (or a subclass such as ``ImageError``) where a message can reach a page. It is
a ``ValueError`` whose ``str()`` is the English text from the catalog, word for word the f-string it replaced,
so logs, the command line and ``pytest.raises(match=...)`` read as before. The UI shows ``message(lang)``
instead (``cnnviz.ui.common.tr_error``); nothing here knows about Streamlit.

A value may itself be translatable: a ``Text`` (a fixed phrase such as the rebuild hint), a ``Join`` of them,
or another ``UserError`` (the reason inside "block 2 shrinks the 7x7 input to nothing (reason)"). Those are
rendered in the same language as the message around them.

    >>> str(UserError("error.numfmt.divides_by_zero", text="1/0"))
    "'1/0' divides by zero"
"""
from __future__ import annotations

from typing import Any, Iterable

from cnnviz.i18n import DEFAULT_LANGUAGE, t


class Text:
    """A catalog key and its values; ``render(lang)`` gives the text, ``str()`` the English."""

    __slots__ = ("key", "values")

    def __init__(self, key: str, **values: Any) -> None:
        self.key, self.values = key, values

    def render(self, lang: str = DEFAULT_LANGUAGE) -> str:
        return render(self.key, self.values, lang)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Text({self.key!r}, **{self.values!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.key, self.values) == (other.key, other.values)

    __hash__ = None  # values may be unhashable


class Join:
    """Translatable clauses in a list, joined the way ``lang`` joins clauses ("; " in English, "；" in Chinese)."""

    __slots__ = ("parts",)

    def __init__(self, parts: Iterable[Text]) -> None:
        self.parts = tuple(parts)

    def render(self, lang: str = DEFAULT_LANGUAGE) -> str:
        return t("error.join", lang).join(part.render(lang) for part in self.parts)

    def __str__(self) -> str:
        return self.render()


class UserError(ValueError):
    """A ValueError whose message lives in the catalog under ``key``, formatted with ``values``."""

    def __init__(self, key: str, **values: Any) -> None:
        self.text = Text(key, **values)
        super().__init__(self.text.render())  # the English text: str(), repr() and tracebacks

    @property
    def key(self) -> str:
        return self.text.key

    @property
    def values(self) -> dict[str, Any]:
        return self.text.values

    def message(self, lang: str = DEFAULT_LANGUAGE) -> str:
        """The message in ``lang`` (unknown languages and missing keys fall back to English)."""
        return self.text.render(lang)

    render = message  # so a UserError can be a value inside another message

    def __reduce__(self):
        # Pickling and deepcopy rebuild from the key and values, not from the English text.
        return _rebuild, (type(self), self.key, self.values)


def _rebuild(cls: type[UserError], key: str, values: dict[str, Any]) -> UserError:
    return cls(key, **values)


def render(key: str, values: dict[str, Any], lang: str = DEFAULT_LANGUAGE) -> str:
    """``t(key, lang, **values)`` with every translatable value rendered in ``lang`` first."""
    return t(key, lang, **{name: value.render(lang) if isinstance(value, (Text, Join, UserError)) else value
                           for name, value in values.items()})
