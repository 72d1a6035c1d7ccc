"""The class store (cnnviz.classroom): every operation on both stores, the secrets, expiry, caps, rate limits, names,
exact counts under concurrency, and the join link's QR code.

The Redis store runs against a real redis-server started by scripts/shared_mode.py, two clients on it standing for
two replicas. Time is injected into the embedded store; the Redis store's expiry is Redis's own, so its tests read
the keys' TTLs and wait for a short expiry with a deadline.
"""
from __future__ import annotations

import io
import re
import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnviz.classroom import (CODE_ALPHABET, ClassConfig, ClassRun, InProcessClassStore, class_store_from_env,
                              join_qr_png, normalize_code, projector_id, safe_name)
from cnnviz.classroom.store import Question, normalize_answer, validate_name, validate_question
from cnnviz.errors import UserError
from scripts.serve_app import free_port
from scripts.shared_mode import redis_server
from service_kit import require_redis, wait_until

EXERCISE = {"kind": "output_size", "seed": 7, "level": 2}
PREDICT = {"kind": "predict", "prompt": "Predict the output size before I press Start"}


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_url():
    require_redis()
    with redis_server() as url:
        yield url


@pytest.fixture(params=["in_process", "redis"])
def stores(request):
    """A factory of two clients of one class store: the same object in the embedded mode, two Redis connections
    (two replicas) in shared mode."""
    if request.param == "in_process":
        def make(config: ClassConfig | None = None):
            store = InProcessClassStore(config)
            return store, store
        yield make
        return
    from cnnviz.classroom.redis_store import RedisClassStore

    url = request.getfixturevalue("redis_url")
    clients = []

    def make(config: ClassConfig | None = None):
        pair = RedisClassStore(url, config), RedisClassStore(url, config)
        clients.extend(pair)
        return pair
    yield make
    for client in clients:
        client.redis.close()


def error_key(call) -> str:
    with pytest.raises(UserError) as caught:
        call()
    return caught.value.key


# --- codes, names, answers, questions: the checks both stores share --------------------------------------------

def test_the_code_alphabet_has_no_look_alikes():
    assert set(CODE_ALPHABET).isdisjoint("IOLQBGSZ0123456789")
    assert len(set(CODE_ALPHABET)) == len(CODE_ALPHABET) == 18


def test_a_typed_code_may_have_small_letters_spaces_and_a_dash():
    assert normalize_code(" kmn-prt ") == normalize_code("KMN PRT") == "KMNPRT"
    for bad in ("KMNPR", "KMNPRTA", "KMNPR0", "KMNPRO", 123456, None):
        with pytest.raises(UserError, match="No class has the code") as caught:
            normalize_code(bad)
        assert "没有代码为" in caught.value.message("zh")


def test_a_name_is_stripped_capped_and_free_of_hidden_characters():
    config = ClassConfig(max_name_chars=10)
    assert validate_name("  Ann Lee \n", config) == "Ann Lee"
    assert validate_name("李小明", config) == "李小明"
    assert validate_name("👩\u200d🔬", config) == "👩\u200d🔬"  # a joined emoji keeps its joiner
    assert validate_name("<b>x</b>", config) == "<b>x</b>"  # kept as typed: views escape it
    with pytest.raises(UserError, match="has 11 characters, more than the 10"):
        validate_name("A" * 11, config)
    with pytest.raises(UserError, match="Type a name"):
        validate_name("   ", config)
    with pytest.raises(UserError, match="must be text, got 5"):
        validate_name(5, config)
    for hidden, shown in (("\x07", "U+0007"), ("\u202e", "U+202E"), ("\u200b", "U+200B"), ("a\nb", "U+000A"),
                          ("a\u2028b", "U+2028")):
        with pytest.raises(UserError, match=re.escape(f"control character ({shown})")):
            validate_name(f"Ann{hidden}Lee", config)


def test_safe_name_escapes_html():
    assert safe_name('<img src=x onerror="alert(1)">&') == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;"
    assert safe_name("O'Neil") == "O&#x27;Neil"


