"""Exercises with numbers of their own, checked by cnnviz's own computation.

``make(kind, seed, level)`` draws a problem from a seed, so a link that carries (kind, seed, level) gives everyone
the same one. ``Problem.check(answer, attempt)`` reads the typed answer leniently and compares it with what cnnviz
computes now (never a stored answer). A wrong answer gets the working, one step further on each try: the first
wrong try names the formula or the window with the student's numbers and ends in "?", the second fills in one more
step and still ends in "?", and only the third (``REVEAL_AT``) finishes the calculation with the result.

    >>> problem = make("param_count", seed=3)
    >>> problem.params
    {'c_in': 3, 'c_out': 2, 'kernel': 1, 'bias': True}
    >>> problem.check("8").ok, problem.check("9").ok
    (True, False)
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from cnnviz.conv.geometry import is_int
from cnnviz.errors import Join, Text, UserError
from cnnviz.exercises.kinds import (KIND_TABLE, LEVELS, REVEAL_AT, cell_window, check_kind_and_level, show,
                                    window_of)
from cnnviz.i18n import DEFAULT_LANGUAGE, t

KINDS: tuple[str, ...] = tuple(KIND_TABLE)  # the generators, in the order a page lists them
SET_SIZE = 10  # problems in a set
MAX_SEED = 10**6  # seeds a link may carry

__all__ = ["KINDS", "LEVELS", "MAX_SEED", "REVEAL_AT", "SET_SIZE", "Problem", "Verdict", "make", "problem_set"]


@dataclass(frozen=True)
class Verdict:
    """What the checker says about one answer."""

    ok: bool  # the answer is right
    hint: str = ""  # the working for a wrong answer, or what to type for an unreadable one; "" when right
    read: bool = True  # False: the answer could not be read, and a page should not count it as a try
    reveals: bool = False  # the hint finishes the calculation, the result included


@dataclass(frozen=True)
class Problem:
    """One seeded exercise."""

    kind: str  # one of KINDS
    seed: int  # the seed it was drawn from
    level: int  # 1 to 3
    params_json: str  # the numbers as JSON, so the problem stays frozen and ``params`` hands out a fresh dict

    @property
    def params(self) -> dict[str, Any]:
        """The numbers the student is given, a plain dict (a new one on every call)."""
        return json.loads(self.params_json)

    def solution(self) -> Any:
        """The answer, computed now by cnnviz's own code (an int, a (size, jump) pair, or a grid array)."""
        return KIND_TABLE[self.kind].solve(self.params)

    def prompt(self, lang: str = DEFAULT_LANGUAGE) -> str:
        """The question in ``lang``."""
        params = self.params
        if self.kind == "receptive_field":
            stack = Join(_layer_text(layer) for layer in params["layers"]).render(lang)
            return t("ex.receptive_field.prompt", lang, stack=stack.replace("; ", " → ").replace("；", " → "))
        if self.kind in ("param_count", "separable_count"):
            bias = t("ex.with_bias" if params["bias"] else "ex.without_bias", lang)
            return t(f"ex.{self.kind}.prompt", lang, c_in=params["c_in"], c_out=params["c_out"],
                     kernel=params["kernel"], bias=bias)
        if self.kind == "pool":
            return t(f"ex.pool.prompt_{params['kind']}", lang, size=params["size"], stride=params["stride"])
        if self.kind == "which_kernel":
            return t("ex.which_kernel.prompt", lang, count=len(params["options"]))
        if self.kind == "output_size" and params["padding"] == "same":
            return t("ex.output_size.prompt_same", lang, **params)
        return t(f"ex.{self.kind}.prompt", lang, **{k: v for k, v in params.items() if not isinstance(v, list)})

    def check(self, answer: Any, attempt: int = 1, lang: str = DEFAULT_LANGUAGE) -> Verdict:
        """Check ``answer`` (typed text, or a number, pair or grid) against cnnviz's computation.

        Args:
            answer: what the student typed.
            attempt: which wrong try this would be, from 1: the hint's working goes one step further each time
                and ends with the result only from ``REVEAL_AT`` on.
            lang: the hint's language.

        Raises:
            ValueError: ``attempt`` is not a positive int.
        """
        if not is_int(attempt) or attempt < 1:
            raise UserError("error.int_at_least", name="attempt", minimum=1, value=attempt)
        kind = KIND_TABLE[self.kind]
        try:
            typed = kind.read(answer)
        except UserError as error:
            return Verdict(False, error.message(lang), read=False)
        params = self.params
        if self.kind == "which_kernel" and not 1 <= typed <= len(params["options"]):
            return Verdict(False, t("error.exercises.choice_range", lang, answer=typed, count=len(params["options"])),
                           read=False)
        solution = kind.solve(params)
        if kind.same(typed, solution, params):
            return Verdict(True)
        return Verdict(False, kind.hint(self.params, typed, solution, attempt).render(lang),
                       reveals=attempt >= REVEAL_AT)

    def working(self, lang: str = DEFAULT_LANGUAGE) -> str:
        """The whole calculation with its result, for "show me": the last hint a wrong answer leads to (a pooling
        problem's, for its first cell)."""
        kind = KIND_TABLE[self.kind]
        solution = kind.solve(self.params)
        if self.kind == "pool":
            typed = tuple(tuple(value + 1 for value in row) for row in solution.tolist())  # every cell off
            return Join(kind.hint(self.params, typed, solution, REVEAL_AT).parts[1:]).render(lang)  # no "cells off"
        if self.kind == "which_kernel":
            return Text("ex.hint.kernel_is", choice=self.params["target"] + 1,
                        name=Text(f"kernels.{self.params['options'][self.params['target']]}.name")).render(lang)
        typed = (None, None) if self.kind == "receptive_field" else None  # neither half "is right"
        return kind.hint(self.params, typed, solution, REVEAL_AT).render(lang)

    def window(self, answer: Any) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """The (rows, cols) of the input window a wrong ``answer`` is about, for a page to highlight: the asked cell's
        window in a one-cell problem, the first wrong cell's in a pooling grid of the right shape (padding positions
        included, as negative or too-large indices). None for other kinds, and for right or unreadable answers."""
        if self.kind not in ("conv_cell", "pool"):
            return None
        kind = KIND_TABLE[self.kind]
        try:
            typed = kind.read(answer)
        except UserError:
            return None
        solution = kind.solve(self.params)
        if kind.same(typed, solution, self.params):
            return None
        return window_of(self.params, typed, solution) if self.kind == "pool" else cell_window(self.params)

    def answer_text(self) -> str:
        """The answer as a student would type it, for a lecturer's reveal and the page's "show the answer"."""
        solution = self.solution()
        if self.kind == "pool":
            return "[" + ", ".join("[" + ", ".join(show(v) for v in row) + "]" for row in solution.tolist()) + "]"
        if self.kind == "receptive_field":
            return f"{solution[0]}, {solution[1]}"
        if self.kind == "which_kernel":
            return str(self.params["target"] + 1)
        return show(solution)


