"""Hostile input at every entry point: each gets a message a student can act on, and the page keeps working."""
import io
import os
import pickle
import tracemalloc

import numpy as np
import pytest
import torch

from apptest_kit import page_state, run_page
from cnnviz.conv.images import ImageError, load_image_info
from cnnviz.model import NETWORK_PRESETS, build_model
from cnnviz.pages.kernel_lab import KernelLabState, compute
from cnnviz.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from cnnviz.training.config import TrainConfig
from hostile import corpus, gif_bomb, png_bomb, tiff_bomb

CASES = corpus()


@pytest.mark.parametrize(("name", "data", "expected"), CASES, ids=[name for name, _, _ in CASES])
def test_every_upload_decodes_or_is_refused_with_a_reason(name, data, expected):
    if expected == "refused":
        with pytest.raises(ImageError) as error:
            load_image_info(data, max_side=512)
        message = str(error.value)
        assert len(message) > 30 and "/" not in message.split("(")[0] and "Traceback" not in message
        return
    info = load_image_info(data, max_side=512)
    assert max(info.pixels.shape[:2]) <= 512 and np.isfinite(info.pixels).all()
    assert info.pixels.min() >= 0 and info.pixels.max() <= 1


@pytest.mark.parametrize("bomb", [png_bomb, gif_bomb, tiff_bomb])
def test_bombs_are_refused_before_their_pixels_exist(bomb):
    data = bomb(30000)  # 900 million pixels declared
    tracemalloc.start()
    with pytest.raises(ImageError, match="pixels"):
        load_image_info(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(data) < 2000 and peak < 5_000_000


@pytest.mark.parametrize(("name", "data"), [(n, d) for n, d, e in CASES if e == "image"],
                         ids=[n for n, _, e in CASES if e == "image"])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_every_decodable_upload_goes_through_the_kernel_lab(name, data, padding):
    pixels = load_image_info(data, max_side=256).pixels
    for colour in ("gray", "rgb"):
        state = KernelLabState(colour=colour, padding=padding, pool="max")
        try:
            result = compute(state, pixels, name)
        except ValueError as error:  # a 1-pixel-wide image cannot take a valid 3x3 window: say so
            assert "padded input" in str(error) or "spans" in str(error)
            continue
        assert np.isfinite(result.stages.conv).all()


@pytest.mark.slow
def test_hostile_uploads_in_the_page_never_break_it():
    app = run_page("kernel_lab", query={"src": "upload", "ws": "256"})
    for name, data, expected in CASES:
        app.file_uploader(key="kl_upload").upload(name, data, "application/octet-stream").run()
        assert not app.exception, name
        shown = " ".join(e.value for e in app.error)
        assert (expected == "refused") == bool(shown), (name, shown)


@pytest.mark.parametrize("text", ["abc", "inf", "-inf", "nan", "1e309", "1/0", "--2", "3,5,6"])
def test_nonsense_in_a_kernel_cell_is_refused_and_named(text):
    from apptest_kit import edit_grid, grid_key

    app = run_page("kernel_lab", query={"img": "mnist_digit"})
    edit_grid(app, grid_key(app, "kl", "grid"), {0: {1: text}})
    assert not app.exception
    assert any("Row 1, column 2" in w.value for w in app.warning)
    assert page_state(app, "kernel_lab").kernel is None  # the cell kept its value: still the preset


def test_an_empty_cell_counts_as_zero_and_a_fraction_is_accepted():
    from apptest_kit import edit_grid, grid_key

    app = run_page("kernel_lab", query={"img": "mnist_digit", "k": "box3"})
    edit_grid(app, grid_key(app, "kl", "grid"), {0: {0: ""}, 1: {1: "1/9"}, 2: {2: " 2/18 "}})
    kernel = page_state(app, "kernel_lab").kernel_array()
    assert kernel[0, 0] == 0 and kernel[1, 1] == 1 / 9 and kernel[2, 2] == pytest.approx(1 / 9)


def test_an_all_zero_kernel_explains_its_blank_map():
    app = run_page("kernel_lab", query={"img": "mnist_digit", "k": "box3"})
    app.number_input(key="kl_rows").set_value(1).run()
    app.number_input(key="kl_cols").set_value(1).run()
    from apptest_kit import edit_grid, grid_key

    edit_grid(app, grid_key(app, "kl", "grid"), {0: {0: "0"}})
    assert any("every weight is 0" in i.value for i in app.info)


# --- checkpoints --------------------------------------------------------------------------------------------

class Payload:
    """Unpickling this runs a command: the classic poisoned checkpoint."""

    def __reduce__(self):
        return (os.system, ("echo poisoned > /dev/null",))


def test_a_checkpoint_carrying_code_is_refused_without_running_it(monkeypatch):
    buffer = io.BytesIO()
    torch.save({"format": "cnnviz-checkpoint-v1", "state_dict": {}, "model_config": Payload()}, buffer,
               pickle_protocol=pickle.HIGHEST_PROTOCOL)
    ran = []
    monkeypatch.setattr(os, "system", lambda command: ran.append(command))  # had it run, we would know
    with pytest.raises(CheckpointError, match="not a cnnviz checkpoint"):
        load_checkpoint(buffer.getvalue())
    assert ran == []  # weights_only refused the object before it could run anything


def test_truncated_and_foreign_checkpoints_are_refused():
    data = save_checkpoint(build_model(NETWORK_PRESETS["tiny"]), NETWORK_PRESETS["tiny"], TrainConfig())
    with pytest.raises(CheckpointError, match="not a cnnviz checkpoint"):
        load_checkpoint(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_checkpoint(save_checkpoint(build_model(NETWORK_PRESETS["tiny"]), NETWORK_PRESETS["default"]))


def test_hostile_checkpoints_in_the_page_never_break_it():
    app = run_page("train")
    for name, data in (("poisoned.pt", pickle.dumps(Payload())), ("empty.pt", b""), ("photo.pt", CASES[8][1])):
        app.file_uploader(key="train_ckpt").upload(name, data, "application/octet-stream").run()
        assert not app.exception and "not a cnnviz checkpoint" in app.error[0].value, name


# --- training settings and links ---------------------------------------------------------------------------

@pytest.mark.parametrize("query", [{"lr": "0"}, {"lr": "1e6"}, {"ep": "0"}, {"bs": "-3"}, {"b": "999.3.1.1.relu.1.max.2"},
                                   {"n": "abc"}, {"dev": "tpu"}, {"net": "../../etc"}, {"run": "<script>"},
                                   {"fc": "1,2,3,4,5"}, {"fc": "99999"}, {"fc": "-1"}, {"fc": "64,<b>"}])
def test_hostile_training_links_fall_back_to_defaults_and_say_so(query):
    app = run_page("train", query=query)
    assert not app.exception
    key = next(iter(query))
    assert any(f"{key}=" in w.value for w in app.warning)


def test_a_stack_that_shrinks_the_digit_to_nothing_names_the_block():
    app = run_page("train", query={"b": "8.9.0.1.relu.0.max.4_8.9.0.1.relu.0.max.4"})
    assert not app.exception
    assert "block 2 shrinks" in app.error[0].value and app.button(key="train_start").disabled


@pytest.mark.parametrize("query", [{"s": "0,0"}, {"s": "x"}, {"kv": "99x99.d0.AAAA"}, {"kv": "3x3.f.!!"},
                                   {"d": "1,1,1"}, {"ws": "100000"}, {"k": "<img>"}, {"bank": "nope,sobel_x"}])
def test_hostile_kernel_lab_links(query):
    app = run_page("kernel_lab", query={"img": "mnist_digit", **query})
    assert not app.exception
    assert app.warning and "could not be used" in app.warning[0].value
