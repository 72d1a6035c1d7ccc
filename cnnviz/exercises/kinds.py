"""The exercise generators: for each kind, seeded numbers, the solution by cnnviz's own code, and the hints.

A kind is four small functions over a plain ``params`` dict: ``generate(rng, level)`` draws the numbers, ``solve``
computes the answer with the app's own maths (``geometry.Axis``, ``ops.conv2d``, ``ops.pool2d``,
``receptive_field.analyze``, ``formulas``, its ``separable_costs`` too), ``read`` turns typed text into a comparable value, and ``hint`` writes
the working for a wrong answer, one step further on each try (``Hint``), the result itself only from
``REVEAL_AT`` on. Nothing stores an answer: ``solve`` runs every time.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from cnnviz.analysis import formulas, receptive_field
from cnnviz.conv import ops
from cnnviz.conv.geometry import Axis, TransposedAxis, is_int, same_padding
from cnnviz.conv.kernels import grayscale_weights, make_kernel
from cnnviz.conv.samples import load_sample
from cnnviz.errors import Join, Text, UserError
from cnnviz.exercises.answers import read_grid, read_number, read_numbers

LEVELS = (1, 2, 3)  # 1: small numbers to do in the head; 3: the sizes of real networks
REVEAL_AT = 3  # the wrong try whose hint finishes the working with the result; tries before it end in "?"


def show(value: Any) -> str:
    """A number as a student writes it: 14, -3, 5/2, 2.5."""
    value = Fraction(value).limit_denominator(10**6)
    if value.denominator == 1:
        return str(value.numerator)
    as_decimal = float(value)
    if value.denominator in (2, 4, 5, 8, 10, 20, 25, 50, 100):
        return f"{as_decimal:g}"
    return f"{value.numerator}/{value.denominator}"


def signed(value: Any) -> str:
    """A factor in a product: negative numbers in brackets, 2·(−1)."""
    text = show(value)
    return f"({text})" if text.startswith("-") else text


def _ending(expression: str, result: Any, reveal: bool) -> str:
    return f"{expression} = {show(result) if reveal else '?'}"


@dataclass(frozen=True)
class Kind:
    """One generator: how its numbers are drawn, solved, read back and hinted at."""

    name: str
    generate: Callable[[random.Random, int], dict[str, Any]]
    solve: Callable[[dict[str, Any]], Any]
    read: Callable[[Any], Any]
    same: Callable[[Any, Any, dict[str, Any]], bool]  # (what the student typed, the solution, params) -> right?
    hint: Callable[[dict[str, Any], Any, Any, int], Text | Join]  # (params, typed, solution, try) -> the hint


def _int_answer(typed: Fraction, solution: int, params: dict[str, Any]) -> bool:
    return typed == solution


POOL_TOLERANCE = 0.005  # an average of nine is a ninth: 2.44 or 2.444 for 22/9 is right, 3.44 is not


def _off(typed: Fraction, value: float) -> bool:
    return abs(float(typed) - value) > POOL_TOLERANCE


def _grid_same(typed: tuple, solution: np.ndarray, params: dict[str, Any]) -> bool:
    if (len(typed), len(typed[0])) != solution.shape:
        return False
    return not any(_off(value, float(solution[r, c])) for r, row in enumerate(typed) for c, value in enumerate(row))


def _grid(rng: random.Random, rows: int, cols: int, low: int, high: int) -> list[list[int]]:
    return [[rng.randint(low, high) for _ in range(cols)] for _ in range(rows)]


# -- output size ------------------------------------------------------------------------------------------------------

# (n range, kernel range, stride range, padding range, dilation range) per level
_OUTPUT_RANGES = {1: ((5, 12), (1, 3), (1, 2), (0, 1), (1, 1)),
                  2: ((8, 32), (1, 5), (1, 3), (0, 2), (1, 2)),
                  3: ((16, 128), (1, 7), (1, 4), (0, 3), (1, 3))}


def _output_size_params(rng: random.Random, level: int) -> dict[str, Any]:
    n_range, k_range, s_range, p_range, d_range = _OUTPUT_RANGES[level]
    while True:
        params = {"n": rng.randint(*n_range), "kernel": rng.randint(*k_range), "stride": rng.randint(*s_range),
                  "padding": rng.randint(*p_range), "dilation": rng.randint(*d_range)}
        if level >= 2 and params["stride"] == 1 and rng.random() < 0.25:
            params["padding"] = "same"  # the named padding: the student works out how much it adds
        if Axis(params["n"], params["kernel"], params["stride"], *_pads(params), params["dilation"]).fits:
            return params


def _pads(params: dict[str, Any]) -> tuple[int, int]:
    if params["padding"] == "same":
        return same_padding(params["n"], params["kernel"], params["stride"], params["dilation"])
    return params["padding"], params["padding"]


def _output_axis(params: dict[str, Any]) -> Axis:
    return Axis(params["n"], params["kernel"], params["stride"], *_pads(params), params["dilation"])


def _output_size_hint(params: dict[str, Any], typed: Any, solution: int, attempt: int) -> Join:
    axis = _output_axis(params)
    parts = []
    if params["padding"] == "same":
        parts.append(Text("ex.hint.same", total=axis.pad_before + axis.pad_after, before=axis.pad_before,
                          after=axis.pad_after, dilation=axis.dilation, kernel=axis.kernel))
    formula = axis.text.rsplit(" = ", 1)[0]
    if attempt == 1:
        parts.append(Text("ex.hint.output_size", formula=_ending(formula, solution, False)))
    else:
        inner = f"⌊{axis.padded - axis.span} / {axis.stride}⌋ + 1"
        parts.append(Text("ex.hint.output_size",
                          formula=_ending(f"{formula} = {inner}", solution, attempt >= REVEAL_AT)))
    return Join(parts)


OUTPUT_SIZE = Kind("output_size", _output_size_params, lambda p: _output_axis(p).out_size, read_number,
                   _int_answer, _output_size_hint)


# -- transposed output size -------------------------------------------------------------------------------------------

def _transposed_params(rng: random.Random, level: int) -> dict[str, Any]:
    n_range, k_range, s_range, p_range, d_range = _OUTPUT_RANGES[level]
    while True:
        params = {"n": rng.randint(2, n_range[1] // 2), "kernel": rng.randint(*k_range), "stride": rng.randint(*s_range),
                  "padding": rng.randint(*p_range), "dilation": rng.randint(*d_range), "output_padding": 0}
        if level >= 2 and params["stride"] > 1:
            params["output_padding"] = rng.randint(0, params["stride"] - 1)
        try:
            _transposed_axis(params)
        except ValueError:
            continue  # a padding that crops everything, or an output_padding torch refuses: draw again
        return params


def _transposed_axis(params: dict[str, Any]) -> TransposedAxis:
    return TransposedAxis(params["n"], params["kernel"], params["stride"], params["padding"], params["dilation"],
                          params["output_padding"])


def _transposed_hint(params: dict[str, Any], typed: Any, solution: int, attempt: int) -> Text:
    axis = _transposed_axis(params)
    formula = axis.text.rsplit(" = ", 1)[0]
    if attempt > 1:
        formula += f" = {(axis.size - 1) * axis.stride} − {2 * axis.padding} + {axis.span - 1} + {axis.output_padding} + 1"
    return Text("ex.hint.transposed_size", formula=_ending(formula, solution, attempt >= REVEAL_AT))


TRANSPOSED_SIZE = Kind("transposed_size", _transposed_params, lambda p: _transposed_axis(p).out_size, read_number,
                       _int_answer, _transposed_hint)


# -- one output cell of a convolution ---------------------------------------------------------------------------------

# (input side, kernel side, value range, weight range, strides, paddings, dilations) per level
_CELL_RANGES = {1: (4, 2, (0, 3), (-1, 2), (1,), (0,), (1,)),
                2: (5, 3, (0, 5), (-1, 2), (1, 2), (0, 1), (1,)),
                3: (6, 3, (-3, 6), (-2, 3), (1, 2), (0, 1), (1, 2))}


def _cell_layer(params: dict[str, Any]) -> tuple[Axis, Axis]:
    size, kernel = len(params["input"]), len(params["kernel"])
    return tuple(Axis(size, kernel, params["stride"], params["padding"], params["padding"], params["dilation"])
                 for _ in range(2))


def _conv_cell_params(rng: random.Random, level: int) -> dict[str, Any]:
    size, kernel, values, weights, strides, paddings, dilations = _CELL_RANGES[level]
    while True:
        params = {"input": _grid(rng, size, size, *values), "kernel": _grid(rng, kernel, kernel, *weights),
                  "stride": rng.choice(strides), "padding": rng.choice(paddings), "dilation": rng.choice(dilations)}
        rows, _ = _cell_layer(params)
        if rows.fits:
            params["row"], params["col"] = rng.randrange(rows.out_size), rng.randrange(rows.out_size)
            return params


def _conv_cell_solve(params: dict[str, Any]) -> Fraction:
    output = ops.conv2d(np.array(params["input"], dtype=np.float64), np.array(params["kernel"], dtype=np.float64),
                        stride=params["stride"], padding=params["padding"], dilation=params["dilation"])
    return Fraction(round(float(output[params["row"], params["col"]])))  # integer inputs: the sum is exact


def _taps(axis: Axis, index: int) -> list[int]:
    return list(axis.window(index).taps)


def cell_window(params: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The input (rows, cols) output (row, col) of a one-cell problem reads."""
    rows, cols = _cell_layer(params)
    return tuple(_taps(rows, params["row"])), tuple(_taps(cols, params["col"]))


