"""Classes shared by every replica through Redis (``CNNVIZ_REDIS_URL``), on the connection conventions of
``cnnviz.training.shared``: short timeouts, a lost connection shown as a message, Redis's own clock, Lua for every
step that reads and then writes.

What Redis holds for a class, under ``cnnviz:class:<code>``, every key expiring at the class's deadline (its
opening plus ``ClassConfig.expiry_seconds``, set with PEXPIREAT on Redis's clock, so no key outlives its class):
    hash      the class: its lecturer key's and projector id's digests, deadline (ms), seats and questions
              taken, the current question, and per question ``revealed:<id>`` and ``answer:<id>``
    hash      ``:names``: seat -> display name
    hash      ``:questions``: question id -> the question (JSON)
    hash      ``:answers:<id>``: seat -> answer, one field per student, so a count is HLEN: exact under any
              concurrency, and a changed answer replaces a field instead of adding one
    hash      ``:runs``: seat -> a run's watch id
    string    ``:rate:<seat>``: answers sent in the current rate window, expiring with the window
and, outside it, ``cnnviz:classkey:<digest of the lecturer key>`` -> code, ``cnnviz:classview:<digest of the
projector id>`` -> code and ``cnnviz:seat:<digest of a student token>`` -> "<code> <seat>", expiring with the
class. The scripts build a question's answers key from the class's (one Redis, as the rest of shared mode; a
cluster would need hash tags).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import wraps
from typing import Any

from cnnviz.classroom.store import MISSING, ClassConfig, ClassRun, ClassStore, Current, Question, Room
from cnnviz.errors import UserError
from cnnviz.training import shared

PREFIX = "cnnviz:class:"


class ClassUnavailable(UserError):
    """Redis cannot be reached: the class is out of reach for now; the pages keep working."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("error.class.unavailable", detail=detail[:200])


def available(method):
    """Turn a lost connection to Redis into ClassUnavailable, which pages show as a message."""
    @wraps(method)
    def guarded(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except shared.REDIS_ERRORS as error:  # read at call time: connect() fills it
            raise ClassUnavailable(str(error)) from error
    return guarded


@dataclass(frozen=True)
class ClassKeys:
    """The Redis keys of one class."""

    code: str

    @property
    def room(self) -> str:
        return f"{PREFIX}{self.code}"

    @property
    def names(self) -> str:
        return f"{self.room}:names"

    @property
    def questions(self) -> str:
        return f"{self.room}:questions"

    @property
    def runs(self) -> str:
        return f"{self.room}:runs"

    def answers(self, question_id: str) -> str:
        return f"{self.room}:answers:{question_id}"

    def rate(self, seat: int) -> str:
        return f"{self.room}:rate:{seat}"


def lecturer_key(key_digest: str) -> str:
    return f"cnnviz:classkey:{key_digest}"


def projector_key(projector_digest: str) -> str:
    return f"cnnviz:classview:{projector_digest}"


def seat_key(token_digest: str) -> str:
    return f"cnnviz:seat:{token_digest}"


# A class, unless its code is taken: deadline = Redis's now + the expiry; returns the deadline, or 0.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local deadline = string.format('%.0f', now_ms + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'lecturer', ARGV[1], 'projector', ARGV[4], 'deadline', deadline, 'seats', 0,
           'questions', 0, 'current', '')
redis.call('PEXPIREAT', KEYS[1], deadline)
redis.call('SET', KEYS[2], ARGV[3], 'PXAT', deadline)
redis.call('SET', KEYS[3], ARGV[3], 'PXAT', deadline)
return deadline
"""

# A seat, if the class lives and has room: -1 gone, -2 full, else the seat's number.
_JOIN = """
local deadline = redis.call('HGET', KEYS[1], 'deadline')
if not deadline then return -1 end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[2]) then return -2 end
local seat = redis.call('HINCRBY', KEYS[1], 'seats', 1)
redis.call('HSET', KEYS[2], seat, ARGV[1])
redis.call('PEXPIREAT', KEYS[2], deadline)
redis.call('SET', KEYS[3], ARGV[3] .. ' ' .. seat, 'PXAT', deadline)
return seat
"""

# A question, made current: -1 class gone, -2 too many questions, else its number.
_PUSH = """
local state = redis.call('HMGET', KEYS[1], 'deadline', 'questions')
if not state[1] then return -1 end
if tonumber(state[2]) >= tonumber(ARGV[2]) then return -2 end
local number = redis.call('HINCRBY', KEYS[1], 'questions', 1)
redis.call('HSET', KEYS[2], 'q' .. number, ARGV[1])
redis.call('PEXPIREAT', KEYS[2], state[1])
redis.call('HSET', KEYS[1], 'current', 'q' .. number)
return number
"""

# The current question, read at one instant: false (class gone), {''} (none yet), or
# {id, question JSON, revealed, answer shown, students who answered, ARGV[1]'s answer}.
_CURRENT = """
local current = redis.call('HGET', KEYS[1], 'current')
if not current then return false end
if current == '' then return {''} end
local state = redis.call('HMGET', KEYS[1], 'revealed:' .. current, 'answer:' .. current)
local answers = KEYS[1] .. ':answers:' .. current
local mine = ''
if ARGV[1] ~= '' then mine = redis.call('HGET', answers, ARGV[1]) or '' end
return {current, redis.call('HGET', KEYS[2], current), state[1] or '', state[2] or '', redis.call('HLEN', answers),
        mine}
