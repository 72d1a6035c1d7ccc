"""The exercise generators, checked against torch and brute force: 200 seeded problems of each kind."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz import exercises
from cnnviz.exercises import KINDS, SET_SIZE, make, problem_set
from cnnviz.conv.kernels import grayscale_weights, make_kernel
from cnnviz.conv.samples import load_sample
from cnnviz.exercises.kinds import KERNEL_MAP_SIZE, REVEAL_AT, show

PROBLEMS = 200
SEEDS = [(seed, 1 + seed % 3) for seed in range(PROBLEMS)]  # every level, 200 problems in all


def torch_output_size(p):
    # Along H only: an (n, 1) input and a (k, 1) kernel.
    x, w = torch.zeros(1, 1, p["n"], 1), torch.zeros(1, 1, p["kernel"], 1)
    padding = "same" if p["padding"] == "same" else (p["padding"], 0)
    return F.conv2d(x, w, stride=(p["stride"], 1), padding=padding, dilation=(p["dilation"], 1)).shape[2]


def torch_transposed_size(p):
    x, w = torch.zeros(1, 1, p["n"], 1), torch.zeros(1, 1, p["kernel"], 1)
    return F.conv_transpose2d(x, w, stride=(p["stride"], 1), padding=(p["padding"], 0),
                              output_padding=(p["output_padding"], 0), dilation=(p["dilation"], 1)).shape[2]


def torch_conv_cell(p):
    x = torch.tensor(p["input"], dtype=torch.float64)[None, None]  # (1, 1, H, W)
    w = torch.tensor(p["kernel"], dtype=torch.float64)[None, None]  # (1, 1, kh, kw)
    out = F.conv2d(x, w, stride=p["stride"], padding=p["padding"], dilation=p["dilation"])
    return int(out[0, 0, p["row"], p["col"]].item())


def torch_pool(p):
    x = torch.tensor(p["input"], dtype=torch.float64)[None, None]
    pool = F.max_pool2d if p["kind"] == "max" else F.avg_pool2d
    return pool(x, p["size"], p["stride"])[0, 0].numpy()


def brute_force_field(layers):
    """(size, jump) of the last layer by backprop: a one-hot gradient on output units 0 and 1 of a 1-D stack of
    all-ones convs and average pools (a max pool's window, with a gradient on every tap), no padding."""
    strides, spans = [layer["stride"] for layer in layers], [layer["dilation"] * (layer["kernel"] - 1) + 1
                                                             for layer in layers]
    length = 1 + 2 * int(np.prod(strides)) + sum(span * int(np.prod(strides[:i])) for i, span in enumerate(spans))
    modules = []
    for layer in layers:
        if layer["kind"] == "conv":
            conv = nn.Conv2d(1, 1, (layer["kernel"], 1), stride=(layer["stride"], 1),
                             dilation=(layer["dilation"], 1), bias=False)
            nn.init.ones_(conv.weight)
            modules.append(conv)
        else:
            modules.append(nn.AvgPool2d((layer["kernel"], 1), stride=(layer["stride"], 1)))
    stack = nn.Sequential(*modules).double()
    starts = []
    for unit in (0, 1):
        x = torch.zeros(1, 1, length, 1, dtype=torch.float64, requires_grad=True)
        out = stack(x)
        out[0, 0, unit, 0].backward()
        seen = torch.nonzero(x.grad[0, 0, :, 0]).flatten()
        starts.append(int(seen.min()))
        if unit == 0:
            size = int(seen.max() - seen.min()) + 1
    return size, starts[1] - starts[0]


def torch_param_count(p):
    conv = nn.Conv2d(p["c_in"], p["c_out"], p["kernel"], bias=p["bias"], device="meta")
    return sum(parameter.numel() for parameter in conv.parameters())


def torch_separable_count(p):
    depthwise = nn.Conv2d(p["c_in"], p["c_in"], p["kernel"], groups=p["c_in"], bias=p["bias"], device="meta")
    pointwise = nn.Conv2d(p["c_in"], p["c_out"], 1, bias=p["bias"], device="meta")
    return sum(parameter.numel() for parameter in nn.Sequential(depthwise, pointwise).parameters())


SCALAR_REFERENCES = {"output_size": torch_output_size, "transposed_size": torch_transposed_size,
                     "conv_cell": torch_conv_cell, "param_count": torch_param_count,
                     "separable_count": torch_separable_count}


def states(value):
    """A result as the regex of a hint stating it: "= 14" but not "= 140", "= 14/9", or a term of a further step
    ("= 14·3", "= 14 − 2 + 1")."""
    return re.compile(rf"= {re.escape(show(value))}(?![\d/.·]| [+−])")


@pytest.mark.parametrize("kind", sorted(SCALAR_REFERENCES))
def test_scalar_kinds_accept_torch_and_reject_off_by_one(kind):
    for seed, level in SEEDS:
        problem = make(kind, seed, level)
        expected = SCALAR_REFERENCES[kind](problem.params)
        assert problem.check(str(expected)).ok, (seed, level, problem.params)
        assert problem.check(f" {expected} ").ok
        for wrong in (expected - 1, expected + 1):
            verdict = problem.check(str(wrong))
            assert not verdict.ok and verdict.read and verdict.hint, (seed, level, wrong)


@pytest.mark.parametrize("kind", sorted(SCALAR_REFERENCES))
def test_scalar_hints_state_the_result_only_from_the_third_wrong_try(kind):
    for seed, level in SEEDS:
        problem = make(kind, seed, level)
        expected = SCALAR_REFERENCES[kind](problem.params)
        for lang in ("en", "zh"):
            for attempt in range(1, REVEAL_AT):
                verdict = problem.check(str(expected + 1), attempt, lang)
                assert not states(expected).search(verdict.hint), (seed, level, attempt, verdict.hint)
                assert not verdict.reveals
            last = problem.check(str(expected + 1), REVEAL_AT, lang)
            assert states(expected).search(last.hint) and last.reveals  # the rule above can see a stated result


def _grid_text(grid):
    return "[" + ", ".join("[" + ", ".join(show(v) for v in row) + "]" for row in grid) + "]"


def test_pool_accepts_torch_and_rejects_any_cell_off_by_one():
    for seed, level in SEEDS:
        problem = make("pool", seed, level)
        expected = torch_pool(problem.params)
        assert problem.check(_grid_text(expected)).ok, (seed, level)
        assert problem.check(expected.tolist()).ok
        for delta in (-1, 1):
            wrong = expected.copy()
            r, c = seed % wrong.shape[0], (seed // 3) % wrong.shape[1]
            wrong[r, c] += delta
            verdict = problem.check(_grid_text(wrong))
            assert not verdict.ok and verdict.read, (seed, level, delta)
            for attempt in range(1, REVEAL_AT):
                hint = problem.check(_grid_text(wrong), attempt).hint
                assert f"({r}, {c})" in hint  # names the window that was mis-pooled
                assert not states(expected[r, c]).search(hint), hint
            assert states(expected[r, c]).search(problem.check(_grid_text(wrong), REVEAL_AT).hint)


def test_pool_says_how_many_windows_fit_when_the_grid_has_the_wrong_shape():
    problem = make("pool", 0, 1)
    expected = torch_pool(problem.params)
    verdict = problem.check(_grid_text(expected[:, :1]))
    assert not verdict.ok and f"{expected.shape[0]}×1" in verdict.hint and "⌊" in verdict.hint


def test_receptive_field_accepts_brute_force_and_rejects_off_by_one():
    for seed, level in SEEDS:
        problem = make("receptive_field", seed, level)
        size, jump = brute_force_field(problem.params["layers"])
        assert problem.check(f"{size}, {jump}").ok, (seed, level, problem.params)
        assert problem.check(f"[{size} {jump}]").ok
        for wrong in ((size - 1, jump), (size + 1, jump), (size, jump - 1), (size, jump + 1)):
            verdict = problem.check(f"{wrong[0]}, {wrong[1]}")
            assert not verdict.ok and verdict.read, (seed, wrong)
            for attempt in range(1, REVEAL_AT):
                hint = problem.check(f"{wrong[0]}, {wrong[1]}", attempt).hint
                assert hint.endswith("= ?"), hint  # the last layer's step, the answer, is left open
            last = problem.check(f"{wrong[0]}, {wrong[1]}", REVEAL_AT).hint
            assert last.endswith(f"= {jump}") and f"= {size}," in last


def test_the_hint_says_which_half_of_a_receptive_field_answer_is_right():
    problem = make("receptive_field", 1, 2)
    size, jump = problem.solution()
    assert "jump is right" in problem.check(f"{size + 1}, {jump}").hint
    assert "size is right" in problem.check(f"{size}, {jump + 1}").hint


def test_a_hand_checked_output_size_and_its_hints():
    problem = make("output_size", 0, 1)
    assert problem.params == {"n": 5, "kernel": 2, "stride": 2, "padding": 1, "dilation": 1}
    assert problem.check("3").ok  # ⌊(5 + 1 + 1 − 1 − 1) / 2⌋ + 1
    assert problem.check("3.0").ok and problem.check("6/2").ok and problem.check(3).ok
    assert problem.check("4", 1).hint.endswith("⌊(5 + 1 + 1 − 1·(2 − 1) − 1) / 2⌋ + 1 = ?")
    assert problem.check("4", 2).hint.endswith("= ⌊5 / 2⌋ + 1 = ?")
    assert problem.check("4", 3).hint.endswith("= ⌊5 / 2⌋ + 1 = 3")
    assert "代入" in problem.check("4", 1, "zh").hint


def test_a_hand_checked_parameter_count():
    problem = make("param_count", 3)
    assert problem.params == {"c_in": 3, "c_out": 2, "kernel": 1, "bias": True}
    assert problem.check("8").ok  # 2·(3·1·1 + 1)
    assert "3·1·1 = 3 weights and one bias, 4 parameters; 2 filters: 2·4 = ?" in problem.check("9", 2).hint


@pytest.mark.parametrize("answer, message", [
    ("abc", "“abc” is not a number"), ("", "Type an answer first"), ("1, 2", "Type one number"),
    ("x" * 3000, "longer than 2000"),
])
def test_an_unreadable_answer_says_what_to_type_and_is_no_try(answer, message):
    verdict = make("output_size", 0, 1).check(answer)
    assert not verdict.ok and not verdict.read and message in verdict.hint
    assert "请" in make("output_size", 0, 1).check(answer, lang="zh").hint or "字符" in \
        make("output_size", 0, 1).check(answer, lang="zh").hint


def test_grids_and_pairs_are_read_in_several_forms():
    problem = make("pool", 0, 1)
    expected = torch_pool(problem.params)
    rows = "; ".join(" ".join(show(v) for v in row) for row in expected)
    lines = "\n".join(", ".join(show(v) for v in row) for row in expected)
    assert problem.check(rows).ok and problem.check(lines).ok
    ragged = problem.check("[[1, 2], [3]]")
    assert not ragged.read and "different lengths (2, 1)" in ragged.hint
    pair = make("receptive_field", 0, 1).check("7")
    assert not pair.read and "Type 2 numbers" in pair.hint


@pytest.mark.parametrize("kind, level, seed, message", [
    ("outputsize", 1, 0, "kind='outputsize'"), ("output_size", 4, 0, "level=4"), ("output_size", 0, 0, "level=0"),
    ("output_size", True, 0, "level=True"), ("output_size", 1, -1, "seed=-1"), ("output_size", 1, 1.5, "seed=1.5"),
    (None, 1, 0, "kind=None"),
])
def test_bad_kinds_levels_and_seeds_raise_naming_the_value(kind, level, seed, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make(kind, seed, level)


def test_a_bad_attempt_raises_naming_it():
    with pytest.raises(ValueError, match="attempt=0"):
        make("output_size", 0).check("1", attempt=0)


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_seed_gives_the_same_problem_and_params_are_a_fresh_dict(kind):
    problem = make(kind, 17, 2)
    assert make(kind, 17, 2) == problem and make(kind, 17, 2).params == problem.params
    params = problem.params
    params.clear()
    assert problem.params  # handing out the dict did not let anyone change the problem
    assert len({make(kind, seed, 2).params_json for seed in range(20)}) > 10  # seeds differ
    with pytest.raises(AttributeError):
        problem.seed = 3


def test_levels_grow_the_numbers():
    def biggest(kind, key, level):
        return max(make(kind, seed, level).params[key] for seed in range(50))
    assert biggest("output_size", "n", 1) < biggest("output_size", "n", 2) < biggest("output_size", "n", 3)
    assert biggest("param_count", "c_out", 1) < biggest("param_count", "c_out", 3)
    sizes = [max(len(make("conv_cell", seed, level).params["input"]) for seed in range(20)) for level in (1, 2, 3)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[2]
    layers = [max(len(make("receptive_field", seed, level).params["layers"]) for seed in range(20))
              for level in (1, 2, 3)]
    assert layers[0] < layers[2]


def test_the_kinds_and_a_set_of_ten():
    assert {"output_size", "conv_cell", "pool", "receptive_field", "param_count", "transposed_size",
            "separable_count", "which_kernel"} <= set(KINDS)
    first, second = problem_set("conv_cell", 0, 1), problem_set("conv_cell", 1, 1)
    assert len(first) == SET_SIZE and not set(p.seed for p in first) & set(p.seed for p in second)
    with pytest.raises(ValueError, match="seed=-2"):
        problem_set("conv_cell", -2)


@pytest.mark.parametrize("kind", KINDS)
def test_every_prompt_reads_in_both_languages(kind):
    problem = make(kind, 4, 3)
    english, chinese = problem.prompt("en"), problem.prompt("zh")
    assert english.endswith((".", "?")) and english != chinese
    assert re.search(r"[\u4e00-\u9fff]", chinese) and "{" not in english + chinese
    assert problem.check(problem.answer_text()).ok


def test_the_module_docstring_example():
    import doctest
    assert doctest.testmod(exercises).failed == 0


def test_the_window_a_wrong_answer_is_about():
    cell = make("conv_cell", 24, 1)
    assert cell.window(str(cell.solution() + 1)) == ((1, 2), (1, 2)) and cell.window(str(cell.solution())) is None
    assert cell.window("x") is None
    pool = make("pool", 0, 1)  # 2×2 windows at stride 2 on a 4×4 input
    wrong = [[float(v) for v in row] for row in pool.solution()]
    wrong[1][0] += 1
    assert pool.window(wrong) == ((2, 3), (0, 1))
    assert pool.window([[1]]) is None and make("output_size", 0).window("1") is None


def torch_maps(params):
    """Each choice's map of the problem's gray sample by F.conv2d with torch's own "same" padding."""
    image = load_sample(params["sample"], size=KERNEL_MAP_SIZE)
    if image.ndim == 3:
        image = image @ np.array(grayscale_weights(), dtype=np.float32)
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64))[None, None]  # (1, 1, H, W)
    return [F.conv2d(x, torch.from_numpy(make_kernel(name).astype(np.float64))[None, None], padding="same")[0, 0]
            for name in params["options"]]


def test_which_kernel_accepts_every_choice_whose_torch_map_is_the_shown_one():
    for seed, level in SEEDS:
        problem = make("which_kernel", seed, level)
        params = problem.params
        maps = torch_maps(params)
        shown = maps[params["target"]]
        for number, candidate in enumerate(maps, start=1):
            same = float((candidate - shown).abs().max()) <= 1e-4
            verdict = problem.check(str(number))
            assert verdict.ok == same, (seed, level, number, params)
            if not same and number == 1 + (params["target"] + 1) % len(maps):  # one wrong choice's hints
                for attempt in range(1, REVEAL_AT):
                    assert "it is choice" not in problem.check(str(number), attempt).hint
                assert f"it is choice {params['target'] + 1}," in problem.check(str(number), REVEAL_AT).hint
        out_of_range = problem.check(str(len(maps) + 1))
        assert not out_of_range.read and f"from 1 to {len(maps)}" in out_of_range.hint