def _conv_cell_hint(params: dict[str, Any], typed: Any, solution: Fraction, attempt: int) -> Join:
    rows, cols = _cell_layer(params)
    row_taps, col_taps = _taps(rows, params["row"]), _taps(cols, params["col"])
    parts = [Text("ex.hint.window", row=params["row"], col=params["col"], rows=", ".join(map(str, row_taps)),
                  cols=", ".join(map(str, col_taps)), stride=params["stride"], padding=params["padding"],
                  dilation=params["dilation"])]
    if any(not 0 <= tap < len(params["input"]) for tap in row_taps + col_taps):
        parts.append(Text("ex.hint.padding_zeros"))
    if attempt == 1:
        parts.append(Text("ex.hint.multiply_add"))
        return Join(parts)
    size = len(params["input"])
    products = []
    for i, r in enumerate(row_taps):
        for j, c in enumerate(col_taps):
            value = params["input"][r][c] if 0 <= r < size and 0 <= c < size else 0
            products.append(f"{signed(value)}·{signed(params['kernel'][i][j])}")
    parts.append(Text("ex.hint.products", sum=_ending(" + ".join(products), solution, attempt >= REVEAL_AT)))
    return Join(parts)


CONV_CELL = Kind("conv_cell", _conv_cell_params, _conv_cell_solve, read_number, _int_answer, _conv_cell_hint)