def test_answers_are_counted_one_way():
    config, typed = ClassConfig(max_answer_chars=12), Question("q1", "output_size")
    typed_answers = ("7", " 7.0 ", 7, "+7", "0.50", ".5", "1e3", "  two   words ")
    assert [normalize_answer(a, config, typed) for a in typed_answers] \
        == ["7", "7", "7", "7", "0.5", "0.5", "1000", "two words"]
    assert normalize_answer("nan", config, typed) == "nan" and normalize_answer("3x3", config, typed) == "3x3"
    assert error_key(lambda: normalize_answer(" ", config, typed)) == "error.class.answer_empty"
    assert error_key(lambda: normalize_answer("1" * 13, config, typed)) == "error.class.answer_long"
    assert error_key(lambda: normalize_answer("7\x00", config, typed)) == "error.class.answer_control"
    assert error_key(lambda: normalize_answer(True, config, typed)) == "error.class.answer_type"
    choice = Question("q2", "predict", prompt="Which?", choices=("sobel_x", "blur"))
    assert normalize_answer(" blur ", config, choice) == "blur"
    with pytest.raises(UserError, match="Pick one of the choices shown \\(sobel_x, blur\\), got '7'"):
        normalize_answer("7", config, choice)


@pytest.mark.parametrize("bad", [
    None, "output_size", {}, {"seed": 1}, {"kind": "output_size"}, {"kind": "output_size", "seed": -1},
    {"kind": "output_size", "seed": 1, "level": 0}, {"kind": "output_size", "seed": 1, "level": 11},
    {"kind": "output_size", "seed": True}, {"kind": "output size", "seed": 1}, {"kind": "pool", "seed": 1, "x": 2},
    {"kind": "predict"}, {"kind": "predict", "prompt": "  "}, {"kind": "predict", "prompt": "p", "seed": 3},
    {"kind": "predict", "prompt": "p", "choices": ["a", "a"]}, {"kind": "predict", "prompt": "p", "choices": [""]},
    {"kind": "predict", "prompt": "p", "choices": list("abcdefghi")},
])
def test_a_malformed_question_is_refused_with_its_value(bad):
    with pytest.raises(UserError, match="A question must be an exercise") as caught:
        validate_question(bad, ClassConfig())
    assert repr(bad) in str(caught.value) and "题目必须是练习" in caught.value.message("zh")


def test_questions_are_kept_as_plain_dicts():
    config = ClassConfig()
    assert validate_question(EXERCISE, config) == {"kind": "output_size", "seed": 7, "level": 2, "prompt": "",
                                                   "choices": [], "link": ""}
    assert validate_question({"kind": "pool", "seed": 3}, config)["level"] == 1
    stored = validate_question({"kind": "predict", "prompt": " Size? ", "choices": [" 3 ", "4"]}, config)
    assert stored == {"kind": "predict", "seed": 0, "level": 1, "prompt": "Size?", "choices": ["3", "4"],
                      "link": ""}
    assert Question.from_dict("q3", stored).to_dict() == stored
    linked = validate_question({**PREDICT, "link": "/step?k=sobel_x&s=2,2&p=same"}, config)
    assert Question.from_dict("q4", linked).link == "/step?k=sobel_x&s=2,2&p=same"
    for bad in ("//evil.example/x", "https://evil.example", "javascript:alert(1)", "/step?x=<b>", "step", "/a b",
                "/" + "a" * 1000, 5):
        with pytest.raises(UserError, match="A question's page link must be a path in cnnviz") as caught:
            validate_question({**PREDICT, "link": bad}, config)
        assert repr(bad) in str(caught.value)
    with pytest.raises(UserError, match="The prompt has 501 characters"):
        validate_question({"kind": "predict", "prompt": "x" * 501}, config)


def test_the_config_refuses_nonsense_limits():
    with pytest.raises(UserError, match="max_students must be an int of at least 1, got max_students=0"):
        ClassConfig(max_students=0)
    with pytest.raises(UserError, match="expiry_seconds must be at least a positive number"):
        ClassConfig(expiry_seconds=float("nan"))


