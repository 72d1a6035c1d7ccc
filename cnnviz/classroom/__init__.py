"""A class: a lecturer opens it, students join with a code, questions are pushed, answered, tallied and revealed.

The room's core, with no UI: ``ClassStore`` (``InProcessClassStore`` for one process, ``RedisClassStore`` in shared
mode; ``class_store_from_env`` picks), the limits in ``ClassConfig``, ``safe_name`` for views, ``join_qr_png``
for the projector and ``projector_id`` for its read-only link. What a question means (an exercise's problem and
answer) belongs to ``cnnviz.exercises`` and the pages: the store keeps a question's kind, seed and level, and the
answers as text.
"""
from cnnviz.classroom.qr import join_qr_png
from cnnviz.classroom.store import (CODE_ALPHABET, PREDICT, ClassConfig, ClassRun, ClassStore, Current,
                                    InProcessClassStore, OpenedClass, Question, Room, Seat, Tally,
                                    class_store_from_env, normalize_code, projector_id, safe_name)

__all__ = ["CODE_ALPHABET", "PREDICT", "ClassConfig", "ClassRun", "ClassStore", "Current", "InProcessClassStore",
           "OpenedClass", "Question", "Room", "Seat", "Tally", "class_store_from_env", "join_qr_png",
           "normalize_code", "projector_id", "safe_name"]