# -- a pooling result -------------------------------------------------------------------------------------------------

# (input side, [(window, stride)], value range) per level
_POOL_RANGES = {1: (4, ((2, 2),), (0, 9)),
                2: (6, ((2, 2), (3, 3)), (0, 9)),
                3: (7, ((3, 2), (2, 2), (3, 3)), (-5, 9))}


def _pool_params(rng: random.Random, level: int) -> dict[str, Any]:
    size, windows, values = _POOL_RANGES[level]
    window, stride = rng.choice(windows)
    return {"input": _grid(rng, size, size, *values), "kind": rng.choice(("max", "avg")), "size": window,
            "stride": stride}


def _pool_solve(params: dict[str, Any]) -> np.ndarray:
    return ops.pool2d(np.array(params["input"], dtype=np.float64), params["kind"], params["size"], params["stride"])


def _first_wrong(typed: tuple, solution: np.ndarray) -> list[tuple[int, int]]:
    return [(r, c) for r in range(solution.shape[0]) for c in range(solution.shape[1])
            if _off(typed[r][c], float(solution[r, c]))]


def window_of(params: dict[str, Any], typed: tuple, solution: np.ndarray) -> tuple[tuple[int, ...], ...] | None:
    """The input (rows, cols) of the first wrong cell of a pooling grid; None when the grid's shape is wrong."""
    if (len(typed), len(typed[0])) != solution.shape:
        return None
    axis = Axis(len(params["input"]), params["size"], params["stride"])
    r, c = _first_wrong(typed, solution)[0]
    return tuple(_taps(axis, r)), tuple(_taps(axis, c))


