"""Guided lessons: the classic CNN tutorial path, each step a link into a page set up for it.

Every lesson carries the tutorial's own number and computes the app's with cnnviz's code, so the page can show
both side by side, and the tests can check that they agree.

    >>> LESSONS[0].app(), LESSONS[0].tutorial
    (15, 15)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from cnnviz.analysis import formulas, receptive_field
from cnnviz.conv import ops
from cnnviz.conv.geometry import Layer, TransposedAxis
from cnnviz.conv.kernels import make_kernel
from cnnviz.model import TUTORIAL_PRESETS, ModelConfig
from cnnviz.conv.samples import load_sample
from cnnviz.pages import backward, kernel_lab, separable, step
from cnnviz.pages.inspector import InspectorState
from cnnviz.pages.kernel_lab import KernelLabState
from cnnviz.pages.receptive_field import ReceptiveFieldState
from cnnviz.pages.signals import STACK_DILATIONS, STACK_KERNEL, SignalsState, wavenet_stack
from cnnviz.pages.train import TrainPageState
from cnnviz.training.config import TrainConfig
from cnnviz.urlstate import Field, IntCodec, PageState

FIVE = np.array(step.FIVE, dtype=np.float64)
EDGE = make_kernel("laplacian8")


def _grid(values: np.ndarray) -> list[list[float]]:
    """A result as plain nested numbers, as a tutorial prints it ([[6, 8, 3], ...])."""
    return [[int(v) if float(v).is_integer() else float(v) for v in row] for row in np.asarray(values)]


def _conv_output(size: int, kernel: int, filters: int) -> str:
    """The output shape of a conv layer: each filter spans every input channel, so the depth is the filter count."""
    rows, cols = Layer(kernel).out_hw((size, size))
    return f"{rows}×{cols}×{filters}"


PAGES: dict[type, tuple[str, str]] = {
    # A page state's page: its url_path, and its script as app.py registers it.
    step.StepState: ("step-by-step", "cnnviz/ui/step_by_step.py"),
    KernelLabState: ("kernel-lab", "cnnviz/ui/kernel_lab.py"),
    ReceptiveFieldState: ("receptive-field", "cnnviz/ui/receptive_field.py"),
    TrainPageState: ("train", "cnnviz/ui/train.py"),
    InspectorState: ("inspector", "cnnviz/ui/inspector.py"),
    SignalsState: ("signals", "cnnviz/ui/signals.py"),
    backward.BackwardState: ("backward", "cnnviz/ui/backward.py"),
}


def _finished(state: step.StepState) -> step.StepState:
    """A Step-by-step example at its last position, so the whole output it fills in is on the page."""
    return replace(state, position=step.compute(state).count - 1)


@dataclass(frozen=True)
class Lesson:
    """One step of the tutorial path."""

    key: str  # stable id: catalog keys lessons.<key>.title / .text, and the lesson's place in links
    state: Any  # the page state the lesson opens with; its type names the page (PAGES)
    tutorial: Any  # the tutorial's own number
    app: Callable[[], Any] | None  # cnnviz's number, computed with the app's own code; None: shown after training
    also: tuple[tuple[str, Any], ...] = ()  # more views: (catalog key of the link's label, a page state)

    @property
    def path(self) -> str:
        """url_path of the page the lesson opens."""
        return page_of(self.state)[0]

    @property
    def page_file(self) -> str:
        return page_of(self.state)[1]


def page_of(state: Any) -> tuple[str, str]:
    """(url_path, script) of the page that shows ``state``."""
    return PAGES[type(state)]


# Lesson 5's RGB image, 32×32 like the tutorial's, and six 5×5 kernels: a conv layer with 6 filters of 5×5×3.
RGB_LAYER = KernelLabState(sample="astronaut", working_size=32, colour="rgb", preset="box5", padding="valid",
                           bank=("box5", "gaussian5", "unsharp", "outline", "sobel5_x", "sobel5_y"), bank_open=True)

# The last lesson's view: Sobel x on black and white squares, whose edges are exact 0 -> 255 steps at this size.
EDGE_HOVER = KernelLabState(sample="checkerboard", working_size=256, preset="sobel_x", padding="valid")


# The 1-D lesson's view: the step through the causal derivative, at the output where the step is.
CAUSAL_STEP = SignalsState(source="step", kernel="derivative", causal=True, index=16)
# The backward-pass lesson: gradient 1 on output unit (1, 1) of the 5×5 input with the kernel 1…9 at stride 2, opened
# at that unit's stamp (the stamps before it carry gradient 0).
ONE_HOT_BACK = backward.BackwardState(stride=(2, 2), gradient="onehot", unit=(1, 1), stamp=3)


def _edge_sums(state: KernelLabState) -> list[int]:
    """The largest and the smallest Sobel x sum on the lesson's image: dark to light, then light to dark."""
    conv = kernel_lab.compute(state, load_sample(state.sample, size=state.working_size), "lesson:edge_hover").stages.conv
    return [int(round(float(conv.max()))), int(round(float(conv.min())))]


