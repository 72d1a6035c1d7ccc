"""The live view of a training run, as the Train page and the status route draw it: the chart's data and conv1's
filters, each built once for a whole room (``shared``): twenty students following one run share one build of each
within SHARE_SECONDS.

A floor above training and the figures: it reads a run (cnnviz.training) and draws with cnnviz.figures.training.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from torch import nn

from cnnviz.analysis.inspection import to_numpy
from cnnviz.data import TRAIN_SIZE
from cnnviz.figures import training
from cnnviz.i18n import t
from cnnviz.model import first_conv_weight
from cnnviz.training.job import JobSnapshot
from cnnviz.training.registry import Run
from cnnviz.training.status import run_label

T = TypeVar("T")
SHARE_SECONDS = 1.0  # a room following one run shares the charts and pictures built within this long
_KEEP = 256  # entries (run, language, kind): a few kinds for each run being watched
_built: OrderedDict[tuple[str, str, str], tuple[float, Any]] = OrderedDict()
_built_lock = threading.Lock()


def figure_text(lang: str) -> training.FigureText:
    """The charts' words in ``lang`` (catalog keys "fig.<field>")."""
    return training.FigureText(**{field.name: t(f"fig.{field.name}", lang)
                                  for field in fields(training.FigureText)})


def curves(run: Run, snap: JobSnapshot, lang: str) -> tuple[training.Curves, list[training.Curves]]:
    """The run's curves and those of the runs before it, as both the live chart and the final figure draw them.
    The run itself is worded in ``lang``; the runs before it keep the words of the page that started them."""
    current = training.curves_from(run_label(run.job.model_cfg, run.job.train_cfg, lang), snap.steps, snap.evals)
    return current, [training.curves_from(p.label, p.steps, p.evals) for p in run.previous]


def live_chart_json(run: Run, snap: JobSnapshot, lang: str) -> str:
    """The live chart's data (cnnviz.ui.live_chart) as JSON text."""
    current, previous = curves(run, snap, lang)
    # Before the first step the axis already spans the whole run, so the curves never rescale it.
    total = snap.latest.total_steps if snap.latest else run.job.train_cfg.total_steps(TRAIN_SIZE)
    data = training.live_chart_data(current, previous, figure_text(lang), total_steps=total)
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def filters_png(model: nn.Module) -> bytes:
    """conv1's filters as a PNG grid."""
    return training.filters_png(to_numpy(first_conv_weight(model)))


def shared_chart(run: Run, snap: JobSnapshot, lang: str) -> str:
    """The live chart's JSON text, as every page and poll following the run shares it (``shared``)."""
    return shared(run, lang, "chart", lambda: live_chart_json(run, snap, lang))


def shared_filters(run: Run, model: nn.Module, lang: str) -> bytes:
    """conv1's filters while the run trains, as every page and poll following it shares them (``shared``)."""
    return shared(run, lang, "filters", lambda: filters_png(model))


def shared(run: Run, lang: str, kind: str, build: Callable[[], T], *, max_age: float = SHARE_SECONDS) -> T:
    """``build()``, or what it returned for this run, language and ``kind`` within ``max_age`` seconds. Twenty
    students following one run, by their pages or by the status route, share one build of each chart, picture and
    answer (a race builds one twice, which is harmless)."""
    key, now = (run.id, lang, kind), time.monotonic()
    with _built_lock:
        entry = _built.get(key)
        if entry is not None and now - entry[0] <= max_age:
            return entry[1]
    value = build()
    with _built_lock:
        _built[key] = (now, value)
        _built.move_to_end(key)
        while len(_built) > _KEEP:
            _built.popitem(last=False)
    return value


def clear_shared() -> None:
    """Forget every shared build (for tests that count builds)."""
    with _built_lock:
        _built.clear()