def _pool_hint(params: dict[str, Any], typed: tuple, solution: np.ndarray, attempt: int) -> Join:
    axis = Axis(len(params["input"]), params["size"], params["stride"])
    shape = (len(typed), len(typed[0]))
    if shape != solution.shape:
        # The shape is not the answer: saying how many windows fit is the first step of the working.
        return Join([Text("ex.hint.pool_shape", rows=shape[0], cols=shape[1], formula=axis.text)])
    wrong = _first_wrong(typed, solution)
    r, c = wrong[0]
    row_taps, col_taps = _taps(axis, r), _taps(axis, c)
    parts = [Text("ex.hint.pool_cells", count=len(wrong)),
             Text(f"ex.hint.pool_window_{params['kind']}", row=r, col=c, rows=", ".join(map(str, row_taps)),
                  cols=", ".join(map(str, col_taps)))]
    if attempt > 1:
        if params["kind"] == "max":
            expression = f"max({', '.join(show(params['input'][i][j]) for i in row_taps for j in col_taps)})"
        else:
            terms = " + ".join(signed(params["input"][i][j]) for i in row_taps for j in col_taps)
            expression = f"({terms}) / {len(row_taps) * len(col_taps)}"
        parts.append(Text("ex.hint.pool_values", expression=_ending(expression, Fraction(float(solution[r, c])),
                                                                    attempt >= REVEAL_AT)))
    return Join(parts)


POOL = Kind("pool", _pool_params, _pool_solve, read_grid, _grid_same, _pool_hint)


# -- receptive field of a stack ---------------------------------------------------------------------------------------

# (layers, kernels, strides, dilations, pool share) per level
_RF_RANGES = {1: (2, (2, 3), (1, 2), (1,), 0.3),
              2: (3, (1, 2, 3, 5), (1, 2), (1,), 0.3),
              3: (4, (1, 3, 5, 7), (1, 2, 3), (1, 2, 4), 0.25)}


def _rf_params(rng: random.Random, level: int) -> dict[str, Any]:
    count, kernels, strides, dilations, pool_share = _RF_RANGES[level]
    count += rng.randint(0, 1)
    layers = []
    for _ in range(count):
        if rng.random() < pool_share:
            window = rng.choice((2, 3))
            layers.append({"kind": "max", "kernel": window, "stride": rng.choice((window - 1, window)),
                           "dilation": 1})
        else:
            layers.append({"kind": "conv", "kernel": rng.choice(kernels), "stride": rng.choice(strides),
                           "dilation": rng.choice(dilations)})
    return {"layers": layers}


def _rf_solve(params: dict[str, Any]) -> tuple[int, int]:
    last = receptive_field.analyze(params["layers"])[-1]
    return last.size[0], last.jump[0]


def _rf_same(typed: tuple, solution: tuple[int, int], params: dict[str, Any]) -> bool:
    return tuple(typed) == solution


def _rf_hint(params: dict[str, Any], typed: tuple, solution: tuple[int, int], attempt: int) -> Join:
    parts = [Text("ex.hint.rf_rule")]
    if typed[0] == solution[0]:
        parts.append(Text("ex.hint.rf_size_right"))
    elif typed[1] == solution[1]:
        parts.append(Text("ex.hint.rf_jump_right"))
    size, jump = 1, 1
    layers = params["layers"]
    shown = 1 if attempt == 1 else len(layers)  # the first step, then every step
    for number, layer in enumerate(layers[:shown], start=1):
        span = layer["dilation"] * (layer["kernel"] - 1) + 1
        new_size = receptive_field.next_size(size, span, jump)
        new_jump = receptive_field.next_jump(jump, layer["stride"])
        # Earlier layers' values are steps of the working; the last layer's are the answer. The first try fills in
        # only layer 1's numbers, to show how a step goes.
        reveal = (number < len(layers) and attempt > 1) or attempt >= REVEAL_AT
        parts.append(Text("ex.hint.rf_step", number=number,
                          size=_ending(f"{size} + ({span} − 1)·{jump}", new_size, reveal),
                          jump=_ending(f"{jump}·{layer['stride']}", new_jump, reveal)))
        size, jump = new_size, new_jump
    return Join(parts)


RECEPTIVE_FIELD = Kind("receptive_field", _rf_params, _rf_solve, lambda typed: read_numbers(typed, 2), _rf_same,
                       _rf_hint)


# -- parameters of a conv layer ---------------------------------------------------------------------------------------

