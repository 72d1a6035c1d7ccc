"""The string catalog: every user-facing sentence, one module per area.

Each area module defines ``EN: dict[str, str]`` and ``ZH: dict[str, str]`` (Simplified
Chinese) with the same keys, prefixed by its area ("kl.", "step.", "error.", ...), and the
same {placeholders} in both. ``cnnviz.i18n`` merges them into one catalog per language;
tests/test_i18n.py fails on a key missing in either language, keys built at run time included.
"""