"""

# One student's answer, if the question is current and open and the student within the rate limit:
# {1} new, {0} replaced, {-1} class gone, {-2} not current, {-3} revealed, {-4, ms left in the window}.
_ANSWER = """
local state = redis.call('HMGET', KEYS[1], 'deadline', 'current', 'revealed:' .. ARGV[2])
if not state[1] then return {-1} end
if state[2] ~= ARGV[2] then return {-2} end
if state[3] then return {-3} end
local sent = redis.call('INCR', KEYS[2])
if sent == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
if sent > tonumber(ARGV[4]) then return {-4, redis.call('PTTL', KEYS[2])} end
local added = redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('PEXPIREAT', KEYS[3], state[1])
return {added}
"""

# Reveal a question: 0 if the class is gone.
_REVEAL = """
if not redis.call('HGET', KEYS[1], 'deadline') then return 0 end
redis.call('HSET', KEYS[1], 'revealed:' .. ARGV[1], '1', 'answer:' .. ARGV[1], ARGV[2])
return 1
"""

# A student's run on the leaderboard, if the class lives and the seat is still in it: 0 otherwise.
_REGISTER_RUN = """
local deadline = redis.call('HGET', KEYS[1], 'deadline')
if not deadline or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[3], deadline)
return 1
"""


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _seats(mapping: dict) -> dict[int, str]:
    return dict(sorted((int(seat), _text(value)) for seat, value in mapping.items()))


class RedisClassStore(ClassStore):
    """Every class of every replica, in Redis. Two instances on one Redis (two replicas) see the same classes."""

    def __init__(self, url: str | None = None, config: ClassConfig | None = None):
        self.config = config or ClassConfig()
        self.redis = shared.connect(url or shared.redis_url())
        self._scripts = {name: self.redis.register_script(source) for name, source in (
            ("create", _CREATE), ("join", _JOIN), ("push", _PUSH), ("current", _CURRENT), ("answer", _ANSWER),
            ("reveal", _REVEAL), ("register_run", _REGISTER_RUN))}

    @available
    def _create(self, code: str, key_digest: str, projector_digest: str) -> bool:
        keys = ClassKeys(code)
        expiry_ms = round(self.config.expiry_seconds * 1000)
        return bool(self._scripts["create"](
            keys=[keys.room, lecturer_key(key_digest), projector_key(projector_digest)],
            args=[key_digest, expiry_ms, code, projector_digest]))

    @available
    def _class_by(self, role: str, credential_digest: str) -> str:
        where = lecturer_key if role == "lecturer" else projector_key
        code = _text(self.redis.get(where(credential_digest)))
        if not code:
            raise UserError(MISSING[role])
        return code

    @available
    def _join(self, code: str, name: str, token_digest: str) -> int:
        keys = ClassKeys(code)
        seat = int(self._scripts["join"](keys=[keys.room, keys.names, seat_key(token_digest)],
                                         args=[name, self.config.max_students, code]))
        if seat == -1:
            raise UserError("error.class.no_such_code", code=code)
        if seat == -2:
            raise UserError("error.class.full", cap=self.config.max_students)
        return seat

    @available
    def _seat_of(self, token_digest: str) -> tuple[str, int, str]:
        found = _text(self.redis.get(seat_key(token_digest)))
        if found:
            code, seat = found.split(" ")
            name = self.redis.hget(ClassKeys(code).names, seat)
            if name is not None:
                return code, int(seat), _text(name)
        raise UserError("error.class.seat_gone")

    @available
    def _push(self, code: str, question: dict[str, Any]) -> str:
        keys = ClassKeys(code)
        number = int(self._scripts["push"](keys=[keys.room, keys.questions],
                                           args=[json.dumps(question), self.config.max_questions]))
        if number == -1:
            raise UserError("error.class.wrong_key")
        if number == -2:
            raise UserError("error.class.too_many_questions", most=self.config.max_questions)
        return f"q{number}"

    @available
    def _question(self, code: str, question_id: str) -> Question:
        data = self.redis.hget(ClassKeys(code).questions, question_id) if question_id else None
        if data is None:
            raise UserError("error.class.no_question", question_id=question_id)
        return Question.from_dict(question_id, json.loads(data))

    @available
    def _current(self, code: str, seat: int | None) -> tuple[Current | None, str | None]:
        keys = ClassKeys(code)
        found = self._scripts["current"](keys=[keys.room, keys.questions], args=["" if seat is None else seat])
        if found is None:
            raise UserError("error.class.no_such_code", code=code)
        if _text(found[0]) == "":
            return None, None
        question_id, data, revealed, shown, answered, mine = found
        question_id = _text(question_id)
        current = Current(Question.from_dict(question_id, json.loads(data)), _text(revealed) == "1", _text(shown),
                          int(answered))
        return current, (_text(mine) or None) if seat is not None else None

    @available
    def _answer(self, code: str, seat: int, question_id: str, text: str) -> bool:
        keys = ClassKeys(code)
        window_ms = max(1, round(self.config.rate_window_seconds * 1000))
        result = self._scripts["answer"](keys=[keys.room, keys.rate(seat), keys.answers(question_id)],
                                         args=[seat, question_id, text, self.config.answers_per_window, window_ms])
        status = int(result[0])
        if status == -1:
            raise UserError("error.class.seat_gone")
        if status == -2:
            raise UserError("error.class.question_closed")
        if status == -3:
            raise UserError("error.class.revealed")
        if status == -4:
            raise UserError("error.class.rate", seconds=max(1, math.ceil(int(result[1]) / 1000)))
        return status == 0

    @available
    def _answers(self, code: str, question_id: str) -> tuple[dict[int, str], dict[int, str], bool]:
        keys = ClassKeys(code)
        read = self.redis.pipeline(transaction=True)  # MULTI: names and answers read at one instant
        read.hgetall(keys.names)
        read.hgetall(keys.answers(question_id))
        read.hget(keys.room, f"revealed:{question_id}")
        names, answers, revealed = read.execute()
        return _seats(names), _seats(answers), _text(revealed) == "1"

    @available
    def _reveal(self, code: str, question_id: str, answer: str) -> None:
        if not self._scripts["reveal"](keys=[ClassKeys(code).room], args=[question_id, answer]):
            raise UserError("error.class.wrong_key")

    @available
    def _room(self, code: str) -> Room:
        keys = ClassKeys(code)
        read = self.redis.pipeline(transaction=True)
        read.hgetall(keys.names)
        read.hget(keys.room, "questions")
        read.pttl(keys.room)
        names, questions, left_ms = read.execute()
        if int(left_ms) < 0:
            raise UserError("error.class.wrong_key")
        current, _ = self._current(code, None)
        return Room(code, tuple(_seats(names).values()), current,
                    tuple(f"q{number}" for number in range(1, int(questions or 0) + 1)), int(left_ms) / 1000)

    @available
    def _register_run(self, code: str, seat: int, watch_id: str) -> None:
        keys = ClassKeys(code)
        if not self._scripts["register_run"](keys=[keys.room, keys.names, keys.runs], args=[seat, watch_id]):
            raise UserError("error.class.seat_gone")

    @available
    def _runs(self, code: str) -> tuple[ClassRun, ...]:
        keys = ClassKeys(code)
        read = self.redis.pipeline(transaction=True)
        read.hgetall(keys.names)
        read.hgetall(keys.runs)
        names, runs = (_seats(mapping) for mapping in read.execute())
        return tuple(ClassRun(names[seat], watch_id) for seat, watch_id in runs.items() if seat in names)

    @available
    def _close(self, code: str) -> None:
        keys = ClassKeys(code)
        fields = {_text(name): _text(value) for name, value in self.redis.hgetall(keys.room).items()}
        answers = [keys.answers(f"q{number}") for number in range(1, int(fields.get("questions") or 0) + 1)]
        self.redis.delete(keys.room, keys.names, keys.questions, keys.runs, *answers,
                          lecturer_key(fields.get("lecturer", "")), projector_key(fields.get("projector", "")))
        # The seats' keys point at a class that is gone, and expire at its deadline: a seat reads as gone at once.
