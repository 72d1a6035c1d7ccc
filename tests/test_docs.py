"""The README and docs/ stay true: a newcomer's length, CI's command, links that resolve, an example that runs."""
import ast
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
TEST_COMMAND = "python -m pip install -r requirements-dev.txt && python -m pytest"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
PAGE_SCREENSHOTS = ["kernel_lab", "step_by_step", "receptive_field", "train", "inspector", "your_network", "lessons",
                    "signals", "backward", "class_lecturer", "class_student", "exercises"]


def code_blocks(text: str, language: str = "") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_is_read_in_ten_minutes():
    assert len(README.read_text(encoding="utf-8")) <= 30_000


def test_ci_runs_the_readmes_test_command_verbatim():
    readme_commands = [block.strip() for block in code_blocks(README.read_text(encoding="utf-8"))]
    assert TEST_COMMAND in readme_commands
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci_lines[-1] == TEST_COMMAND


def test_the_readme_names_the_fast_tier():
    assert 'python -m pytest -m "not slow"' in README.read_text(encoding="utf-8")


def test_the_readme_shows_every_page():
    text = README.read_text(encoding="utf-8")
    for page in PAGE_SCREENSHOTS:
        assert f"(docs/screenshots/{page}.png)" in text, page


def broken_links(document: Path) -> list[str]:
    """The relative links and pictures of a Markdown file whose file, or heading anchor, does not exist."""
    broken = []
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(target)
        elif fragment and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), re.MULTILINE)
            if fragment not in {anchor(heading) for heading in headings}:
                broken.append(target)
    return broken


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda path: path.name)
def test_every_relative_link_resolves(document):
    assert broken_links(document) == []


def test_link_checking_sees_a_broken_link(tmp_path):
    # Guard against a check that can never fail: a missing picture and a missing heading are both caught.
    (tmp_path / "there.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text("# Train from the command line\n![a](there.png) ![b](missing.png)\n"
                    "[c](#train-from-the-command-line) [d](#nowhere) [e](https://example.org)\n", encoding="utf-8")
    assert broken_links(page) == ["missing.png", "#nowhere"]


def test_the_readmes_python_example_gives_the_values_it_shows():
    (example,) = code_blocks(README.read_text(encoding="utf-8"), "python")
    namespace: dict = {}
    checked = 0
    for line in example.splitlines():
        code, _, shown = line.partition("  # ")
        if not shown:
            exec(line, namespace)
            continue
        value = eval(code, namespace)
        try:
            expected = ast.literal_eval(shown.strip())
        except (ValueError, SyntaxError):
            assert repr(value) == shown.strip(), line
        else:
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, np.array(expected), err_msg=line)
            else:
                assert value == expected, line
        checked += 1
    assert checked == 18
