"""A short class against a real server (bench/class_load.py): a lecturer and six light students, one question.

It runs in the suite so that a regression under concurrency shows: a lost or doubled answer, bars that disagree
with what was sent, an error box. It never asserts a time: the machine is shared.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scripts.serve_app import served_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import class_load  # noqa: E402  (bench/class_load.py)
from light_client import run_sync  # noqa: E402

pytestmark = pytest.mark.slow
STUDENTS = 6


@pytest.fixture(scope="module")
def result():
    with served_app(timeout=180) as served:
        yield run_sync(class_load.run_class([served.url], STUDENTS))


def test_the_lecturers_count_is_exact_and_the_bars_match_what_was_sent(result):
    assert result["final"] == (STUDENTS, STUDENTS)
    assert result["bars"] == result["sent"] and sum(result["sent"].values()) == STUDENTS


def test_every_student_saw_the_question_and_no_one_saw_an_error(result):
    assert all(seconds != float("inf") for seconds in result["push_to_seen"])
    assert all(seconds != float("inf") for seconds in result["answer_to_count"])
    assert result["errors"] == []
