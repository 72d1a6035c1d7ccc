"""The string catalog: every user-facing sentence, one module per area.

Each area module defines ``EN: dict[str, str]`` with keys prefixed by its area
("kl.", "step.", ...). ``cnnviz.i18n`` merges them into one catalog per language,
so a later ``ZH`` dict in each module adds Chinese without touching the UI code.
"""