def _layer_text(layer: dict[str, Any]) -> Text:
    key = "ex.rf.conv_dilated" if layer["dilation"] > 1 else f"ex.rf.{layer['kind']}"
    return Text(key, kernel=layer["kernel"], stride=layer["stride"], dilation=layer["dilation"])


def make(kind: str, seed: int, level: int = 1) -> Problem:
    """The problem of ``kind`` drawn from ``seed`` at ``level``: the same three always give the same problem.

    Raises:
        ValueError: an unknown kind, a level outside 1–3, or a seed that is not an int from 0 to ``MAX_SEED``.
    """
    check_kind_and_level(kind, level)
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise UserError("error.exercises.seed", seed=seed, most=MAX_SEED)
    rng = random.Random(f"{kind}/{level}/{seed}")  # a string seed hashes the same in every process
    params = KIND_TABLE[kind].generate(rng, level)
    return Problem(kind, int(seed), int(level), json.dumps(params))


def problem_set(kind: str, seed: int, level: int = 1) -> tuple[Problem, ...]:
    """The ``SET_SIZE`` problems of a set: set ``seed`` holds problems seed·SET_SIZE to seed·SET_SIZE + 9, so two
    sets never share a problem.

    Raises:
        ValueError: as ``make``, for a set seed above ``MAX_SEED // SET_SIZE``.
    """
    if not is_int(seed) or not 0 <= seed <= MAX_SEED // SET_SIZE:
        raise UserError("error.exercises.seed", seed=seed, most=MAX_SEED // SET_SIZE)
    return tuple(make(kind, seed * SET_SIZE + index, level) for index in range(SET_SIZE))