# --- every operation, on both stores ----------------------------------------------------------------------------

def test_the_whole_loop_across_two_clients(stores):
    lecturer_side, student_side = stores()
    code, key = lecturer_side.open_class()
    assert len(code) == 6 and set(code) <= set(CODE_ALPHABET) and len(key) >= 40
    ann = student_side.join(code.lower(), "  Ann ")
    li = student_side.join(code, "李小明")
    assert ann != li and len(ann) >= 20
    assert student_side.current(code) is None
    assert student_side.student(ann).current is None

    first = lecturer_side.push(key, EXERCISE)
    current = student_side.current(code)
    assert (current.question.id, current.question.kind, current.question.seed, current.question.level) \
        == (first, "output_size", 7, 2)
    assert (current.revealed, current.answered) == (False, 0)
    assert student_side.answer(ann, first, "14") is False
    assert student_side.answer(li, first, "13") is False
    seat = student_side.student(ann)
    assert (seat.code, seat.name, seat.my_answer, seat.current.answered) == (code, "Ann", "14", 2)

    tally = lecturer_side.tally(key, first)
    assert (tally.students, tally.answered, tally.revealed) == (2, 2, False)
    assert tally.counts == (("13", 1), ("14", 1))
    assert tally.names == (("Ann", "14"), ("李小明", "13"))
    # Names reach only the lecturer: nothing a student reads holds another's, and a logged tally shows none.
    assert "Ann" not in repr(student_side.current(code)) + repr(student_side.student(li)) + repr(tally)

    lecturer_side.reveal(key, first)
    assert student_side.current(code).revealed and student_side.current(code).answer == ""
    second = lecturer_side.push(key, {**PREDICT, "choices": ["26", "28"], "link": "/step?p=same&k=3"})
    assert second != first and student_side.current(code).question.id == second
    assert student_side.current(code).question.link == "/step?p=same&k=3"
    assert student_side.student(ann).my_answer is None
    student_side.answer(li, second, "28")
    lecturer_side.reveal(key, second, "28: padding 1 keeps the size")
    assert student_side.current(code).answer == "28: padding 1 keeps the size"

    room = lecturer_side.room(key)
    assert (room.code, room.names, room.question_ids) == (code, ("Ann", "李小明"), (first, second))
    assert room.current.question.id == second and 0 < room.expires_in <= 12 * 3600

    student_side.register_run(ann, "watchIdOfAnn_1")
    student_side.register_run(li, "watchIdOfLi-1")
    student_side.register_run(ann, "watchIdOfAnn_2")  # a newer run replaces the older one
    assert lecturer_side.runs(key) == (ClassRun("Ann", "watchIdOfAnn_2"), ClassRun("李小明", "watchIdOfLi-1"))


def test_only_the_lecturer_key_controls_a_class(stores):
    store, other = stores()
    code, key = store.open_class()
    student = other.join(code, "Ann")
    question = store.push(key, EXERCISE)
    _, someone_elses_key = store.open_class()
    for wrong in ("", "x" * 43, code, student, someone_elses_key[:-1], None):
        for call in (lambda: other.push(wrong, EXERCISE), lambda: other.tally(wrong, question),
                     lambda: other.reveal(wrong, question), lambda: other.room(wrong), lambda: other.runs(wrong),
                     lambda: other.close_class(wrong)):
            assert error_key(call) == "error.class.wrong_key"
    with pytest.raises(UserError) as caught:
        other.push("not-the-key", EXERCISE)
    assert str(caught.value).startswith("This lecturer link does not control a class")
    assert "这个教师链接控制不了任何课堂" in caught.value.message("zh")
    # Another class's key controls only its own class.
    assert error_key(lambda: other.tally(someone_elses_key, question)) == "error.class.no_question"
    assert store.current(code).question.id == question and not store.current(code).revealed


