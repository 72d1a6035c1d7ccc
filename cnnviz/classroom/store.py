"""The class store: a room's join code, its students, the questions a lecturer pushes and the room's answers.

``ClassStore`` checks every argument and every key once, for both stores; a store keeps the data. The embedded
mode's ``InProcessClassStore`` keeps classes in this process behind a lock; shared mode's
``cnnviz.classroom.redis_store.RedisClassStore`` keeps them in Redis, so every replica serves every class.
``class_store_from_env`` picks one, as ``cnnviz.training.registry.registry_from_env`` picks a run registry.

Secrets: the lecturer key controls a class and the student token is one seat in it. Neither is stored: the stores
keep their SHA-256 digests, so a look into the store's memory gives no control of a class. The join code only
lets someone join. The projector id (``projector_id``, derived one way from the lecturer key) only shows the room
as the projector does: the counts and bars, the reveal and the runs, never a name, and it controls nothing.

Answers: one per student per question. A second answer to the same question *replaces* the first while the
question is open (a student may change their mind until the reveal), so a question's count is the number of
students who answered it, never the number of answers sent. After the reveal, or once the lecturer has pushed the
next question, answers to it are refused. Every answer sent, replacing or not, counts against the student's rate
limit.
"""
from __future__ import annotations

import base64
import hashlib
import html
import math
import os
import re
import secrets
import threading
import time
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, Callable, NamedTuple

from cnnviz.errors import UserError

# Letters only, without the look-alikes of digits and of each other (I L O Q look like 1 and 0, B G S Z like 8 6
# 5 2), so a code read from the back of a hall is typed right: 18 letters, 18**6 = 34 million codes.
CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY"
CODE_LENGTH = 6
PREDICT = "predict"  # the kind of a free prompt ("predict the output size before I press Start")
# A free prompt's page link: a path in this app and its query, never another site ("//host" or "https:").
PAGE_LINK = re.compile(r"/(?!/)[A-Za-z0-9_\-/]*(\?[A-Za-z0-9_\-.,:=&%~+]*)?")
MAX_LINK_CHARS = 1000  # a page's state in a link stays well under this
WATCH_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # token_urlsafe's
# Who opens a class with a secret, and what a secret that opens no live class says: a lecturer's key, a projector's id.
MISSING = {"lecturer": "error.class.wrong_key", "projector": "error.class.projector_gone"}