# (C_in choices, C_out choices, kernels, bias share) per level; never one filter, whose count the second hint's
# per-filter step would already state
_PARAM_RANGES = {1: ((1, 2, 3), (2, 4, 6, 8), (1, 3), 0.7),
                 2: ((1, 3, 8, 16), (4, 8, 16, 32), (1, 3, 5), 0.5),
                 3: ((3, 32, 64, 128, 256), (16, 64, 128, 256, 512), (1, 3, 5, 7), 0.5)}


def _param_params(rng: random.Random, level: int) -> dict[str, Any]:
    c_in, c_out, kernels, bias_share = _PARAM_RANGES[level]
    return {"c_in": rng.choice(c_in), "c_out": rng.choice(c_out), "kernel": rng.choice(kernels),
            "bias": rng.random() < bias_share}


def _param_solve(params: dict[str, Any]) -> int:
    kernel_hw = (params["kernel"], params["kernel"])
    if params["bias"]:
        return formulas.conv_layer_params(params["c_in"], params["c_out"], kernel_hw)
    return params["c_out"] * formulas.conv_filter_weights(params["c_in"], kernel_hw)


def _param_hint(params: dict[str, Any], typed: Any, solution: int, attempt: int) -> Text:
    c_in, c_out, k = params["c_in"], params["c_out"], params["kernel"]
    weights = formulas.conv_filter_weights(c_in, (k, k))
    per_filter = weights + int(params["bias"])
    bias = "bias" if params["bias"] else "no_bias"
    if attempt == 1:
        return Text(f"ex.hint.params_{bias}", c_in=c_in, c_out=c_out, kernel=k, weights="?", per_filter="?",
                    total="?")
    return Text(f"ex.hint.params_{bias}", c_in=c_in, c_out=c_out, kernel=k, weights=weights, per_filter=per_filter,
                total=show(solution) if attempt >= REVEAL_AT else "?")


PARAM_COUNT = Kind("param_count", _param_params, _param_solve, read_number, _int_answer, _param_hint)


# -- parameters of a depthwise-separable pair -------------------------------------------------------------------------

# (C_in choices, C_out choices, kernels, bias share) per level: k ≥ 3, where the pair saves something
_SEPARABLE_RANGES = {1: ((1, 2, 3), (4, 8, 16), (3,), 0.5),
                     2: ((3, 8, 16, 32), (16, 32, 64), (3, 5), 0.5),
                     3: ((32, 64, 128, 256), (64, 128, 256, 512), (3, 5, 7), 0.5)}


def _separable_params(rng: random.Random, level: int) -> dict[str, Any]:
    c_in, c_out, kernels, bias_share = _SEPARABLE_RANGES[level]
    return {"c_in": rng.choice(c_in), "c_out": rng.choice(c_out), "kernel": rng.choice(kernels),
            "bias": rng.random() < bias_share}


def _separable_costs(params: dict[str, Any]) -> formulas.SeparableCosts:
    return formulas.separable_costs(params["c_in"], params["c_out"], (params["kernel"], params["kernel"]),
                                    bias=params["bias"])


def _separable_hint(params: dict[str, Any], typed: Any, solution: int, attempt: int) -> Text:
    costs = _separable_costs(params)
    shown = attempt > 1
    bias = "bias" if params["bias"] else "no_bias"
    return Text(f"ex.hint.separable_{bias}", c_in=params["c_in"], c_out=params["c_out"], kernel=params["kernel"],
                depthwise=costs.depthwise.params if shown else "?", pointwise=costs.pointwise.params if shown else "?",
                total=show(solution) if attempt >= REVEAL_AT else "?")


SEPARABLE_COUNT = Kind("separable_count", _separable_params, lambda p: _separable_costs(p).separable.params,
                       read_number, _int_answer, _separable_hint)


# -- which kernel made this feature map ------------------------------------------------------------------------------

# Per level: (samples, choices shown, presets drawn from). Level 3 mixes close relatives (Sobel and Prewitt).
_KERNEL_RANGES = {1: (("shapes", "checkerboard"), 3, ("sobel_x", "sobel_y", "gaussian5", "sharpen", "laplacian8")),
                  2: (("shapes", "camera", "coffee"), 4, ("sobel_x", "sobel_y", "box5", "sharpen", "laplacian8",
                                                          "emboss", "outline", "motion_blur")),
                  3: (("camera", "astronaut", "chelsea"), 5, ("sobel_x", "sobel_y", "prewitt_x", "prewitt_y",
                                                              "box3", "gaussian", "laplacian4", "laplacian8",
                                                              "sharpen", "unsharp", "emboss", "roberts_a"))}