def test_the_projector_id_shows_the_room_without_names_and_controls_nothing(stores):
    store, other = stores()
    code, key = store.open_class()
    wall = projector_id(key)
    assert wall not in (key, code) and key not in wall and len(wall) == 32
    ann, _ = other.join(code, "Ann"), other.join(code, "<b>Bo</b>")
    question = store.push(key, {**PREDICT, "choices": ["26", "28"]})
    other.answer(ann, question, "28")
    room = other.projector_room(wall)
    assert (room.code, room.names, room.current.question.id) == (code, ("", ""), question)
    tally = other.projector_tally(wall, question)
    assert (tally.students, tally.answered, tally.counts, tally.names) == (2, 1, (("28", 1),), ())
    other.register_run(ann, "watchIdOfRun_1")
    assert other.projector_runs(wall) == (ClassRun("", "watchIdOfRun_1"),)
    assert "Ann" not in repr(room) + repr(tally) + repr(other.projector_runs(wall))
    for call in (lambda: other.push(wall, EXERCISE), lambda: other.reveal(wall, question, "28"),
                 lambda: other.tally(wall, question), lambda: other.room(wall), lambda: other.runs(wall),
                 lambda: other.close_class(wall)):
        assert error_key(call) == "error.class.wrong_key"  # the wall's id is no lecturer key
    for wrong in ("", key, code, ann, projector_id(ann), None):
        assert error_key(lambda: other.projector_room(wrong)) == "error.class.projector_gone"
        assert error_key(lambda: other.projector_tally(wrong, question)) == "error.class.projector_gone"
    assert not store.current(code).revealed
    store.close_class(key)
    assert error_key(lambda: other.projector_room(wall)) == "error.class.projector_gone"
    assert error_key(lambda: projector_id("")) == "error.class.wrong_key"


def test_a_student_token_answers_only_in_its_own_seat(stores):
    store, other = stores()
    code, key = store.open_class()
    question = store.push(key, EXERCISE)
    for wrong in ("", "no-such-token", key, code, None):
        assert error_key(lambda: other.answer(wrong, question, "3")) == "error.class.seat_gone"
        assert error_key(lambda: other.student(wrong)) == "error.class.seat_gone"
        assert error_key(lambda: other.register_run(wrong, "watchId_123")) == "error.class.seat_gone"
    student = other.join(code, "Ann")
    for unknown in ("q99", "", None, ["q1"]):
        assert error_key(lambda: other.answer(student, unknown, "3")) == "error.class.no_question"
        assert error_key(lambda: store.tally(key, unknown)) == "error.class.no_question"
    assert error_key(lambda: other.register_run(student, "a b")) == "error.class.run_id"
    assert error_key(lambda: other.register_run(student, "x" * 65)) == "error.class.run_id"
    assert error_key(lambda: other.join("KMNPRT" if code != "KMNPRT" else "KMNPRA", "Ann")) \
        == "error.class.no_such_code"
    assert error_key(lambda: other.current("KMNPRT" if code != "KMNPRT" else "KMNPRA")) == "error.class.no_such_code"


def test_a_second_answer_replaces_the_first_and_counts_once(stores):
    store, other = stores()
    code, key = store.open_class()
    ann, bo = other.join(code, "Ann"), other.join(code, "Bo")
    question = store.push(key, EXERCISE)
    assert other.answer(ann, question, "5") is False
    assert store.answer(ann, question, "6") is True  # from the other replica
    other.answer(bo, question, "6.0")
    tally = store.tally(key, question)
    assert (tally.answered, tally.counts) == (2, (("6", 2),))
    assert other.student(ann).my_answer == "6"