@dataclass(frozen=True)
class ClassConfig:
    """The limits of a class, the same in both stores."""

    expiry_seconds: float = 12 * 3600.0  # a class and its answers last one teaching day from opening, then vanish
    max_students: int = 300  # a large lecture hall; one more is told the class is full
    max_name_chars: int = 40  # fits a bar label and a leaderboard row at 1280x720, and any real name
    answers_per_window: int = 10  # answers one student may send (changes of mind included) ...
    rate_window_seconds: float = 10.0  # ... within this many seconds: a class never needs more, a script does
    max_answer_chars: int = 100  # a number, a kernel's name or a short sentence for a prediction
    max_prompt_chars: int = 500  # a free prompt reads on a phone without scrolling
    max_choices: int = 8  # choices of a free prompt ("which kernel is this?" lists at most the preset row)
    max_choice_chars: int = 60  # one choice fits one button on a phone
    max_questions: int = 500  # questions one class keeps: several a minute for a whole day, and memory bounded
    max_seed: int = 2**31 - 1  # exercise seeds travel in URLs as plain ints
    max_level: int = 10  # exercise difficulty levels

    def __post_init__(self) -> None:
        for name in ("expiry_seconds", "rate_window_seconds"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserError("error.at_least", name=name, minimum="a positive number", value=value)
        for name in ("max_students", "max_name_chars", "answers_per_window", "max_answer_chars", "max_prompt_chars",
                     "max_choices", "max_choice_chars", "max_questions", "max_seed", "max_level"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError("error.int_at_least", name=name, minimum=1, value=value)


class OpenedClass(NamedTuple):
    """What ``open_class`` gives the lecturer: the code for the projector and the key for their URL only."""

    code: str  # six letters from CODE_ALPHABET: whoever has it can join
    lecturer_key: str  # a long secret: whoever has it controls the class


@dataclass(frozen=True)
class Question:
    """A pushed question: an exercise (cnnviz.exercises: ``kind``, ``seed``, ``level``) or a free prompt."""

    id: str  # "q1", "q2", ... in the order the lecturer pushed them
    kind: str  # an exercise generator's name, or PREDICT for a free prompt
    seed: int = 0  # the exercise's seed (0 for a free prompt)
    level: int = 1  # the exercise's difficulty
    prompt: str = ""  # a free prompt's text, as the lecturer typed it ("" for an exercise)
    choices: tuple[str, ...] = ()  # a free prompt's choices; empty: a typed answer
    link: str = ""  # a free prompt's page in this app, set up as the lecturer shows it ("/step?k=3&s=2"), or ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seed": self.seed, "level": self.level, "prompt": self.prompt,
                "choices": list(self.choices), "link": self.link}

    @classmethod
    def from_dict(cls, question_id: str, data: dict[str, Any]) -> "Question":
        return cls(question_id, data["kind"], int(data.get("seed", 0)), int(data.get("level", 1)),
                   data.get("prompt", ""), tuple(data.get("choices", ())), data.get("link", ""))


@dataclass(frozen=True)
class Current:
    """The question every student of a class sees now."""

    question: Question
    revealed: bool  # the lecturer pressed Reveal: answers are closed and the answer is shown
    answer: str  # the answer the lecturer gave at the reveal (a free prompt's); "" before it, or for an exercise
    answered: int  # how many students have answered it (a count, no names)


@dataclass(frozen=True)
class Seat:
    """One student's view of their class: what ``student(token)`` gives the student's pages."""

    code: str
    name: str  # as the student typed it: escape it (safe_name) before it goes into HTML
    current: Current | None  # None until the lecturer pushes a question
    my_answer: str | None  # this student's answer to the current question, if they sent one


@dataclass(frozen=True)
class Tally:
    """A question's answers, for the lecturer only: exact counts, and who answered what."""

    question: Question
    revealed: bool
    students: int  # students in the class now
    answered: int  # students who answered (each counted once, whatever they changed)
    counts: tuple[tuple[str, int], ...]  # (answer, students), most given first, then by answer: the bar chart
    names: tuple[tuple[str, str], ...] = field(repr=False, default=())  # (name, answer) in join order: never projected


@dataclass(frozen=True)
class Room:
    """The lecturer's view of their class."""

    code: str
    names: tuple[str, ...]  # the students, in join order (names for the lecturer's eyes)
    current: Current | None
    question_ids: tuple[str, ...]  # every question pushed so far, oldest first
    expires_in: float  # seconds until the class and its answers vanish


@dataclass(frozen=True)
class ClassRun:
    """A student's training run, registered for the leaderboard: the UI reads it through the run registry."""

    name: str
    watch_id: str  # the run's watch id (read-only): RunRegistry.watch(watch_id) finds it on any replica


def digest(secret: str) -> str:
    """What a store keeps of a lecturer key, a projector id or a student token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def projector_id(lecturer_key: str) -> str:
    """The read-only id of the lecturer's class, for the projector's address bar: derived from the key, so the
    lecturer's page needs nothing more in its URL, and one way, so whoever reads it off the wall learns no key.

    >>> projector_id("a-lecturer-key") == projector_id("a-lecturer-key") != projector_id("another-key")
    True
    """
    if not isinstance(lecturer_key, str) or not lecturer_key:
        raise UserError("error.class.wrong_key")
    raw = hashlib.sha256(b"cnnviz projector\0" + lecturer_key.encode()).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")[:32]


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: object) -> str:
    """A typed join code as the stores know it: capitals, without the spaces and dashes a reader may add.

    Raises:
        UserError: not six letters of CODE_ALPHABET (no class can have it).
    """
    text = "".join(str(code).split()).replace("-", "").upper() if isinstance(code, str) else ""
    if len(text) != CODE_LENGTH or any(letter not in CODE_ALPHABET for letter in text):
        raise UserError("error.class.no_such_code", code=code)
    return text


def _hidden_character(text: str) -> str | None:
    """The first control, format (bidi overrides, zero-width), private or unassigned character, or line break."""
    for character in text:
        category = unicodedata.category(character)
        if category[0] == "C" and character != "\u200d" or category in ("Zl", "Zp"):  # ZWJ joins emoji
            return f"U+{ord(character):04X}"
    return None


def validate_name(name: object, config: ClassConfig) -> str:
    """A display name, stripped; refused if empty, too long, or with hidden characters (a name must read as it
    shows). Kept as typed otherwise: ``safe_name`` escapes it for HTML."""
    if not isinstance(name, str):
        raise UserError("error.class.name_type", value=name)
    name = name.strip()
    if not name:
        raise UserError("error.class.name_empty")
    if len(name) > config.max_name_chars:
        raise UserError("error.class.name_long", length=len(name), most=config.max_name_chars)
    if (character := _hidden_character(name)) is not None:
        raise UserError("error.class.name_control", character=character)
    return name


def safe_name(name: str) -> str:
    """A display name for HTML: every view escapes names, since a name is whatever a student typed."""
    return html.escape(name, quote=True)


def normalize_answer(answer: object, config: ClassConfig, question: Question) -> str:
    """An answer as the tally counts it: stripped, inner spaces collapsed, and a number written one way ("7.0",
    " 7" and "7" are one bar; "0.50" is "0.5"). A free prompt with choices takes only one of them."""
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        raise UserError("error.class.answer_type", value=answer)
    text = " ".join(str(answer).split())
    if not text:
        raise UserError("error.class.answer_empty")
    if len(text) > config.max_answer_chars:
        raise UserError("error.class.answer_long", length=len(text), most=config.max_answer_chars)
    if (character := _hidden_character(text)) is not None:
        raise UserError("error.class.answer_control", character=character)
    if question.choices:
        if text not in question.choices:
            raise UserError("error.class.not_a_choice", choices=", ".join(question.choices), value=text)
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


def validate_question(question: object, config: ClassConfig) -> dict[str, Any]:
    """A pushed question as the stores keep it (``Question.to_dict``), or a UserError naming it."""
    def refuse() -> UserError:
        return UserError("error.class.question", max_seed=config.max_seed, max_level=config.max_level,
                         max_choices=config.max_choices, choice_chars=config.max_choice_chars, value=question)

    if not isinstance(question, dict) or not isinstance(question.get("kind"), str):
        raise refuse()
    kind = question["kind"]
    if kind == PREDICT:
        prompt, choices, link = question.get("prompt"), question.get("choices", ()), question.get("link", "")
        if set(question) - {"kind", "prompt", "choices", "link"} or not isinstance(prompt, str) or not prompt.strip():
            raise refuse()
        if not isinstance(link, str) or link and (len(link) > MAX_LINK_CHARS or not PAGE_LINK.fullmatch(link)):
            raise UserError("error.class.link", most=MAX_LINK_CHARS, value=link)
        if len(prompt.strip()) > config.max_prompt_chars:
            raise UserError("error.class.prompt_long", length=len(prompt.strip()), most=config.max_prompt_chars)
        if not isinstance(choices, (list, tuple)) or len(choices) > config.max_choices:
            raise refuse()
        cleaned = tuple(" ".join(choice.split()) if isinstance(choice, str) else "" for choice in choices)
        if any(not 0 < len(choice) <= config.max_choice_chars or _hidden_character(choice) for choice in cleaned) \
                or len(set(cleaned)) != len(cleaned):
            raise refuse()
        return Question("", PREDICT, prompt=prompt.strip(), choices=cleaned, link=link).to_dict()
    seed, level = question.get("seed"), question.get("level", 1)
    if (set(question) - {"kind", "seed", "level"} or not kind.isidentifier() or len(kind) > 40
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in (seed, level))
            or not 0 <= seed <= config.max_seed or not 1 <= level <= config.max_level):
        raise refuse()
    return Question("", kind, seed, level).to_dict()


def validate_watch_id(watch_id: object) -> str:
    if not isinstance(watch_id, str) or not 8 <= len(watch_id) <= 64 or set(watch_id) - WATCH_ID_CHARS:
        raise UserError("error.class.run_id", value=watch_id)
    return watch_id


def tally_counts(answers: dict[int, str]) -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    for answer in answers.values():
        counts[answer] = counts.get(answer, 0) + 1
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class ClassStore(ABC):
    """A room's join code, students, questions and answers. The public methods check their arguments and the
    secrets; a store implements the underscored steps, each atomic on its own.

    Students are numbered in join order (a seat number, 1, 2, ...); the stores key answers and runs by it.
    """

    config: ClassConfig

    # --- the lecturer ---------------------------------------------------------------------------------------------

    def open_class(self) -> OpenedClass:
        """A new class: its join code and its lecturer key."""
        key = secrets.token_urlsafe(32)
        while True:  # a code already in use (1 in 34 million per open class) draws again
            code = new_code()
            if self._create(code, digest(key), digest(projector_id(key))):
                return OpenedClass(code, key)

    def push(self, lecturer_key: str, question: dict[str, Any]) -> str:
        """Show ``question`` to every student of the class now (the previous one closes); its id.

        ``question`` is ``{"kind": name, "seed": int, "level": int}`` for an exercise, or
        ``{"kind": "predict", "prompt": text, "choices": [...], "link": "/page?query"}`` for a free prompt
        (choices and the link to the page the lecturer shows are optional).
        """
        stored = validate_question(question, self.config)
        return self._push(self._lecturer(lecturer_key), stored)

    def reveal(self, lecturer_key: str, question_id: str, answer: str = "") -> None:
        """Close ``question_id`` to answers and show everyone the answer: ``answer`` is a free prompt's (an
        exercise's is computed by the pages from its seed)."""
        code = self._lecturer(lecturer_key)
        self._known_question(code, question_id)
        if not isinstance(answer, str):
            raise UserError("error.class.answer_type", value=answer)
        answer = answer.strip()
        if len(answer) > self.config.max_prompt_chars:
            raise UserError("error.class.reveal_long", length=len(answer), most=self.config.max_prompt_chars)
        self._reveal(code, question_id, answer)

    def tally(self, lecturer_key: str, question_id: str) -> Tally:
        """``question_id``'s answers: exact counts, the distribution, and who answered what (for the lecturer)."""
        code = self._lecturer(lecturer_key)
        question = self._known_question(code, question_id)
        names, answers, revealed = self._answers(code, question_id)
        return Tally(question, revealed, len(names), len(answers), tally_counts(answers),
                     tuple((names[seat], answers[seat]) for seat in sorted(answers) if seat in names))

    def room(self, lecturer_key: str) -> Room:
        """The class as its lecturer sees it: code, students, the current question, time left."""
        return self._room(self._lecturer(lecturer_key))

    def runs(self, lecturer_key: str) -> tuple[ClassRun, ...]:
        """The students' registered runs, in join order, for the leaderboard."""
        return self._runs(self._lecturer(lecturer_key))

    # --- the projector: the room as the wall shows it, read-only, never a name -------------------------------------

    def projector_room(self, projector: str) -> Room:
        """The class as the projector shows it: ``room`` with every name blanked (their number stays)."""
        room = self._room(self._projected(projector))
        return replace(room, names=("",) * len(room.names))

    def projector_tally(self, projector: str, question_id: str) -> Tally:
        """``question_id``'s counts and bars, as ``tally`` gives them, without who answered what."""
        code = self._projected(projector)
        question = self._known_question(code, question_id)
        names, answers, revealed = self._answers(code, question_id)
        return Tally(question, revealed, len(names), len(answers), tally_counts(answers))

    def projector_runs(self, projector: str) -> tuple[ClassRun, ...]:
        """The leaderboard's runs, in join order, each without its student's name."""
        return tuple(ClassRun("", run.watch_id) for run in self._runs(self._projected(projector)))

    def close_class(self, lecturer_key: str) -> None:
        """End the class now: its code, seats and answers are gone, as at its expiry."""
        self._close(self._lecturer(lecturer_key))

    # --- the students ---------------------------------------------------------------------------------------------

    def join(self, code: str, display_name: str) -> str:
        """A seat in the class for ``display_name``: the student's token (a secret for their URL only)."""
        code, name = normalize_code(code), validate_name(display_name, self.config)
        token = secrets.token_urlsafe(16)
        self._join(code, name, digest(token))
        return token

    def current(self, code: str) -> Current | None:
        """What every student of the class sees: the current question, or None before the first."""
        return self._current(normalize_code(code), None)[0]

    def student(self, student_token: str) -> Seat:
        """A student's view: their class, their name, the current question and their answer to it."""
        code, seat, name = self._seat(student_token)
        current, mine = self._current(code, seat)
        return Seat(code, name, current, mine)

    def answer(self, student_token: str, question_id: str, answer: object) -> bool:
        """Answer the class's current question (or change one's answer to it); True if it replaced an earlier one.

        Raises:
            UserError: the answer is empty, too long or not a choice; the question is not the current one or has
                been revealed; the student sent more than ``answers_per_window`` answers in
                ``rate_window_seconds``; the seat or the class is gone.
        """
        code, seat, _ = self._seat(student_token)
        text = normalize_answer(answer, self.config, self._known_question(code, question_id))
        return self._answer(code, seat, question_id, text)

    def register_run(self, student_token: str, run_watch_id: str) -> None:
        """Put the student's run on the class's leaderboard (a newer run replaces their older one)."""
        watch_id = validate_watch_id(run_watch_id)
        code, seat, _ = self._seat(student_token)
        self._register_run(code, seat, watch_id)

    def _known_question(self, code: str, question_id: str) -> Question:
        if not isinstance(question_id, str):
            raise UserError("error.class.no_question", question_id=question_id)
        return self._question(code, question_id)

    def _seat(self, student_token: str) -> tuple[str, int, str]:
        if not isinstance(student_token, str) or not student_token:
            raise UserError("error.class.seat_gone")
        return self._seat_of(digest(student_token))

    def _lecturer(self, lecturer_key: str) -> str:
        return self._opened("lecturer", lecturer_key)

    def _projected(self, projector: str) -> str:
        return self._opened("projector", projector)

    def _opened(self, role: str, credential: str) -> str:
        """The code of the live class a lecturer key or a projector id (``role``) opens; ``MISSING[role]`` else."""
        if not isinstance(credential, str) or not credential:
            raise UserError(MISSING[role])
        return self._class_by(role, digest(credential))

    # --- what a store implements: each step atomic, each raising the UserError its docstring names ----------------

    @abstractmethod
    def _create(self, code: str, key_digest: str, projector_digest: str) -> bool:
        """A new class under ``code``, expiring ``config.expiry_seconds`` from now; False if ``code`` is taken."""

    @abstractmethod
    def _class_by(self, role: str, credential_digest: str) -> str:
        """The code of the live class this lecturer key or projector id (``role``, a key of ``MISSING``) opens;
        ``MISSING[role]`` otherwise."""

    @abstractmethod
    def _join(self, code: str, name: str, token_digest: str) -> int:
        """A new seat's number; error.class.no_such_code, error.class.full."""

    @abstractmethod
    def _seat_of(self, token_digest: str) -> tuple[str, int, str]:
        """(code, seat, name) of a live seat; error.class.seat_gone."""

    @abstractmethod
    def _push(self, code: str, question: dict[str, Any]) -> str:
        """Add a question and make it current; its id. error.class.wrong_key (class gone), too_many_questions."""

    @abstractmethod
    def _question(self, code: str, question_id: str) -> Question:
        """A question of the class; error.class.no_question."""

    @abstractmethod
    def _current(self, code: str, seat: int | None) -> tuple[Current | None, str | None]:
        """The current question and ``seat``'s answer to it; error.class.no_such_code."""

    @abstractmethod
    def _answer(self, code: str, seat: int, question_id: str, text: str) -> bool:
        """Store ``seat``'s answer if the question is current and open and the seat within its rate; True if it
        replaced one. error.class.seat_gone, question_closed, revealed, rate."""

    @abstractmethod
    def _answers(self, code: str, question_id: str) -> tuple[dict[int, str], dict[int, str], bool]:
        """(every seat's name, each answering seat's answer, revealed), read at one instant."""

    @abstractmethod
    def _reveal(self, code: str, question_id: str, answer: str) -> None: ...

    @abstractmethod
    def _room(self, code: str) -> Room: ...

    @abstractmethod
    def _register_run(self, code: str, seat: int, watch_id: str) -> None: ...

    @abstractmethod
    def _runs(self, code: str) -> tuple[ClassRun, ...]: ...

    @abstractmethod
    def _close(self, code: str) -> None: ...


@dataclass
class _Class:
    """One class in the embedded store's memory."""

    key_digest: str
    projector_digest: str
    deadline: float
    names: dict[int, str] = field(default_factory=dict)  # seat -> name, in join order
    tokens: set[str] = field(default_factory=set)  # the seats' token digests, dropped with the class
    seats_taken: int = 0
    questions: dict[str, Question] = field(default_factory=dict)  # in push order
    current: str = ""
    revealed: dict[str, str] = field(default_factory=dict)  # question id -> the answer shown
    answers: dict[str, dict[int, str]] = field(default_factory=dict)  # question id -> seat -> answer
    runs: dict[int, str] = field(default_factory=dict)  # seat -> watch id
    rates: dict[int, tuple[float, int]] = field(default_factory=dict)  # seat -> (window's end, answers in it)


class InProcessClassStore(ClassStore):
    """The embedded mode's classes, in this process, behind one lock. An expired class is dropped at the next
    access of any class, so memory holds only live classes and the ones that ended since."""

    def __init__(self, config: ClassConfig | None = None, clock: Callable[[], float] = time.monotonic):
        self.config = config or ClassConfig()
        self._clock = clock
        self._lock = threading.Lock()
        self._classes: dict[str, _Class] = {}
        self._keys: dict[str, str] = {}  # lecturer key digest -> code
        self._projectors: dict[str, str] = {}  # projector id digest -> code
        self._seats: dict[str, tuple[str, int]] = {}  # token digest -> (code, seat)

    def _live(self, code: str) -> _Class | None:
        """The class under ``code`` if it lives; every expired class is dropped first. Called under the lock."""
        now = self._clock()
        for expired in [c for c, room in self._classes.items() if room.deadline <= now]:
            self._drop(expired)
        return self._classes.get(code)

    def _drop(self, code: str) -> None:
        room = self._classes.pop(code)
        self._keys.pop(room.key_digest, None)
        self._projectors.pop(room.projector_digest, None)
        for token in room.tokens:
            self._seats.pop(token, None)

    def _create(self, code: str, key_digest: str, projector_digest: str) -> bool:
        with self._lock:
            if self._live(code) is not None:
                return False
            self._classes[code] = _Class(key_digest, projector_digest, self._clock() + self.config.expiry_seconds)
            self._keys[key_digest] = code
            self._projectors[projector_digest] = code
            return True

    def _class_by(self, role: str, credential_digest: str) -> str:
        with self._lock:
            code = (self._keys if role == "lecturer" else self._projectors).get(credential_digest)
            if code is None or self._live(code) is None:
                raise UserError(MISSING[role])
            return code

    def _join(self, code: str, name: str, token_digest: str) -> int:
        with self._lock:
            room = self._live(code)
            if room is None:
                raise UserError("error.class.no_such_code", code=code)
            if len(room.names) >= self.config.max_students:
                raise UserError("error.class.full", cap=self.config.max_students)
            room.seats_taken += 1
            room.names[room.seats_taken] = name
            room.tokens.add(token_digest)
            self._seats[token_digest] = (code, room.seats_taken)
            return room.seats_taken

    def _seat_of(self, token_digest: str) -> tuple[str, int, str]:
        with self._lock:
            code, seat = self._seats.get(token_digest, ("", 0))
            room = self._live(code)
            if room is None or seat not in room.names:
                raise UserError("error.class.seat_gone")
            return code, seat, room.names[seat]

    def _room_or_gone(self, code: str) -> _Class:
        room = self._live(code)
        if room is None:
            raise UserError("error.class.wrong_key")
        return room

    def _push(self, code: str, question: dict[str, Any]) -> str:
        with self._lock:
            room = self._room_or_gone(code)
            if len(room.questions) >= self.config.max_questions:
                raise UserError("error.class.too_many_questions", most=self.config.max_questions)
            question_id = f"q{len(room.questions) + 1}"
            room.questions[question_id] = Question.from_dict(question_id, question)
            room.answers[question_id] = {}
            room.current = question_id
            return question_id

    def _question(self, code: str, question_id: str) -> Question:
        with self._lock:
            room = self._live(code)
            question = room.questions.get(question_id) if room is not None else None
            if question is None:
                raise UserError("error.class.no_question", question_id=question_id)
            return question

    def _current_of(self, room: _Class) -> Current | None:
        if not room.current:
            return None
        revealed = room.current in room.revealed
        return Current(room.questions[room.current], revealed, room.revealed.get(room.current, ""),
                       len(room.answers[room.current]))

    def _current(self, code: str, seat: int | None) -> tuple[Current | None, str | None]:
        with self._lock:
            room = self._live(code)
            if room is None:
                raise UserError("error.class.no_such_code", code=code)
            mine = room.answers[room.current].get(seat) if room.current and seat is not None else None
            return self._current_of(room), mine

    def _answer(self, code: str, seat: int, question_id: str, text: str) -> bool:
        with self._lock:
            room = self._live(code)
            if room is None or seat not in room.names:
                raise UserError("error.class.seat_gone")
            if room.current != question_id:
                raise UserError("error.class.question_closed")
            if question_id in room.revealed:
                raise UserError("error.class.revealed")
            now = self._clock()
            window_end, sent = room.rates.get(seat, (0.0, 0))
            if now >= window_end:
                window_end, sent = now + self.config.rate_window_seconds, 0
            room.rates[seat] = (window_end, sent + 1)
            if sent + 1 > self.config.answers_per_window:
                raise UserError("error.class.rate", seconds=math.ceil(window_end - now))
            answers = room.answers[question_id]
            replaced = seat in answers
            answers[seat] = text
            return replaced

    def _answers(self, code: str, question_id: str) -> tuple[dict[int, str], dict[int, str], bool]:
        with self._lock:
            room = self._room_or_gone(code)
            return dict(room.names), dict(room.answers[question_id]), question_id in room.revealed

    def _reveal(self, code: str, question_id: str, answer: str) -> None:
        with self._lock:
            self._room_or_gone(code).revealed[question_id] = answer

    def _room(self, code: str) -> Room:
        with self._lock:
            room = self._room_or_gone(code)
            return Room(code, tuple(room.names.values()), self._current_of(room), tuple(room.questions),
                        max(0.0, room.deadline - self._clock()))

    def _register_run(self, code: str, seat: int, watch_id: str) -> None:
        with self._lock:
            room = self._live(code)
            if room is None or seat not in room.names:
                raise UserError("error.class.seat_gone")
            room.runs[seat] = watch_id

    def _runs(self, code: str) -> tuple[ClassRun, ...]:
        with self._lock:
            room = self._room_or_gone(code)
            return tuple(ClassRun(room.names[seat], room.runs[seat]) for seat in sorted(room.runs))

    def _close(self, code: str) -> None:
        with self._lock:
            if self._live(code) is not None:
                self._drop(code)


def class_store_from_env(config: ClassConfig | None = None) -> ClassStore:
    """The server's class store: in Redis when CNNVIZ_REDIS_URL is set (every replica sees every class), else this
    process's own."""
    url = os.environ.get("CNNVIZ_REDIS_URL", "").strip()
    if not url:
        return InProcessClassStore(config)
    from cnnviz.classroom.redis_store import RedisClassStore  # only shared mode needs redis

    return RedisClassStore(url, config)
