"""The layering rule: computation never imports streamlit; only app.py and cnnviz/ui/ do."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STREAMLIT_IMPORT = re.compile(r"^\s*(import streamlit|from streamlit)", re.MULTILINE)


def test_pure_modules_never_import_streamlit():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "cnnviz").rglob("*.py")
        if "ui" not in path.relative_to(ROOT / "cnnviz").parts[:1] and STREAMLIT_IMPORT.search(path.read_text())
    ]
    assert offenders == []


def test_the_rule_detects_a_violation(tmp_path):
    # Guard against a regex that can never match.
    assert STREAMLIT_IMPORT.search("import numpy\nimport streamlit as st\n")
    assert STREAMLIT_IMPORT.search("from streamlit.testing.v1 import AppTest")
    assert not STREAMLIT_IMPORT.search("# streamlit is not imported here")


def test_app_entry_only_configures_and_navigates():
    source = (ROOT / "app.py").read_text()
    calls = set(re.findall(r"\bst\.(\w+)", source))
    assert calls <= {"set_page_config", "Page", "navigation"}, calls