def test_answers_close_when_the_next_question_comes_and_at_the_reveal(stores):
    store, other = stores()
    code, key = store.open_class()
    ann = other.join(code, "Ann")
    first = store.push(key, EXERCISE)
    second = store.push(key, PREDICT)
    with pytest.raises(UserError, match="This question has closed: the lecturer has moved on") as caught:
        other.answer(ann, first, "3")
    assert "老师已经换了下一题" in caught.value.message("zh")
    store.reveal(key, second, "28")
    with pytest.raises(UserError, match="has been revealed"):
        other.answer(ann, second, "28")
    assert store.tally(key, second).answered == 0 and store.tally(key, second).revealed
    assert error_key(lambda: store.reveal(key, "q99")) == "error.class.no_question"
    with pytest.raises(UserError, match="The revealed answer has 501 characters"):
        store.reveal(key, second, "x" * 501)


def test_a_class_is_capped_with_a_clear_message(stores):
    store, other = stores(ClassConfig(max_students=3))
    code, _ = store.open_class()
    for name in ("A", "B", "C"):
        other.join(code, name)
    with pytest.raises(UserError, match=r"This class is full \(3 students\)\. Ask the lecturer") as caught:
        store.join(code, "D")
    assert "这个课堂已满（3 名学生）" in caught.value.message("zh")


def test_a_class_keeps_a_bounded_number_of_questions(stores):
    store, _ = stores(ClassConfig(max_questions=2))
    _, key = store.open_class()
    store.push(key, EXERCISE)
    store.push(key, PREDICT)
    with pytest.raises(UserError, match="This class has had 2 questions"):
        store.push(key, EXERCISE)


def test_closing_a_class_ends_every_seat_and_key(stores):
    store, other = stores()
    code, key = store.open_class()
    ann = other.join(code, "Ann")
    store.push(key, EXERCISE)
    store.close_class(key)
    assert error_key(lambda: other.current(code)) == "error.class.no_such_code"
    assert error_key(lambda: other.student(ann)) == "error.class.seat_gone"
    assert error_key(lambda: other.room(key)) == "error.class.wrong_key"


