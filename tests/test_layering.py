"""The layering rules: computation never imports streamlit (only app.py and cnnviz/ui/ do), and each floor imports
only the floors below it."""
import re
import subprocess
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


def test_the_checkout_watch_sees_every_kind_of_write(tmp_path):
    # conftest.checkout_stays_clean fails the session when a test writes into the checkout: this checks what it
    # compares sees a new file, an edited file and a file added to an ignored folder, and not the caches.
    from checkout_kit import checkout_changes, checkout_state

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("/runs/\n__pycache__/\n")
    (tmp_path / "kept.py").write_text("x = 1\n")
    (tmp_path / "runs").mkdir()
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "start")
    clean = checkout_state(tmp_path)
    assert clean == {"runs/": ("!!", (tmp_path / "runs").stat().st_mtime_ns)}

    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "kept.cpython-312.pyc").write_bytes(b"")
    assert checkout_changes(clean, checkout_state(tmp_path)) == []
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "shot.png").write_bytes(b"png")
    assert checkout_changes(clean, checkout_state(tmp_path)) == ["docs/shot.png"]
    (tmp_path / "kept.py").write_text("x = 2\n")
    assert checkout_changes(clean, checkout_state(tmp_path)) == ["docs/shot.png", "kept.py"]
    (tmp_path / "runs" / "run.pt").write_bytes(b"")  # inside an ignored folder: the folder's clock moves on
    assert checkout_changes(clean, checkout_state(tmp_path)) == ["docs/shot.png", "kept.py", "runs/"]


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


# Modules a floor above training: training (a run, its registry and status) never draws and never knows a page.
ABOVE_TRAINING = re.compile(r"^\s*(from|import) cnnviz(\.(pages|ui|export|figures)\b"
                            r"| import .*\b(pages|ui|export|figures)\b)", re.MULTILINE)


def test_training_imports_no_floor_above_it():
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "cnnviz" / "training").rglob("*.py")
                 if ABOVE_TRAINING.search(path.read_text())]
    assert offenders == []
    assert ABOVE_TRAINING.search("from cnnviz.figures import training\n")  # the rule can see the import it forbids
    assert ABOVE_TRAINING.search("from cnnviz.figures.training import curves_from\n")
    assert ABOVE_TRAINING.search("from cnnviz import figures\n")
    assert ABOVE_TRAINING.search("from cnnviz.pages.train_live import shared\n")
    assert not ABOVE_TRAINING.search("from cnnviz.training.loop import ema\n")


# What each floor folder may not import: conv sits on the shared base alone, analysis on conv, and figures on
# everything below the pages, training included (the training charts read the loop's Metrics record and its ema
# smoothing; training never draws, as the test above checks). The classroom sits on the base and on training's
# Redis connection.
FLOOR_FORBIDDEN = {
    "conv": {"analysis", "figures", "pages", "ui", "training"},
    "analysis": {"figures", "pages", "ui", "training"},
    "figures": {"pages", "ui"},
    "exercises": {"figures", "pages", "ui", "training"},  # checked by conv and analysis, drawn by the pages
    "graph": {"figures", "pages", "ui", "exercises", "classroom"},  # any network; training for its checkpoints
    # the room keeps questions and answers as data: what they mean (exercises) and how they look are the pages'
    "classroom": {"conv", "analysis", "figures", "pages", "ui"},
}
CNNVIZ_IMPORT = re.compile(r"^\s*(?:from\s+cnnviz\.(\w+)|import\s+cnnviz\.(\w+)"
                           r"|from\s+cnnviz\s+import\s+(\([^)]*\)|.*))", re.MULTILINE)


def cnnviz_imports(source: str) -> set[str]:
    """The top-level names under cnnviz that ``source`` imports: ``conv`` for ``from cnnviz.conv.ops import x``."""
    found = set()
    for dotted, plain, names in CNNVIZ_IMPORT.findall(source):
        if dotted or plain:
            found.add(dotted or plain)
        else:
            found.update(name.split(" as ")[0].strip() for name in names.strip("()").split("#")[0].split(","))
    return found - {""}


def test_each_floor_folder_imports_only_the_floors_below_it():
    found = {(f"{floor}/{path.relative_to(ROOT / 'cnnviz' / floor)}", name)
             for floor, forbidden in FLOOR_FORBIDDEN.items()
             for path in (ROOT / "cnnviz" / floor).rglob("*.py")
             for name in cnnviz_imports(path.read_text()) & forbidden}
    assert found == set()
    # the rule can see every form of the imports it forbids
    assert cnnviz_imports("from cnnviz.analysis.receptive_field import Box\n") == {"analysis"}
    assert cnnviz_imports("    import cnnviz.pages.step as step\n") == {"pages"}
    assert cnnviz_imports("from cnnviz import errors, ui  # why\n") == {"errors", "ui"}
    assert cnnviz_imports("from cnnviz import (figures,\n    training as t)\n") == {"figures", "training"}
    assert not cnnviz_imports("# from cnnviz.figures import maps is not an import\n")


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


TRANSIENT_DECLARATION = re.compile(r"\b(Transient|TransientFamily)\(|_transient_")


def test_every_transient_key_is_declared_in_the_state_module():
    # View state that is not in a link is the session's third kind of state: each key is declared once, with its
    # type and why it exists, in cnnviz/ui/state.py, and pages use those declarations.
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in sorted((ROOT / "cnnviz").rglob("*.py"))
                 if path.name != "state.py"
                 for number, line in enumerate(path.read_text().splitlines(), start=1)
                 if TRANSIENT_DECLARATION.search(line)]
    assert offenders == []
    assert TRANSIENT_DECLARATION.search('_VIEW = page_state.Transient("rf_view", None)')
    assert TRANSIENT_DECLARATION.search('st.session_state["_transient_rf_view"] = view')
    assert not TRANSIENT_DECLARATION.search("page_state.RF_PICK.set(pick)")


PAGE_SCRIPT = re.compile(r'st\.Page\("(cnnviz/ui/\w+\.py)"')


def test_every_page_runs_through_the_one_page_runner():
    # bind -> frame -> steps -> publish is written once (cnnviz/ui/page.py); a page only declares its Page and steps.
    scripts = PAGE_SCRIPT.findall((ROOT / "app.py").read_text())
    assert len(scripts) == 11
    offenders = [script for script in scripts
                 if "guarded(run_page, Page(" not in (ROOT / script).read_text()
                 or re.search(r"^\s*page_header\(|^def render\(", (ROOT / script).read_text(), re.MULTILINE)]
    assert offenders == []
