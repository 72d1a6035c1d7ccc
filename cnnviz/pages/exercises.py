"""The Exercises page's state (kind, level, set, problem, show-me) and its computation: the problem, and the page
that "show me" opens set up for it.

A set is ten problems drawn from the set's seed (``cnnviz.exercises.problem_set``), so a link carries the whole
set; the score is the session's, not the link's.

    >>> view = compute(ExercisesState(kind="conv_cell", seed=2, index=4))
    >>> view.problem.seed, view.number, type(view.show_me).__name__
    (24, 5, 'StepState')
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnnviz.analysis import receptive_field
from cnnviz.conv.geometry import Layer, same_padding
from cnnviz.exercises import KINDS, LEVELS, MAX_SEED, SET_SIZE, Problem, Verdict, problem_set
from cnnviz.pages import signals, step
from cnnviz.exercises.kinds import gray_sample
from cnnviz.figures import maps
from cnnviz.pages.kernel_lab import KernelLabState
from cnnviz.pages.lessons import LESSON_KEYS, PAGES, LessonsState
from cnnviz.pages.receptive_field import ReceptiveFieldState
from cnnviz.urlstate import BoolCodec, Choice, Field, IntCodec, PageState, as_matrix

MAX_SET = MAX_SEED // SET_SIZE  # the highest set number a link may carry
SHARING_LESSON = LESSON_KEYS.index("sharing") + 1  # the lesson that counts a conv layer's parameters, 1-based
SEPARABLE_LESSON = LESSON_KEYS.index("separable") + 1  # the lesson that counts a depthwise-separable pair's

# Problems at the end of a lesson: (lesson key, kind, level, set). A fixed set, so a class sees the same three.
LESSON_EXERCISES: dict[str, tuple[tuple[str, int, int], ...]] = {
    "stride": (("output_size", 1, 7),),
    "sharing": (("param_count", 1, 7), ("param_count", 2, 7)),
    "pooling": (("pool", 1, 7),),
    "receptive": (("receptive_field", 1, 7), ("receptive_field", 2, 7)),
    "upsampling": (("transposed_size", 1, 7),),
    "separable": (("separable_count", 1, 7), ("separable_count", 2, 7)),
}


@dataclass(frozen=True)
class ExercisesState(PageState):
    """Which problem the Exercises page shows."""

    kind: str = "output_size"  # one of cnnviz.exercises.KINDS
    level: int = 1  # 1 to 3: the numbers grow
    seed: int = 1  # the set: ten problems drawn from it
    index: int = 0  # which problem of the set, from 0
    show: bool = False  # "show me": the worked answer and the link to the page set up for it

    FIELDS = (
        Field("kind", "kind", Choice(KINDS)),
        Field("level", "level", IntCodec(min(LEVELS), max(LEVELS))),
        Field("seed", "set", IntCodec(0, MAX_SET)),
        Field("index", "q", IntCodec(0, SET_SIZE - 1)),
        Field("show", "show", BoolCodec()),
    )


@dataclass(frozen=True)
class ExerciseView:
    problem: Problem
    number: int  # 1-based, as the page numbers the problems
    show_me: Any  # the state of the page that shows this problem worked, or None when its numbers exceed that page
    pictures: tuple[np.ndarray, np.ndarray] | None = None  # which_kernel: (the gray image, its map in colours), uint8


def kernel_pictures(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """The image a which-kernel problem shows and the map to recognise, as uint8 pixels: the map scaled by its own
    peak, red above 0 and blue below (the Kernel Lab's colours)."""
    params = problem.params
    image = gray_sample(params["sample"])
    values = problem.solution()
    peak = maps.display_peak(values) or 1.0
    return maps.colourise(image, signed=False), maps.colourise(values / peak, signed=True)


@dataclass(frozen=True)
class Attempts:
    """One student's tries at one problem, kept for the session (never in a link)."""

    wrong: int = 0  # wrong answers so far; the next wrong one gets hint number wrong + 1
    ok: bool = False  # answered right
    shown: bool = False  # "show me" was opened before the right answer: it no longer scores
    last: str = ""  # the last answer typed, checked again on each run so its verdict follows the language

    def after(self, verdict: Verdict, typed: str) -> Attempts:
        """These tries after one more answer; an unreadable answer is no try."""
        if self.ok or not verdict.read:
            return replace(self, last=typed) if not self.ok else self
        return replace(self, ok=verdict.ok, wrong=self.wrong + (not verdict.ok), last=typed)

    @property
    def scores(self) -> bool:
        return self.ok and not self.shown

    def verdict(self, problem: Problem, lang: str) -> Verdict | None:
        """The verdict on the last answer, with the hint it got when it was given; None before any answer."""
        if not self.last:
            return None
        return problem.check(self.last, max(1, self.wrong), lang)


def score(attempts: list[Attempts]) -> tuple[int, int]:
    """(right, right at the first try) over a set's problems; a problem whose answer was shown first scores 0."""
    right = [a for a in attempts if a.scores]
    return len(right), sum(1 for a in right if a.wrong == 0)


def attempts_key(problem: Problem) -> str:
    """Where a problem's tries live in the session."""
    return f"ex_{problem.kind}_{problem.level}_{problem.seed}"


def _floats(rows: list[list[int]]) -> Any:
    return as_matrix(np.array(rows, dtype=np.float64))


def _signal_state(params: dict[str, Any]) -> signals.SignalsState | None:
    """A 1-D output-size problem on the 1-D signals page: a ramp of n values and a moving average of k taps."""
    padding = params["padding"]
    if padding == "same":
        before, after = same_padding(params["n"], params["kernel"], params["stride"], params["dilation"])
        if before != after:
            return None  # an odd total: the page pads both sides alike
        padding = before
    if (params["n"] > signals.MAX_SIGNAL or params["kernel"] > signals.MAX_KERNEL or padding > signals.MAX_PAD
            or params["dilation"] > signals.MAX_DILATION or params["stride"] > signals.MAX_STRIDE):
        return None
    return signals.SignalsState(source="typed", typed=tuple(float(v) for v in range(1, params["n"] + 1)),
                                kernel="average", size=params["kernel"], stride=params["stride"],
                                dilation=params["dilation"], padding=padding)


def _transposed_state(params: dict[str, Any]) -> step.StepState:
    """A 1-D transposed problem on Step by step: one row of n ones, a kernel row of k ones."""
    return step.StepState(input=_floats([[1] * params["n"]]), kernel=_floats([[1] * params["kernel"]]),
                          op="transposed", padding="custom", pad=(0, params["padding"]), stride=(1, params["stride"]),
                          dilation=(1, params["dilation"]), output_padding=(0, params["output_padding"]))


def _conv_cell_state(params: dict[str, Any]) -> step.StepState:
    size = len(params["input"])
    kernel = len(params["kernel"])
    out_cols = Layer(kernel, params["stride"], params["padding"], params["dilation"]).out_hw((size, size))[1]
    return step.StepState(input=_floats(params["input"]), kernel=_floats(params["kernel"]), op="conv",
                          padding="custom", pad=(params["padding"],) * 2, stride=(params["stride"],) * 2,
                          dilation=(params["dilation"],) * 2, position=params["row"] * out_cols + params["col"])


def _pool_state(params: dict[str, Any]) -> step.StepState:
    return step.StepState(input=_floats(params["input"]), op=params["kind"], pool_size=(params["size"],) * 2,
                          pool_stride=(params["stride"],) * 2)


def _rf_state(params: dict[str, Any]) -> ReceptiveFieldState:
    layers = tuple(Layer(layer["kernel"], layer["stride"], 0, layer["dilation"], kind=layer["kind"])
                   for layer in params["layers"])
    last = receptive_field.analyze(list(layers))[-1]
    # An input the whole field fits in, with room for a few units: the page's default where that is enough.
    working_size = min(4096, max(ReceptiveFieldState().working_size, last.size[0] + 4 * last.jump[0]))
    return ReceptiveFieldState(layers=layers, layer=len(layers) - 1, working_size=working_size)


def show_me(problem: Problem) -> Any:
    """The state of the page that works ``problem`` through, or None when its numbers exceed what that page takes."""
    params = problem.params
    if problem.kind == "output_size":
        target = _signal_state(params)
    elif problem.kind == "transposed_size":
        target = _transposed_state(params)
    elif problem.kind == "conv_cell":
        target = _conv_cell_state(params)
    elif problem.kind == "pool":
        target = _pool_state(params)
    elif problem.kind == "receptive_field":
        target = _rf_state(params)
    elif problem.kind == "which_kernel":
        target = KernelLabState(sample=params["sample"], preset=params["options"][params["target"]])
    elif problem.kind == "separable_count":
        target = LessonsState(lesson=SEPARABLE_LESSON)
    else:
        target = LessonsState(lesson=SHARING_LESSON)
    if target is None:
        return None
    _, ignored = type(target).from_query(target.to_query())
    if ignored:
        return None  # a setting the page's link cannot carry: no half-right page
    if isinstance(target, step.StepState):
        try:
            step.compute(target)  # small grids: the page's own limits (a transposed output of at most 24) decide
        except ValueError:
            return None
    return target


def page_of(state: Any) -> tuple[str, str]:
    """(url_path, script) of the page that shows ``state``."""
    if isinstance(state, LessonsState):
        return "lessons", "cnnviz/ui/lessons.py"
    return PAGES[type(state)]


def compute(state: ExercisesState) -> ExerciseView:
    problem = problem_set(state.kind, state.seed, state.level)[state.index]
    pictures = kernel_pictures(problem) if problem.kind == "which_kernel" else None
    return ExerciseView(problem, state.index + 1, show_me(problem), pictures)