KERNEL_MAP_SIZE = 96  # the sample's longer side: details a kernel brings out stay visible, the check stays fast
MAP_TOLERANCE = 1e-6  # two choices whose maps agree this closely are the same answer (float32 pixels)


def _kernel_params(rng: random.Random, level: int) -> dict[str, Any]:
    samples, count, presets = _KERNEL_RANGES[level]
    options = rng.sample(presets, count)
    # "target" is the preset whose map the page shows; a page draws the map, never the name
    return {"sample": rng.choice(samples), "options": options, "target": rng.randrange(count)}


@functools.lru_cache(maxsize=8)  # one per sample a level draws from: decoding a photo costs more than the check
def gray_sample(sample: str) -> np.ndarray:
    """A which-kernel problem's image: the sample at KERNEL_MAP_SIZE in gray, read-only (it is shared)."""
    image = load_sample(sample, size=KERNEL_MAP_SIZE)
    if image.ndim == 3:
        image = image @ np.array(grayscale_weights(), dtype=np.float32)  # (H, W)
    image.setflags(write=False)
    return image


def kernel_map(params: dict[str, Any], preset: str) -> np.ndarray:
    """The map ``preset`` makes of the problem's sample in gray, as the Kernel Lab computes it (``ops.conv2d``, zero
    padding that keeps the size)."""
    return ops.conv2d(gray_sample(params["sample"]), make_kernel(preset), padding="same")


def _kernel_solve(params: dict[str, Any]) -> np.ndarray:
    return kernel_map(params, params["options"][params["target"]])


def _read_choice(answer: Any) -> int:
    """A choice by its number (from 1), kept as the number; the page checks the range against its options."""
    value = read_number(answer)
    if value.denominator != 1:
        raise UserError("error.exercises.choice", answer=answer)
    return int(value)


def _kernel_same(choice: int, solution: np.ndarray, params: dict[str, Any]) -> bool:
    """Right when the chosen preset's map is the shown one: two presets that make the same map are both right."""
    return float(np.max(np.abs(kernel_map(params, params["options"][choice - 1]) - solution))) <= MAP_TOLERANCE


def _kernel_hint(params: dict[str, Any], typed: int, solution: np.ndarray, attempt: int) -> Join:
    options = params["options"]
    chosen = options[typed - 1]
    difference = float(np.max(np.abs(kernel_map(params, chosen) - solution)))
    parts = [Text("ex.hint.kernel_differs", choice=typed, name=Text(f"kernels.{chosen}.name"),
                  difference=f"{difference:.2f}")]
    if attempt > 1:
        target = make_kernel(options[params["target"]])
        parts.append(Text("ex.hint.kernel_sum", total=show(Fraction(float(target.sum())).limit_denominator(100)),
                          chosen_sum=show(Fraction(float(make_kernel(chosen).sum())).limit_denominator(100))))
    if attempt >= REVEAL_AT:
        parts.append(Text("ex.hint.kernel_is", choice=params["target"] + 1,
                          name=Text(f"kernels.{options[params['target']]}.name")))
    return Join(parts)


WHICH_KERNEL = Kind("which_kernel", _kernel_params, _kernel_solve, _read_choice, _kernel_same, _kernel_hint)


KIND_TABLE = {kind.name: kind for kind in (OUTPUT_SIZE, CONV_CELL, POOL, RECEPTIVE_FIELD, PARAM_COUNT,
                                            TRANSPOSED_SIZE, SEPARABLE_COUNT, WHICH_KERNEL)}


def check_kind_and_level(kind: Any, level: Any) -> None:
    """Raise ValueError naming ``kind`` or ``level`` when it is not one of the generators or levels."""
    if not isinstance(kind, str) or kind not in KIND_TABLE:
        raise UserError("error.exercises.kind", kind=kind, options=", ".join(KIND_TABLE))
    if not is_int(level) or level not in LEVELS:
        raise UserError("error.exercises.level", level=level, options=", ".join(map(str, LEVELS)))

