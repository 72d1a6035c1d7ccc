"""The Class page's state (who this browser is in a class: its lecturer, or one of its students) and the plain
steps its views share: a pushed question's text, the question a lecturer's form makes, the join link, the bars.

The role comes from the URL: a lecturer's link carries the class's key (``?key=``), a student's the join code
(``?code=``) and, once joined, their seat's token (``?t=``). Both secrets stay in their owner's own address bar:
no share link on this page carries them. The projector's link carries only the class's read-only projector id
(``?view=``, ``cnnviz.classroom.projector_id``): the room, live, with no control and no names.

    >>> ClassState.from_query({"code": "acd efh"})[0].code
    'ACDEFH'
    >>> projector_link("http://hall:8501/class?key=SECRET", "Wall-id_1", "zh")
    'http://hall:8501/class?view=Wall-id_1&present=1&lang=zh'
    >>> predict_question("  Output size of 5x5, k=3, s=2?  ", "1\\n2\\n 3 \\n\\n", "/step-by-step?s=2")
    {'kind': 'predict', 'prompt': 'Output size of 5x5, k=3, s=2?', 'choices': ['1', '2', '3'], 'link': '/step-by-step?s=2'}
    >>> [(bar.answer, bar.count, bar.percent) for bar in answer_bars((("2", 2), ("3", 1)), 4)]
    [('2', 2, 50), ('3', 1, 25)]
    >>> class_answer(Question("q1", "pool", 1), "8 9; 6 9.0")
    '[[8, 9], [6, 9]]'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from cnnviz import exercises
from cnnviz.exercises.answers import read_grid, read_numbers
from cnnviz.exercises.kinds import show
from cnnviz.classroom import PREDICT, Question, normalize_code
from cnnviz.errors import UserError
from cnnviz.i18n import DEFAULT_LANGUAGE
from cnnviz.urlstate import BoolCodec, Codec, Field, PageState

PAGE_URL_PATH = "class"  # where the page lives: the join link and the QR code point here
PAGE_KEY = "class"  # the page's name in the session (cnnviz.ui.page.Page.key): its state is kept under it
# Every exercise a class can push: the ones asked in words, and those whose grids or pictures the banner, the
# lecturer's screen and the projector draw with the question (GRID_EXERCISES, PICTURE_EXERCISES).
CLASS_EXERCISES = exercises.KINDS
GRID_EXERCISES = ("conv_cell", "pool")  # the input (and kernel) grids are part of the question
PICTURE_EXERCISES = ("which_kernel",)  # the image, its feature map and the numbered kernels are the question


class SecretCodec(Codec):
    """A lecturer key or a student token: letters, digits, - and _, as ``secrets.token_urlsafe`` makes them."""

    def parse(self, text: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{0,64}", text):
            raise ValueError("not a class key or token")
        return text


class JoinCodeCodec(Codec):
    """A join code as a student may type it into a link ("acd-efh"): kept as the stores know it."""

    def parse(self, text: str) -> str:
        if not text:
            return ""
        try:
            return normalize_code(text)
        except UserError:
            raise ValueError("not a join code") from None


@dataclass(frozen=True)
class ClassState(PageState):
    """Who this browser is in a class, and what the lecturer's screen shows."""

    key: str = ""  # the lecturer key: this browser controls the class ("" for a student or a visitor)
    code: str = ""  # the join code a student's link carries (the join form is filled with it)
    token: str = ""  # the student's seat, once joined: a reload keeps the seat
    names: bool = False  # the lecturer ticked "show names": who answered what, on the lecturer's screen only
    view: str = ""  # the projector id: this browser shows the room, read-only ("" otherwise)

    FIELDS = (Field("key", "key", SecretCodec()), Field("code", "code", JoinCodeCodec()),
              Field("token", "t", SecretCodec()), Field("names", "names", BoolCodec()),
              Field("view", "view", SecretCodec()))

    @property
    def role(self) -> str:
        """"lecturer", "projector" (the room, read-only), "student" (joined) or "visitor" (the join form, and the
        button that opens a class)."""
        return "lecturer" if self.key else "projector" if self.view else "student" if self.token else "visitor"


