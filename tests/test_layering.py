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
    assert calls <= {"set_page_config", "Page", "navigation", "App"}, calls  # App: the server, with its route


def test_tensors_reach_numpy_through_the_cpu():
    # A model trained on a GPU has CUDA tensors, and .numpy() refuses them: every .numpy() goes through .cpu().
    # CI has no GPU, so the rule is pinned here; ops.py is exempt: it makes its tensors on the CPU itself.
    offenders = []
    for path in (ROOT / "cnnviz").rglob("*.py"):
        if path.name == "ops.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if ".numpy()" in line and ".cpu()" not in line and not line.lstrip().startswith(("#", "``", '"')):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_nothing_writes_into_the_checkout_while_testing():
    # Running the tests must leave the checkout clean (they once rewrote docs/screenshots); screenshots come from
    # scripts/screenshots.py on request.
    sources = [p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_layering.py"]
    writers = [str(p.relative_to(ROOT)) for p in sources if "docs" in p.read_text() and ".screenshot(" in p.read_text()
               or "save_screenshot" in p.read_text()]
    assert writers == []


def test_every_cache_with_arguments_is_bounded():
    # Memory must not grow with every upload: a cached function keyed by its arguments keeps at most max_entries
    # results. Argument-less ones hold one object each (a registry, a bounded LruCache).
    decorated = re.compile(r"@st\.cache_(?:data|resource)\(([^)]*)\)\s*\ndef \w+\(([^)]*)\)")
    unbounded = []
    for path in (ROOT / "cnnviz" / "ui").rglob("*.py"):
        for options, parameters in decorated.findall(path.read_text()):
            if parameters.strip() and "max_entries" not in options and "ttl" not in options:
                unbounded.append(f"{path.name}: {parameters}")
    assert unbounded == []
    assert decorated.search('@st.cache_resource(show_spinner=False)\ndef f(x): pass')  # the scan sees decorators


UI_FORBIDDEN = re.compile(r"^\s*(?:import|from)\s+(multiprocessing|subprocess|torch|threading)\b", re.MULTILINE)
# The one exception: the server's housekeeping runs beside Streamlit in a thread of its own.
UI_ALLOWED = {("housekeeping.py", "threading")}


def test_the_ui_floor_starts_no_processes_threads_or_tensors():
    # Drawing never trains, spawns or computes with torch: cnnviz.training owns processes, threads and the models.
    found = {(path.name, module) for path in (ROOT / "cnnviz" / "ui").rglob("*.py")
             for module in UI_FORBIDDEN.findall(path.read_text())}
    assert found - UI_ALLOWED == set()
    assert UI_FORBIDDEN.findall("import json\nfrom torch import nn\nimport threading\n") == ["torch", "threading"]


def _session_state_mentions(source: str) -> list[int]:
    return [number for number, line in enumerate(source.splitlines(), start=1) if "session_state" in line]


def test_only_the_state_module_touches_the_session():
    # Pages read and write the session through cnnviz.ui.state (widget values, transient view state, the session's
    # settings), so every kind of session key is named in one module.
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in sorted((ROOT / "cnnviz" / "ui").rglob("*.py"))
                 if path.name != "state.py" for number in _session_state_mentions(path.read_text())]
    assert offenders == []
    assert _session_state_mentions('x = 1\nst.session_state["k"] = 2\n') == [2]
    assert _session_state_mentions("from streamlit import session_state\n") == [1]
