"""The Kernel Lab's upsampling stage through AppTest: off by default, its settings in the URL, its explanation's numbers."""
import json
from dataclasses import replace

import pytest

from apptest_kit import page_state, run_page
from cnnviz.pages.kernel_lab import KernelLabState
from cnnviz.pages.lessons import LESSONS

PAGE = "kernel_lab"
SMALL = {"ws": "64", "up": "1"}  # a 64-px working image: the stage upsamples it to 128 px


def pictures(app) -> list[dict]:
    """What the stage's picture grid was sent: each picture's slot, title, shape and caption."""
    grid = [json.loads(element.proto.json) for element in app.get("bidi_component")
            if element.key == "kl_upsample_pictures"]
    return grid[0]["pictures"] if grid else []


def text(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def test_the_stage_is_off_by_default_and_old_links_keep_working():
    app = run_page(PAGE, query={"ws": "64", "k": "sobel_x"})
    state = page_state(app, PAGE)
    assert not state.upsample and (state.up_kernel, state.up_weights, state.up_resize) == (3, "learned", "nearest")
    assert pictures(app) == [] and "up" not in app.query_params and not app.warning
    assert app.toggle(key="kl_up").value is False


def test_kernel_3_shows_the_uneven_overlap_and_its_checkerboard():
    app = run_page(PAGE, query=SMALL)
    shown = pictures(app)
    assert [p["slot"] for p in shown] == ["transposed", "resized", "crop_transposed", "crop_resized"]
    assert shown[0]["title"] == "Transposed convolution, k=3, s=2" and shown[0]["shape"] == "128 × 128"
    assert shown[1]["title"] == "Resize ×2 (nearest), then 3×3 conv"
    assert "each pixel drawn as a 7×7 block" in shown[2]["caption"]
    words = text(app)
    assert "**1, 2, 1, 2, 1, 2, 1, 2, …**" in words and "1.33 · 1.03 · 0.97 · 0.67" in words
    assert "Brightest over darkest: **1.98**" in words
    assert "`(64 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 128`" in words
    assert app.code[-1].value.splitlines()[1] == "0.499  1.332  0.529"  # the kernel's big centre tap


def test_every_control_changes_the_view_and_its_link():
    app = run_page(PAGE, query=SMALL)
    app.segmented_control(key="kl_up_kernel").set_value(4).run()
    app.segmented_control(key="kl_up_weights").set_value("bilinear").run()
    app.segmented_control(key="kl_up_resize").set_value("bilinear").run()
    assert not app.exception
    state = page_state(app, PAGE)
    assert (state.upsample, state.up_kernel, state.up_weights, state.up_resize) == (True, 4, "bilinear", "bilinear")
    assert {key: app.query_params[key] for key in ("up", "uk", "uw", "ur")} == {
        "up": "1", "uk": "4", "uw": "bilinear", "ur": "bilinear"}
    words = text(app)
    assert "**2, 2, 2, 2, 2, 2, 2, 2, …**" in words and "Brightest over darkest: **1.00**" in words
    assert pictures(app)[1]["title"] == "Resize ×2 (bilinear), then 3×3 conv"
    app.toggle(key="kl_up").set_value(False).run()
    assert not page_state(app, PAGE).upsample and "up" not in app.query_params and pictures(app) == []
    assert app.query_params["uk"] == "4"  # the stage's settings wait for it to come back


def test_the_stage_works_in_rgb_and_in_chinese():
    app = run_page(PAGE, query={**SMALL, "c": "rgb", "img": "astronaut", "lang": "zh"})
    shown = pictures(app)
    assert shown[0]["shape"] == "128 × 128 × 3" and shown[0]["title"] == "转置卷积，k=3，s=2"
    assert "为什么会出现棋盘格" in text(app)


def test_the_state_round_trips_through_the_url():
    state = KernelLabState(upsample=True, up_kernel=4, up_weights="bilinear", up_resize="bilinear")
    query = state.to_query()
    assert {key: query[key] for key in ("up", "uk", "uw", "ur")} == {"up": "1", "uk": "4", "uw": "bilinear",
                                                                     "ur": "bilinear"}
    assert KernelLabState.from_query(query) == (state, [])
    assert "uk" not in KernelLabState(upsample=True).to_query()  # defaults stay out of links
    parsed, ignored = KernelLabState.from_query({"up": "1", "uk": "5", "uw": "box"})
    assert parsed == KernelLabState(upsample=True) and sorted(ignored) == ["uk=5", "uw=box"]


@pytest.mark.parametrize("query", [{"uk": "5"}, {"uw": "box"}, {"ur": "cubic"}])
def test_a_bad_link_value_is_ignored_with_a_warning(query):
    app = run_page(PAGE, query={**SMALL, **query})
    assert page_state(app, PAGE).upsample_config == KernelLabState().upsample_config
    assert any(key in w.value for w in app.warning for key in query)


def test_the_lesson_opens_the_stage_on_kernel_3_and_links_to_kernel_4():
    number, lesson = next((n, lesson) for n, lesson in enumerate(LESSONS, 1) if lesson.key == "upsampling")
    assert lesson.tutorial == [1, 1, 2, 1, 2, 1, 1] == lesson.app()
    app = run_page(PAGE, query=replace(lesson.state, working_size=64).to_query())
    assert "Brightest over darkest: **1.98**" in text(app) and pictures(app)
    (_, even), = lesson.also
    app = run_page(PAGE, query=replace(even, working_size=64).to_query())
    assert "Brightest over darkest: **1.00**" in text(app) and "**2, 2, 2, 2" in text(app)
    lessons = run_page("lessons", query={"l": str(number)})
    assert lessons.code[0].value == lessons.code[1].value == "[1, 1, 2, 1, 2, 1, 1]"
    links = [m.value for m in lessons.markdown if m.value.startswith("[")]
    assert "up=1" in links[0] and "uk=4" in links[1] and "uw=bilinear" in links[1]