def test_joins_racing_for_the_last_seats_fill_the_class_exactly(stores):
    first, second = stores(ClassConfig(max_students=10))
    code, key = first.open_class()
    barrier, outcomes = threading.Barrier(24), []

    def join(number: int) -> None:
        barrier.wait()
        try:
            (first if number % 2 else second).join(code, f"S{number}")
            outcomes.append("seat")
        except UserError as error:
            outcomes.append(error.key)

    threads = [threading.Thread(target=join, args=(number,)) for number in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("seat") == 10 and outcomes.count("error.class.full") == 14
    assert len(first.room(key).names) == 10


# --- rate limits ------------------------------------------------------------------------------------------------

def test_answers_are_rate_limited_per_student_in_process():
    clock = Clock()
    store = InProcessClassStore(ClassConfig(answers_per_window=3, rate_window_seconds=10), clock=clock)
    code, key = store.open_class()
    ann, bo = store.join(code, "Ann"), store.join(code, "Bo")
    question = store.push(key, EXERCISE)
    for answer in ("1", "2", "3"):
        store.answer(ann, question, answer)
    clock.now += 4
    with pytest.raises(UserError, match=r"Too many answers in a row: wait 6 s") as caught:
        store.answer(ann, question, "4")
    assert "请等 6 秒" in caught.value.message("zh")
    store.answer(bo, question, "9")  # the limit is each student's own
    clock.now += 6  # the window has passed
    store.answer(ann, question, "4")
    assert store.tally(key, question).counts == (("4", 1), ("9", 1))


def test_answers_are_rate_limited_per_student_in_redis(redis_url):
    from cnnviz.classroom.redis_store import RedisClassStore

    first, second = (RedisClassStore(redis_url, ClassConfig(answers_per_window=3, rate_window_seconds=0.5))
                     for _ in range(2))
    code, key = first.open_class()
    ann, bo = first.join(code, "Ann"), second.join(code, "Bo")
    question = first.push(key, EXERCISE)
    for answer, client in (("1", first), ("2", second), ("3", first)):  # the limit holds across replicas
        client.answer(ann, question, answer)
    with pytest.raises(UserError, match=r"Too many answers in a row: wait 1 s"):
        second.answer(ann, question, "4")
    second.answer(bo, question, "9")

    def accepted() -> bool:
        try:
            first.answer(ann, question, "4")
            return True
        except UserError as error:
            assert error.key == "error.class.rate"
            return False

    wait_until(accepted, what="the rate window to pass")
    assert first.tally(key, question).counts == (("4", 1), ("9", 1))


# --- expiry -----------------------------------------------------------------------------------------------------

def test_an_expired_class_is_gone_in_process_and_its_memory_freed():
    clock = Clock()
    store = InProcessClassStore(clock=clock)
    code, key = store.open_class()
    ann = store.join(code, "Ann")
    question = store.push(key, EXERCISE)
    store.answer(ann, question, "3")
    clock.now += 12 * 3600 - 1
    assert store.tally(key, question).answered == 1 and store.room(key).expires_in == pytest.approx(1)
    clock.now += 1
    assert error_key(lambda: store.current(code)) == "error.class.no_such_code"
    assert error_key(lambda: store.student(ann)) == "error.class.seat_gone"
    assert error_key(lambda: store.tally(key, question)) == "error.class.wrong_key"
    assert error_key(lambda: store.projector_room(projector_id(key))) == "error.class.projector_gone"
    assert (store._classes, store._keys, store._projectors, store._seats) == ({}, {}, {}, {})
    fresh, _ = store.open_class()  # dropping happens on any access, an open included
    assert list(store._classes) == [fresh]


def test_every_redis_key_of_a_class_expires_with_it(redis_url):
    from cnnviz.classroom.redis_store import RedisClassStore

    store = RedisClassStore(redis_url)
    store.redis.flushdb()
    code, key = store.open_class()
    ann = store.join(code, "Ann")
    question = store.push(key, PREDICT)
    store.answer(ann, question, "28")
    store.reveal(key, question, "28")
    store.register_run(ann, "watchId_123")
    ttls = {name.decode(): store.redis.pttl(name) for name in store.redis.scan_iter("*")}
    assert len(ttls) == 9  # class, names, questions, answers, runs, rate, lecturer key, projector id, seat
    rate = f"cnnviz:class:{code}:rate:1"
    assert 0 < ttls.pop(rate) <= 10_000
    assert all(12 * 3600 * 1000 - 60_000 < ttl <= 12 * 3600 * 1000 for ttl in ttls.values()), ttls


def test_a_redis_class_vanishes_at_its_expiry(redis_url):
    from cnnviz.classroom.redis_store import RedisClassStore

    store = RedisClassStore(redis_url, ClassConfig(expiry_seconds=0.5, rate_window_seconds=0.2))
    code, key = store.open_class()
    ann = store.join(code, "Ann")
    question = store.push(key, EXERCISE)
    store.answer(ann, question, "3")
    assert store.current(code).answered == 1  # alive before its expiry

    def gone() -> bool:
        return not any(code in name.decode() for name in store.redis.scan_iter("cnnviz:class*"))

    wait_until(gone, what="the class's keys to expire")
    assert error_key(lambda: store.current(code)) == "error.class.no_such_code"
    assert error_key(lambda: store.student(ann)) == "error.class.seat_gone"
    assert error_key(lambda: store.push(key, EXERCISE)) == "error.class.wrong_key"


# --- shared mode's edges ----------------------------------------------------------------------------------------

def test_a_store_that_is_down_says_the_class_is_unavailable():
    from cnnviz.classroom.redis_store import ClassUnavailable, RedisClassStore

    store = RedisClassStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(ClassUnavailable) as caught:
        store.current("KMNPRT")
    assert caught.value.message("en").startswith("The class service is unavailable right now")
    assert "课堂服务暂时不可用" in caught.value.message("zh")
    with pytest.raises(ClassUnavailable):
        store.open_class()


def test_the_store_follows_the_shared_mode_variable(monkeypatch, redis_url):
    from cnnviz.classroom.redis_store import RedisClassStore

    monkeypatch.delenv("CNNVIZ_REDIS_URL", raising=False)
    assert isinstance(class_store_from_env(), InProcessClassStore)
    monkeypatch.setenv("CNNVIZ_REDIS_URL", redis_url)
    store = class_store_from_env(ClassConfig(max_students=5))
    assert isinstance(store, RedisClassStore) and store.config.max_students == 5
    monkeypatch.setenv("CNNVIZ_REDIS_URL", "http://10.0.0.5")
    with pytest.raises(ValueError, match="CNNVIZ_REDIS_URL must be a redis://"):
        class_store_from_env()


# --- exact counts under concurrency -----------------------------------------------------------------------------

def answer_at_once(clients, tokens, question, answer_of) -> list[str]:
    """Every student answers at the same instant, half through each client; the errors, if any."""
    barrier, errors = threading.Barrier(len(tokens)), []

    def answer(index: int, token: str) -> None:
        barrier.wait()
        try:
            clients[index % len(clients)].answer(token, question, answer_of(index))
        except Exception as error:  # noqa: BLE001 - any lost answer fails the test below
            errors.append(repr(error))

    threads = [threading.Thread(target=answer, args=(index, token)) for index, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("students", [120])
def test_120_students_answering_at_once_are_counted_exactly(stores, students):
    first, second = stores()
    code, key = first.open_class()
    tokens = [(first, second)[index % 2].join(code, f"Student {index}") for index in range(students)]
    question = first.push(key, EXERCISE)

    assert answer_at_once((first, second), tokens, question, lambda index: str(index % 4)) == []
    tally = second.tally(key, question)
    assert (tally.students, tally.answered) == (students, students)
    assert tally.counts == tuple((str(answer), students // 4) for answer in range(4))

    # Everyone changes their mind at once: still one answer each, every one the new one.
    assert answer_at_once((second, first), tokens, question, lambda index: str(index % 3 + 10)) == []
    tally = first.tally(key, question)
    assert tally.answered == students and sum(count for _, count in tally.counts) == students
    assert tally.counts == tuple((str(answer), students // 3) for answer in (10, 11, 12))
    assert tally.names[:2] == (("Student 0", "10"), ("Student 1", "11"))
    assert first.current(code).answered == students


@settings(max_examples=25)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["3", "4", "4.0", " 5", "five"])), max_size=40))
def test_a_tally_counts_each_students_last_answer(sent):
    # Against a reference: whatever order students answer and change their minds in, the tally is the count of
    # each student's last answer.
    store = InProcessClassStore(ClassConfig(answers_per_window=100))
    code, key = store.open_class()
    tokens = [store.join(code, f"S{index}") for index in range(6)]
    question = store.push(key, EXERCISE)
    last: dict[int, str] = {}
    for student, answer in sent:
        assert store.answer(tokens[student], question, answer) is (student in last)
        last[student] = {"4.0": "4", " 5": "5"}.get(answer, answer)
    expected = sorted(Counter(last.values()).items(), key=lambda item: (-item[1], item[0]))
    tally = store.tally(key, question)
    assert (tally.answered, list(tally.counts)) == (len(last), expected)
    assert tally.names == tuple((f"S{student}", last[student]) for student in sorted(last))


# --- the join link's QR code ------------------------------------------------------------------------------------

def test_the_join_qr_code_decodes_to_the_link():
    import zxingcpp
    from PIL import Image

    url = "https://cnnviz.example.edu/class?join=KMNPRT"
    png = join_qr_png(url, scale=6)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    import segno

    modules = segno.make(url, error="m", micro=False).symbol_size(scale=1, border=4)[0]
    assert image.size == (modules * 6, modules * 6)
    assert [result.text for result in zxingcpp.read_barcodes(image.convert("L"))] == [url]


def test_the_join_qr_code_refuses_what_is_not_a_link():
    for bad in ("", "x" * 1001, None, b"https://x"):
        with pytest.raises(UserError, match="A join link must be text of 1 to 1000 characters"):
            join_qr_png(bad)
    with pytest.raises(UserError, match="scale must be an int of at least 1, got scale=0"):
        join_qr_png("https://x", scale=0)