# The upsampling lesson's view: the stage on, kernel 3 and learned-looking weights, on a photo with a flat sky; at
# 256 px the stage upsamples the working image itself.
UPSAMPLING = KernelLabState(working_size=256, upsample=True, up_kernel=3, up_weights="learned")

# The separable lesson's view: an RGB photo, a 3×3 kernel, a 1×1 step with a second output (red − green), and the
# counts of MobileNet's first kind of layer, 3 -> 64 channels.
SEPARABLE = KernelLabState(sample="astronaut", working_size=256, colour="rgb", preset="laplacian8",
                           pointwise=separable.SUM + separable.MORE_ROWS[:1], separable_width=64)


def _separable_weights(state: KernelLabState) -> list[int]:
    """The standard layer's and the depthwise-separable pair's weights for the lesson's kernel and width."""
    costs = formulas.separable_costs(separable.CHANNELS, state.separable_width, state.kernel_array().shape[-2:])
    return [costs.standard.params, costs.separable.params]


LESSONS: tuple[Lesson, ...] = (
    Lesson("conv", step.EXAMPLES["three"], 15, lambda: int(step.compute(step.EXAMPLES["three"]).walk.output[0, 0])),
    Lesson("padding", _finished(step.EXAMPLES["three_padded"]), [[6, 8, 3], [12, 15, 8], [7, 12, 14]],
           lambda: _grid(step.compute(step.EXAMPLES["three_padded"]).walk.output)),
    Lesson("stride", replace(step.EXAMPLES["five"], padding="valid", stride=(2, 2)), "2×2",
           lambda: "×".join(map(str, step.compute(replace(step.EXAMPLES["five"], padding="valid",
                                                           stride=(2, 2))).walk.output.shape))),
    Lesson("detectors", _finished(step.EXAMPLES["five"]),
           [[5, 9, 16, -10, 4], [-7, -4, 4, 14, 2], [20, -13, -5, 5, -7], [2, 5, 13, -12, 3], [-4, 0, 7, 18, -4]],
           lambda: _grid(ops.conv2d(FIVE, EDGE, padding=1)),
           also=(("lessons.detectors.open_photo",
                  KernelLabState(preset="laplacian8", bank=("sobel_x", "sobel_y", "gaussian", "sharpen"),
                                 bank_open=True)),)),
    Lesson("rgb", RGB_LAYER, "28×28×6", lambda: _conv_output(32, 5, 6)),
    Lesson("sharing", KernelLabState(colour="rgb", preset="box5", padding="valid"), 760,
           lambda: formulas.conv_layer_params(3, 10, (5, 5))),
    Lesson("pooling", _finished(step.EXAMPLES["pool_max"]),
           {"max": [[6, 8], [14, 16]], "avg": [[3.5, 5.5], [11.5, 13.5]]},
           lambda: {kind: _grid(step.compute(step.EXAMPLES[f"pool_{kind}"]).walk.output) for kind in ("max", "avg")},
           also=(("lessons.pooling.open_avg", _finished(step.EXAMPLES["pool_avg"])),)),
    Lesson("receptive", ReceptiveFieldState().with_preset("three_3x3"), "7×7",
           lambda: "×".join(map(str, receptive_field.analyze([{"kernel": 3}] * 3)[-1].size))),
    Lesson("train", TrainPageState().with_recipe("classic"), "98.08%", None,
           also=tuple((f"lessons.train.open_{name}", TrainPageState().with_recipe(name))
                      for name in TUTORIAL_PRESETS if name != "classic")),
    Lesson("inspect", InspectorState(), None, None),
    Lesson("edge_hover", EDGE_HOVER, [1020, -1020], lambda: _edge_sums(EDGE_HOVER)),
    # WaveNet's stack sees 1 + (k − 1)·(1 + 2 + 4 + 8) = 16 inputs; the page opens on a step through a causal
    # derivative, whose one spike sits where the step is, never before it.
    Lesson("causal", CAUSAL_STEP, 1 + (STACK_KERNEL - 1) * sum(STACK_DILATIONS),
           lambda: wavenet_stack(CAUSAL_STEP.stack_output).field),
    # Taps landing on each output of kernel 3, stride 2, on 3 input cells: Distill's "uneven overlap".
    Lesson("upsampling", UPSAMPLING, [1, 1, 2, 1, 2, 1, 1],
           lambda: TransposedAxis(size=3, kernel=3, stride=2).overlaps(),
           also=(("lessons.upsampling.open_even", replace(UPSAMPLING, up_kernel=4, up_weights="bilinear")),)),
    # The kernel itself, stamped on the window unit (1, 1) read: rows and cols 2 to 4.
    Lesson("backward", ONE_HOT_BACK, [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 2, 3], [0, 0, 4, 5, 6], [0, 0, 7, 8, 9]],
           lambda: _grid(backward.compute(ONE_HOT_BACK).grads.input),
           also=(("lessons.backward.open_ones", replace(ONE_HOT_BACK, gradient="ones", stamp=0)),)),
    # MobileNet (Howard et al. 2017): D_K·D_K·M·N weights against D_K·D_K·M + M·N, at D_K = 3, M = 3, N = 64.
    Lesson("separable", SEPARABLE, [3 * 3 * 3 * 64, 3 * 3 * 3 + 3 * 64], lambda: _separable_weights(SEPARABLE)),
)
LESSON_KEYS = tuple(lesson.key for lesson in LESSONS)


