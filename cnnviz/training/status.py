"""What a training run looks like to a reader: its label, its progress line and live numbers, and the model other
pages look inside. Its pictures (the live chart, conv1's filters) are drawn a floor up, in cnnviz.pages.train_live.

The Train page and the status route (cnnviz.ui.live_status) both read these; neither has a Streamlit script run
behind it every time, so the language is explicit.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from cnnviz.i18n import t
from cnnviz.model import ModelConfig
from cnnviz.training.config import TrainConfig
from cnnviz.training.job import FINISHED, JobSnapshot, QueueLine
from cnnviz.training.loop import EvalResult, ema, settled_eta
from cnnviz.training.registry import Run

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
    if snap.state in FINISHED:  # nothing is left: no estimate of the time left
        return t("train.progress_ended", lang, state=t(f"train.state.{snap.state}", lang), step=latest.step,
                 total=latest.total_steps, epoch=f"{latest.epoch:.2f}", speed=speed, elapsed=f"{latest.elapsed:.1f}")
    eta_seconds = settled_eta(snap.steps)
    eta = t("train.eta", lang, seconds=f"{eta_seconds:.0f}") if eta_seconds is not None else t("train.eta_pending", lang)
    return t("train.progress", lang, state=t(f"train.state.{snap.state}", lang), step=latest.step,
             total=latest.total_steps, epoch=f"{latest.epoch:.2f}", speed=speed, eta=eta, elapsed=f"{latest.elapsed:.1f}")


def ordinal(number: int, lang: str = "en") -> str:
    """A place in line: 1st, 2nd, 3rd, 4th, 11th, 21st in English; 第 3 in Chinese. Ordinals follow each language's
    own rule, as plurals do, so they are made here rather than looked up."""
    if lang == "zh":
        return f"第 {number} "
    if number % 100 in (11, 12, 13):
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def queue_text(line: QueueLine, lang: str) -> str:
    """A shared run's place in line and the wait, e.g. "3rd in line, about 20 s"; or that no worker will take it."""
    if line.wait_seconds is None:
        return t("train.queued_no_worker", lang, place=ordinal(line.place, lang))
    return t("train.queued_shared", lang, place=ordinal(line.place, lang),
             seconds=f"{max(1, round(line.wait_seconds)):,}", workers=line.workers)


def live_numbers(snap: JobSnapshot) -> tuple[tuple[str, str, str], ...]:
    """The four live numbers as (label key, value text, help key or ""): the smoothed train loss and accuracy, the
    latest test accuracy and the learning rate; "–" before the first step."""
    tests = [m.test_accuracy for m in snap.evals if m.test_accuracy is not None]
    if snap.final is not None:  # the run's one result closes it, on every page
        tests.append(snap.final.accuracy)
    last = snap.steps[-1] if snap.steps else None
    return (
        ("train.metric.loss", f"{ema([m.loss for m in snap.steps])[-1]:.4f}" if last else "–",
         "train.metric.loss_help"),
        ("train.metric.train_acc", f"{ema([m.accuracy for m in snap.steps])[-1]:.2%}" if last else "–", ""),
        ("train.metric.test_acc", f"{tests[-1]:.2%}" if tests else "–", "train.metric.test_acc_help"),
        ("train.metric.lr", f"{last.lr:.2g}" if last else "–", ""),
    )


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
