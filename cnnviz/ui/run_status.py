"""A training run's live view: the progress bar, its line and the four live numbers as HTML, the live chart's data
and conv1's filters as a picture.

One home for what the Train page draws while a run trains and what the status route (cnnviz.ui.live_status) sends
to a browser polling it. Neither has a Streamlit script run behind it every time, so the language is explicit.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import fields
from html import escape
from typing import Any, TypeVar

from torch import nn

from cnnviz import train_figures
from cnnviz.data import TRAIN_SIZE
from cnnviz.i18n import t
from cnnviz.inspection import to_numpy
from cnnviz.jobs import JobSnapshot, Run, config_label
from cnnviz.model import ModelConfig, first_conv_weight
from cnnviz.train import TrainConfig, settled_eta
from cnnviz.ui.progress import progress_html

T = TypeVar("T")
SHARE_SECONDS = 1.0  # a room following one run shares the charts and pictures built within this long
_KEEP = 256  # entries (run, language, kind): a few kinds for each run being watched
_built: OrderedDict[tuple[str, str, str], tuple[float, Any]] = OrderedDict()
_built_lock = threading.Lock()

# The bar and the numbers are one element: four st.metric in columns cost the watching browser several times the
# work. 1.75rem values fit four to a row in the ~480 px the column has at 1280x720; on a phone (where Streamlit
# stacks the columns, below 640 px) they sit two by two.
NUMBERS_CSS = """<style>
.train-numbers { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 0.25rem 1rem;
                 margin: 0.25rem 0 0.5rem; }
@media (max-width: 640px) { .train-numbers { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.train-numbers > div { display: flex; flex-direction: column; min-width: 0; }
.train-numbers span { font-size: 0.875rem; opacity: 0.8; }
.train-numbers span[title] { text-decoration: underline dotted; cursor: help; }
.train-numbers b { font-size: 1.75rem; font-weight: 400; line-height: 1.25; font-variant-numeric: tabular-nums; }
</style>"""


def progress_text(snap: JobSnapshot, lang: str) -> str:
    """The progress line: state, step, epoch, images/s, time left and time spent."""
    latest = snap.latest
    speed = f"{latest.samples_per_second:,.0f}" if latest.samples_per_second else "–"
    eta_seconds = settled_eta(snap.steps)
    eta = t("train.eta", lang, seconds=f"{eta_seconds:.0f}") if eta_seconds is not None else t("train.eta_pending", lang)
    return t("train.progress", lang, state=t(f"train.state.{snap.state}", lang), step=latest.step,
             total=latest.total_steps, epoch=f"{latest.epoch:.2f}", speed=speed, eta=eta, elapsed=f"{latest.elapsed:.1f}")


def numbers_html(snap: JobSnapshot, lang: str) -> str:
    """The smoothed train loss and accuracy, the latest test accuracy and the learning rate, as one HTML grid."""
    tests = [m.test_accuracy for m in snap.evals if m.test_accuracy is not None]
    if snap.final is not None:  # the run's one result closes it, on every page
        tests.append(snap.final.accuracy)
    last = snap.steps[-1] if snap.steps else None
    numbers = [
        ("train.metric.loss", f"{train_figures.ema([m.loss for m in snap.steps])[-1]:.4f}" if last else "–",
         "train.metric.loss_help"),
        ("train.metric.train_acc", f"{train_figures.ema([m.accuracy for m in snap.steps])[-1]:.2%}" if last else "–", ""),
        ("train.metric.test_acc", f"{tests[-1]:.2%}" if tests else "–", "train.metric.test_acc_help"),
        ("train.metric.lr", f"{last.lr:.2g}" if last else "–", ""),
    ]
    cells = "".join(f"<div><span{_title(help_key, lang)}>{escape(t(label, lang))}</span><b>{escape(value)}</b></div>"
                    for label, value, help_key in numbers)
    return f'{NUMBERS_CSS}<div class="train-numbers">{cells}</div>'


def status_html(snap: JobSnapshot, lang: str, *, accent: str) -> str:
    """The bar (at the run's progress, or empty while its data loads) and the numbers; the numbers alone while the
    run waits in the queue."""
    numbers = numbers_html(snap, lang)
    if snap.latest is not None:
        fraction = snap.latest.step / max(snap.latest.total_steps, 1)
        return progress_html(fraction, progress_text(snap, lang), accent=accent) + numbers
    if snap.state != "queued":
        return progress_html(0.0, t("train.loading", lang), accent=accent) + numbers
    return numbers


def _title(help_key: str, lang: str) -> str:
    return f' title="{escape(t(help_key, lang))}"' if help_key else ""


def figure_text(lang: str) -> train_figures.FigureText:
    """The charts' words in ``lang`` (catalog keys "fig.<field>")."""
    return train_figures.FigureText(**{field.name: t(f"fig.{field.name}", lang)
                                       for field in fields(train_figures.FigureText)})


def run_label(model_cfg: ModelConfig, train_cfg: TrainConfig, lang: str) -> str:
    """A run's legend in the reader's language: a class watching in Chinese reads "3 轮" where its lecturer, who
    started the run in English, reads "3 ep"."""
    return config_label(model_cfg, train_cfg, epochs=t("train.label_epochs", lang),
                        images=t("train.label_images", lang), no_hidden=t("train.label_no_hidden", lang))


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