@dataclass(frozen=True)
class LessonsState(PageState):
    """Which lesson the page shows."""

    lesson: int = 1  # 1-based, as the lessons are numbered on the page

    FIELDS = (Field("lesson", "l", IntCodec(1, len(LESSONS))),)



@dataclass(frozen=True)
class LessonView:
    lesson: Lesson
    number: int  # 1-based
    app_value: Any  # cnnviz's number, or None when it comes from a run
    agrees: bool | None  # whether it equals the tutorial's; None when there is nothing to compare yet


def compute(state: LessonsState) -> LessonView:
    lesson = LESSONS[state.lesson - 1]
    value = lesson.app() if lesson.app is not None else None
    return LessonView(lesson, state.lesson, value, None if value is None else value == lesson.tutorial)


def is_lesson_run(lesson: Lesson, model_cfg: ModelConfig, train_cfg: TrainConfig) -> bool:
    """Whether a run trained the lesson's own network with its tutorial's recipe on every training image: the only
    runs whose accuracy can stand beside the tutorial's (the seed and the device may differ)."""
    wanted = lesson.state.train_config
    recipe = ("optimizer", "lr", "schedule", "batch_size", "epochs", "subset")
    return model_cfg == lesson.state.model_config and all(getattr(train_cfg, name) == getattr(wanted, name)
                                                          for name in recipe)


def training_agreement(test_accuracy: float | None) -> str:
    """The classic net's result beside the tutorial's 98.08%, as a percentage with two decimals."""
    return "–" if test_accuracy is None else f"{100 * test_accuracy:.2f}%"

