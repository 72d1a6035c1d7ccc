"""What a training run looks like to a reader: its label, its progress line and live numbers, the live chart's data
and conv1's filters, and the model other pages look inside.

The Train page and the status route (cnnviz.ui.live_status) both read these; neither has a Streamlit script run
behind it every time, so the language is explicit. A room following one run shares what was built for it within
SHARE_SECONDS (``shared``).
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from torch import nn

from cnnviz import train_figures
from cnnviz.data import TRAIN_SIZE
from cnnviz.i18n import t
from cnnviz.inspection import to_numpy
from cnnviz.model import ModelConfig, first_conv_weight
from cnnviz.training.config import TrainConfig
from cnnviz.training.job import JobSnapshot
from cnnviz.training.loop import EvalResult, settled_eta
from cnnviz.training.registry import Run

T = TypeVar("T")
SHARE_SECONDS = 1.0  # a room following one run shares the charts and pictures built within this long
_KEEP = 256  # entries (run, language, kind): a few kinds for each run being watched
_built: OrderedDict[tuple[str, str, str], tuple[float, Any]] = OrderedDict()
_built_lock = threading.Lock()


def config_label(model_cfg: ModelConfig, train_cfg: TrainConfig, *, epochs: str = "{epochs} ep",
                 images: str = ", {images} imgs", no_hidden: str = "none") -> str:
    """A short legend entry: conv widths, optimizer, lr, epochs; ``epochs``, ``images`` and ``no_hidden`` word the
    counts and an empty fc (the UI passes them translated). ``images`` brings its own separator: Chinese joins
    clauses with a full-width comma."""
    convs = "-".join(str(b.channels) + ("bn" if b.batch_norm else "") for b in model_cfg.blocks)
    subset = images.format(images=train_cfg.subset) if train_cfg.subset else ""
    hidden = "-".join(map(str, model_cfg.hidden)) or no_hidden
    return (f"conv {convs} · fc {hidden} · {train_cfg.optimizer} lr {train_cfg.lr:g} · "
            f"{epochs.format(epochs=train_cfg.epochs)}{subset}")


def run_label(model_cfg: ModelConfig, train_cfg: TrainConfig, lang: str) -> str:
    """A run's legend in the reader's language: a class watching in Chinese reads "3 轮" where its lecturer, who
    started the run in English, reads "3 ep"."""
    return config_label(model_cfg, train_cfg, epochs=t("train.label_epochs", lang),
                        images=t("train.label_images", lang), no_hidden=t("train.label_no_hidden", lang))


def progress_text(snap: JobSnapshot, lang: str) -> str:
    """The progress line: state, step, epoch, images/s, time left and time spent."""
    latest = snap.latest
    speed = f"{latest.samples_per_second:,.0f}" if latest.samples_per_second else "–"
    eta_seconds = settled_eta(snap.steps)
    eta = t("train.eta", lang, seconds=f"{eta_seconds:.0f}") if eta_seconds is not None else t("train.eta_pending", lang)
    return t("train.progress", lang, state=t(f"train.state.{snap.state}", lang), step=latest.step,
             total=latest.total_steps, epoch=f"{latest.epoch:.2f}", speed=speed, eta=eta, elapsed=f"{latest.elapsed:.1f}")


def live_numbers(snap: JobSnapshot) -> tuple[tuple[str, str, str], ...]:
    """The four live numbers as (label key, value text, help key or ""): the smoothed train loss and accuracy, the
    latest test accuracy and the learning rate; "–" before the first step."""
    tests = [m.test_accuracy for m in snap.evals if m.test_accuracy is not None]
    if snap.final is not None:  # the run's one result closes it, on every page
        tests.append(snap.final.accuracy)
    last = snap.steps[-1] if snap.steps else None
    return (
        ("train.metric.loss", f"{train_figures.ema([m.loss for m in snap.steps])[-1]:.4f}" if last else "–",
         "train.metric.loss_help"),
        ("train.metric.train_acc", f"{train_figures.ema([m.accuracy for m in snap.steps])[-1]:.2%}" if last else "–", ""),
        ("train.metric.test_acc", f"{tests[-1]:.2%}" if tests else "–", "train.metric.test_acc_help"),
        ("train.metric.lr", f"{last.lr:.2g}" if last else "–", ""),
    )


def figure_text(lang: str) -> train_figures.FigureText:
    """The charts' words in ``lang`` (catalog keys "fig.<field>")."""
    return train_figures.FigureText(**{field.name: t(f"fig.{field.name}", lang)
                                       for field in fields(train_figures.FigureText)})


def curves(run: Run, snap: JobSnapshot, lang: str) -> tuple[train_figures.Curves, list[train_figures.Curves]]:
    """The run's curves and those of the runs before it, as both the live chart and the final figure draw them.
    The run itself is worded in ``lang``; the runs before it keep the words of the page that started them."""
    current = train_figures.curves_from(run_label(run.job.model_cfg, run.job.train_cfg, lang), snap.steps, snap.evals)
    return current, [train_figures.curves_from(p.label, p.steps, p.evals) for p in run.previous]


def live_chart_json(run: Run, snap: JobSnapshot, lang: str) -> str:
    """The live chart's data (cnnviz.ui.live_chart) as JSON text."""
    current, previous = curves(run, snap, lang)
    # Before the first step the axis already spans the whole run, so the curves never rescale it.
    total = snap.latest.total_steps if snap.latest else run.job.train_cfg.total_steps(TRAIN_SIZE)
    data = train_figures.live_chart_data(current, previous, figure_text(lang), total_steps=total)
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def filters_png(model: nn.Module) -> bytes:
    """conv1's filters as a PNG grid."""
    return train_figures.filters_png(to_numpy(first_conv_weight(model)))


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


@dataclass(frozen=True)
class InspectedModel:
    """The model other pages look inside: a run's live model or a loaded checkpoint's."""

    model: nn.Module  # the live model: read it, never train it
    config: ModelConfig
    source: str  # "run" or "checkpoint"
    label: str  # what to call it on the page
    trained: bool  # False while a run has not taken a step yet
    key: str = ""  # names these weights: the run's id and step, or the checkpoint's upload (a cache key for copies)
    final: EvalResult | None = None  # a finished run's own final evaluation: its mistakes, as the Train page shows


def inspect_run(run: Run, lang: str) -> InspectedModel | None:
    """A run's live model as other pages look inside it; None once its weights are gone."""
    model = run.job.model
    if model is None:
        return None
    snap = run.job.snapshot()
    label = run_label(run.job.model_cfg, run.job.train_cfg, lang)
    return InspectedModel(model, run.job.model_cfg, "run", label, bool(snap.steps), f"run:{run.id}:{len(snap.steps)}",
                          snap.final)
