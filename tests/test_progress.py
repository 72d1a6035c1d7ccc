"""``cnnviz.ui.progress``: a bar that jumps to each new width, its text escaped, its value within 0-100 %."""
from __future__ import annotations

import re

import pytest

from cnnviz.ui.progress import progress_html


def width(html: str) -> str:
    return re.search(r'class="cnnviz-fill" style="width: ([\d.]+)%', html).group(1)


def test_the_bar_shows_the_fraction_with_its_text():
    html = progress_html(0.25, "Training · step 1/4")
    assert width(html) == "25.0" and 'aria-valuenow="25"' in html and "<p>Training · step 1/4</p>" in html
    assert 'role="progressbar"' in html and 'aria-valuetext="Training · step 1/4"' in html


@pytest.mark.parametrize("fraction, shown", [(-0.5, "0.0"), (0, "0.0"), (1, "100.0"), (1.7, "100.0"), (2 / 3, "66.7")])
def test_the_fraction_is_clamped_to_the_bar(fraction, shown):
    assert width(progress_html(fraction, "x")) == shown


def test_text_and_colour_are_escaped():
    html = progress_html(0.5, '<img src=x onerror="alert(1)">', accent='red"><script>')
    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_the_bar_does_not_slide():
    # The point of the module: st.progress animates each change of width, and a watching browser draws every frame.
    assert "transition" not in progress_html(0.5, "x") and "animation" not in progress_html(0.5, "x")


@pytest.mark.parametrize("fraction", [float("nan"), float("inf"), None, "0.5", True])
def test_a_fraction_that_is_not_a_finite_number_is_refused(fraction):
    with pytest.raises(ValueError, match=re.escape(f"got {fraction!r}")):
        progress_html(fraction, "x")


# The status card around the bar (cnnviz.ui.status_card), for runs that have ended.

def _snap(state: str, latest=None, steps=()):
    from cnnviz.training.job import JobSnapshot

    return JobSnapshot(state, 0, tuple(steps), (), latest, "", "x")


@pytest.mark.parametrize("state, text", [("stopped", "Stopped"), ("failed", "Failed")])
def test_a_run_that_ended_before_its_first_step_says_so_not_starting(state, text):
    from cnnviz.ui.status_card import status_html

    html = status_html(_snap(state), "en", accent="red")
    assert text in html and "Starting" not in html


def test_an_ended_run_gives_no_time_left_and_a_running_one_does():
    from cnnviz.training.loop import Metrics
    from cnnviz.training.status import progress_text

    steps = [Metrics("step", step=n, total_steps=100, epoch=n / 10, loss=1.0, accuracy=0.5, lr=0.01,
                     samples_per_second=1000.0, elapsed=n * 0.1) for n in range(1, 61)]
    running = progress_text(_snap("running", steps[-1], steps), "en")
    assert running.startswith("Training · step 60/100") and running.endswith("about 4 s left")
    for state in ("failed", "stopped", "done", "diverged"):
        ended = progress_text(_snap(state, steps[-1], steps), "en")
        assert ended.endswith("6.0 s elapsed") and "left" not in ended and "估算" not in ended
        assert "剩" not in progress_text(_snap(state, steps[-1], steps), "zh")