def predict_question(prompt: str, choices_text: str = "", link: str = "") -> dict[str, Any]:
    """A free prompt as ``ClassStore.push`` takes it: the lecturer's text, one choice a line (none: a typed answer),
    and the page the lecturer shows (optional). The store checks and refuses it with the lecturer's words."""
    choices = [line.strip() for line in choices_text.splitlines() if line.strip()]
    question: dict[str, Any] = {"kind": PREDICT, "prompt": prompt.strip(), "choices": choices}
    if link.strip():
        question["link"] = link.strip()
    return question


def exercise_question(kind: str, seed: int, level: int = 1) -> dict[str, Any]:
    """The hook for exercises (``cnnviz.exercises.make(kind, seed, level)``): what ``ClassStore.push`` takes to show
    every student the same seeded problem. The store keeps only these three; ``question_text`` and the checker
    rebuild the problem from them."""
    return {"kind": kind, "seed": seed, "level": level}


def question_text(question: Question, language: str) -> str:
    """What a pushed question asks, in ``language``: a free prompt as the lecturer typed it, an exercise as
    ``cnnviz.exercises`` words its problem."""
    if question.kind == PREDICT:
        return question.prompt
    return exercises.make(question.kind, question.seed, question.level).prompt(language)


def exercise_solution(question: Question, language: str) -> tuple[str, str] | None:
    """An exercise's answer as a student types it and its whole calculation, for the reveal; None for a free
    prompt, whose answer only the lecturer knows."""
    if question.kind == PREDICT:
        return None
    problem = exercises.make(question.kind, question.seed, question.level)
    return problem.answer_text(), problem.working(language)


def _page_address(page_url: str) -> str:
    base = page_url.split("?")[0].split("#")[0] if page_url else ""
    if not base.rstrip("/").endswith(PAGE_URL_PATH):
        base = base.rstrip("/") + "/" + PAGE_URL_PATH
    return base


def answer_choices(question: Question) -> tuple[str, ...]:
    """The buttons a student answers ``question`` with: a free prompt's choices, a which-kernel exercise's kernel
    numbers ("1", "2", ...); none for a typed answer."""
    if question.kind in PICTURE_EXERCISES:
        options = exercises.make(question.kind, question.seed, question.level).params["options"]
        return tuple(str(number) for number in range(1, len(options) + 1))
    return question.choices


def class_answer(question: Question, typed: str) -> str:
    """A student's answer to ``question`` as the class tallies it: an exercise's grid or pair of numbers written the
    one way its reveal writes them (``[[8,9],[6,9]]`` and ``8 9; 6 9`` are one bar, and the right one turns green);
    anything else, or an answer the exercise cannot read, as typed (the store normalises a single number itself)."""
    if question.kind == "pool":
        try:
            rows = read_grid(typed)
        except UserError:
            return typed
        return "[" + ", ".join("[" + ", ".join(show(value) for value in row) + "]" for row in rows) + "]"
    if question.kind == "receptive_field":
        try:
            return ", ".join(show(value) for value in read_numbers(typed, 2))
        except UserError:
            return typed
    return typed


def join_link(page_url: str, code: str) -> str:
    """The link a student opens to join: this page's address (``page_url``, as the lecturer's browser shows it, with
    or without its query) with the join code instead of the lecturer's query, so the key never reaches the QR."""
    return f"{_page_address(page_url)}?code={code}"


def projector_link(page_url: str, projector: str, language: str) -> str:
    """The link the lecturer opens on the projector: this page's address with the class's read-only projector id
    instead of the lecturer's query, so the key never reaches the wall; in presentation mode (large type for the
    back rows, no sidebar) and the lecturer's language."""
    lang = f"&lang={language}" if language != DEFAULT_LANGUAGE else ""
    return f"{_page_address(page_url)}?view={projector}&present=1{lang}"


class Bar(NamedTuple):
    answer: str  # as the students sent it (escape it before it goes into HTML)
    count: int  # students who gave it
    percent: int  # of the class's students, rounded: the bar's length


def answer_bars(counts: tuple[tuple[str, int], ...], students: int) -> list[Bar]:
    """The bar chart of a tally's counts (most given first): each bar as a share of the class, so the unanswered
    part shows as the room's silence."""
    return [Bar(answer, count, round(100 * count / students) if students else 0) for answer, count in counts]
