"""Training metrics -> plotly figures and PNGs. Nothing here trains or evaluates."""
from __future__ import annotations

import functools
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from PIL import Image, ImageDraw, ImageFont

from cnnviz.figures.maps import colourise, png_bytes
from cnnviz.training.loop import Metrics, ema

RUN_COLOURS = ("#d9480f", "#1c7ed6", "#2b8a3e", "#7048e8")  # current run first, then older runs


@dataclass(frozen=True)
class FigureText:
    """Every word on the training charts. The UI passes them translated; the defaults are the English.

    Fields ending in ``_at`` are templates whose {placeholders} the builders fill with plotly's hover tokens.
    """

    loss: str = "loss"  # title of the loss chart
    accuracy: str = "accuracy"  # title of the accuracy chart
    learning_rate: str = "learning rate"  # title of the learning-rate chart, and its hover label
    step: str = "step"  # x-axis title: optimizer steps
    step_at: str = "step {step}: {value}"  # hover on any curve
    this_run: str = "{label} (this run)"  # legend entry of the run being trained, beside older runs
    raw_loss: str = "raw loss"  # hover label of the unsmoothed loss
    train_loss: str = "train loss (smoothed)"  # hover labels of each curve
    test_loss: str = "test loss"
    train_accuracy: str = "train accuracy (smoothed)"
    test_accuracy: str = "test accuracy"
    test_points: str = "test set"  # the live chart's legend entry for the test-set measurements (diamonds)
    true_digit: str = "true digit"  # confusion matrix: row axis
    predicted_digit: str = "predicted digit"  # confusion matrix: column axis
    confusion_at: str = "true {true}, predicted {predicted}: {count}"  # hover on a confusion cell
    digit: str = "digit"  # per-digit accuracy: x axis
    digit_at: str = "digit {digit}: {accuracy}"  # hover on a per-digit bar


ENGLISH = FigureText()


def _step_hover(text: FigureText, value: str, label: str) -> str:
    return text.step_at.format(step="%{x}", value=value) + f"<extra>{label}</extra>"


@dataclass(frozen=True)
class Curves:
    """Plain lists for plotting one run: per step and per evaluation."""

    label: str
    steps: list[int]
    loss: list[float]
    accuracy: list[float]
    lr: list[float]
    eval_steps: list[int]
    test_loss: list[float]
    test_accuracy: list[float]


def thin(values: Sequence, limit: int = 600) -> list:
    """Every k-th value so a curve has at most ``limit`` points (the last one always kept)."""
    stride = max(1, -(-len(values) // limit))
    kept = list(values[::stride])
    if values and (len(values) - 1) % stride:
        kept.append(values[-1])
    return kept


def curves_from(label: str, steps: Sequence[Metrics], evals: Sequence[Metrics]) -> Curves:
    tests = [m for m in evals if m.test_accuracy is not None and m.kind in ("eval", "epoch")]
    return Curves(
        label=label,
        steps=[m.step for m in steps], loss=[m.loss for m in steps], accuracy=[m.accuracy for m in steps],
        lr=[m.lr for m in steps],
        eval_steps=[m.step for m in tests], test_loss=[m.test_loss for m in tests],
        test_accuracy=[m.test_accuracy for m in tests],
    )


def _test_points(steps, values, colour: str, group: str, hover: str) -> go.Scatter:
    """Test-set measurements: dotted diamonds, since they are sparse samples, not a per-step curve."""
    return go.Scatter(x=steps, y=values, mode="markers+lines", line={"color": colour, "dash": "dot"},
                      marker={"symbol": "diamond"}, legendgroup=group, showlegend=False, hovertemplate=hover)


def training_figure(current: Curves, previous: Sequence[Curves] = (), text: FigureText = ENGLISH) -> go.Figure:
    """Loss, accuracy and learning rate side by side; older runs dashed for comparison."""
    figure = make_subplots(rows=1, cols=3, subplot_titles=(text.loss, text.accuracy, text.learning_rate),
                           horizontal_spacing=0.07)
    runs = [(current, RUN_COLOURS[0], True)] + [(run, RUN_COLOURS[1 + i % 3], False) for i, run in enumerate(previous)]
    for run, colour, is_current in runs:
        run = _thinned(run)
        dash = None if is_current else "dash"
        name = run.label if not is_current else text.this_run.format(label=run.label)
        if is_current:
            figure.add_trace(go.Scatter(x=run.steps, y=run.loss, mode="lines", line={"color": colour, "width": 1},
                                          opacity=0.25, name=text.raw_loss, legendgroup=name, showlegend=False,
                                          hovertemplate=_step_hover(text, "%{y:.4f}", text.raw_loss)), 1, 1)
        figure.add_trace(go.Scatter(x=run.steps, y=run.loss_smooth, mode="lines", line={"color": colour, "dash": dash},
                                      name=name, legendgroup=name,
                                      hovertemplate=_step_hover(text, "%{y:.4f}", text.train_loss)), 1, 1)
        figure.add_trace(_test_points(run.eval_steps, run.test_loss, colour, name,
                                      _step_hover(text, "%{y:.4f}", text.test_loss)), 1, 1)
        figure.add_trace(go.Scatter(x=run.steps, y=run.accuracy_smooth, mode="lines", line={"color": colour, "dash": dash},
                                      legendgroup=name, showlegend=False,
                                      hovertemplate=_step_hover(text, "%{y:.2%}", text.train_accuracy)), 1, 2)
        figure.add_trace(_test_points(run.eval_steps, run.test_accuracy, colour, name,
                                      _step_hover(text, "%{y:.2%}", text.test_accuracy)), 1, 2)
        figure.add_trace(go.Scatter(x=run.steps, y=run.lr, mode="lines", line={"color": colour, "dash": dash},
                                      legendgroup=name, showlegend=False,
                                      hovertemplate=_step_hover(text, "%{y:.3g}", text.learning_rate)), 1, 3)
    figure.update_yaxes(tickformat=".0%", row=1, col=2)
    figure.update_xaxes(title_text=text.step)
    figure.update_layout(height=330, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                         legend={"orientation": "h", "y": -0.25}, hovermode="closest")
    return figure


@dataclass(frozen=True)
class _Thinned:
    label: str
    steps: list[int]
    loss: list[float]
    loss_smooth: list[float]
    accuracy_smooth: list[float]
    lr: list[float]
    eval_steps: list[int]
    test_loss: list[float]
    test_accuracy: list[float]


def _thinned(run: Curves) -> _Thinned:
    # Smooth on every step, then keep at most ~600 points: the browser redraws these every second.
    return _Thinned(run.label, thin(run.steps), thin(run.loss), thin(ema(run.loss)), thin(ema(run.accuracy)), thin(run.lr),
                    run.eval_steps, run.test_loss, run.test_accuracy)


LIVE_POINTS = 300  # points per live curve: more than a ~250 px wide panel can show, few enough to send every update


def _rounded(values: Sequence[float], digits: int = 4) -> list[float | None]:
    """``digits`` significant digits (a canvas cannot show more, and the JSON sent every update stays small); a value
    that is not finite (a diverged run) becomes None, a gap in the line: JSON has no NaN."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in values]


def _line(steps: Sequence[int], values: Sequence[float], colour: str, style: str, limit: int) -> dict:
    return {"x": thin(list(steps), limit), "y": _rounded(thin(list(values), limit)), "colour": colour, "style": style}


def live_chart_data(current: Curves, previous: Sequence[Curves] = (), text: FigureText = ENGLISH, *,
                    total_steps: int = 0, limit: int = LIVE_POINTS) -> dict:
    """What the Train page's live chart draws while a run trains: the curves of ``training_figure``, as JSON.

    Three panels (loss, accuracy, learning rate), each a list of lines drawn in order (older runs first, so this
    run's lines lie on top). A line is ``{"x": steps, "y": values, "colour", "style"}`` with style "solid" (this
    run), "dash" (an older run), "faint" (this run's raw loss) or "points" (test-set measurements); every per-step
    line keeps at most ``limit`` points (``thin``), after smoothing on every step. The x axis spans ``total_steps``
    (the run's planned length) or the longest run drawn, so the curve grows from left to right instead of the axis
    rescaling at every update.

    Raises:
        ValueError: ``limit`` is below 2 or ``total_steps`` is negative.
    """
    if limit < 2:
        raise ValueError(f"a live curve needs at least 2 points, got limit={limit}")
    if total_steps < 0:
        raise ValueError(f"total_steps must be 0 or more, got total_steps={total_steps}")
    runs = [(run, RUN_COLOURS[1 + i % 3], "dash") for i, run in reversed(list(enumerate(previous)))]
    runs.append((current, RUN_COLOURS[0], "solid"))
    loss, accuracy, lr = [], [], []
    for run, colour, style in runs:
        if style == "solid":
            loss.append(_line(run.steps, run.loss, colour, "faint", limit))
        loss.append(_line(run.steps, ema(run.loss), colour, style, limit))
        loss.append({"x": list(run.eval_steps), "y": _rounded(run.test_loss), "colour": colour, "style": "points"})
        accuracy.append(_line(run.steps, ema(run.accuracy), colour, style, limit))
        accuracy.append({"x": list(run.eval_steps), "y": _rounded(run.test_accuracy), "colour": colour,
                         "style": "points"})
        lr.append(_line(run.steps, run.lr, colour, style, limit))
    longest = max((run.steps[-1] for run, _, _ in runs if run.steps), default=0)
    legend = [{"label": text.this_run.format(label=current.label), "colour": RUN_COLOURS[0], "style": "solid"}]
    legend += [{"label": run.label, "colour": RUN_COLOURS[1 + i % 3], "style": "dash"} for i, run in enumerate(previous)]
    return {
        "panels": [{"title": text.loss, "format": "number", "lines": loss},
                   {"title": text.accuracy, "format": "percent", "lines": accuracy},
                   {"title": text.learning_rate, "format": "number", "lines": lr}],
        "x_title": text.step, "x_max": max(total_steps, longest, 1), "legend": legend,
        "points_label": text.test_points,
    }


PROJECTOR_FONT = 16  # chart text readable from the back of a lecture hall


def confusion_figure(matrix: np.ndarray, text: FigureText = ENGLISH) -> go.Figure:
    """Counts[true, predicted] with every count written in its cell; the diagonal is what the model gets right.

    Both axes are categories, so every digit has a tick and no empty bands appear around the square.
    """
    labels = [str(i) for i in range(matrix.shape[0])]
    shown = np.log1p(matrix)  # log colour: the few mistakes stay visible next to ~1000 correct per class
    figure = go.Figure(go.Heatmap(
        z=shown, x=labels, y=labels, customdata=matrix, colorscale="Oranges", showscale=False, xgap=1, ygap=1,
        text=matrix, texttemplate="%{text}", textfont={"size": 13},
        hovertemplate=text.confusion_at.format(true="%{y}", predicted="%{x}", count="%{customdata}") + "<extra></extra>",
    ))
    figure.update_yaxes(type="category", autorange="reversed", title_text=text.true_digit, tickfont={"size": PROJECTOR_FONT})
    figure.update_xaxes(type="category", title_text=text.predicted_digit, side="top", tickfont={"size": PROJECTOR_FONT})
    figure.update_layout(height=460, margin={"l": 10, "r": 10, "t": 50, "b": 10}, font={"size": PROJECTOR_FONT})
    return figure


def per_class_figure(matrix: np.ndarray, text: FigureText = ENGLISH) -> go.Figure:
    totals = matrix.sum(axis=1)
    accuracy = np.divide(np.diag(matrix), totals, out=np.zeros(len(totals)), where=totals > 0)
    figure = go.Figure(go.Bar(x=[str(i) for i in range(len(accuracy))], y=accuracy, marker_color="#d9480f",
                              text=[f"{a:.1%}" for a in accuracy], textposition="outside", textfont={"size": 13},
                              hovertemplate=text.digit_at.format(digit="%{x}", accuracy="%{y:.2%}") + "<extra></extra>"))
    low = max(0.0, float(accuracy.min()) - 0.05) if len(accuracy) else 0.0
    figure.update_yaxes(range=[low, 1.01], tickformat=".0%", tickfont={"size": PROJECTOR_FONT})
    figure.update_xaxes(type="category", title_text=text.digit, tickfont={"size": PROJECTOR_FONT})
    figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 20, "b": 10}, font={"size": PROJECTOR_FONT})
    return figure


def filters_png(weights: np.ndarray, cell: int = 48, columns: int = 8) -> bytes:
    """conv1's filters (out, in, kh, kw) as a grid, each on its own diverging scale centred on 0."""
    filters = weights[:, 0] if weights.ndim == 4 else weights  # (out, kh, kw): first input channel
    count, kh, kw = filters.shape
    rows = -(-count // columns)
    scale = max(1, cell // max(kh, kw))
    gap = 4
    canvas = np.full((rows * (kh * scale + gap) + gap, min(count, columns) * (kw * scale + gap) + gap, 3), 255, np.uint8)
    for index, kernel in enumerate(filters):
        peak = np.abs(kernel).max() or 1.0
        tile = colourise(kernel / peak, signed=True)  # (kh, kw, 3)
        tile = np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)  # nearest neighbour, never blurred
        r, c = divmod(index, columns)
        top, left = gap + r * (kh * scale + gap), gap + c * (kw * scale + gap)
        canvas[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
    return png_bytes(canvas)


# Fonts with Chinese glyphs where Debian (fonts-noto-cjk, which CI installs), Fedora, Arch, macOS and Windows keep
# them; fc-list is asked when none of these exists.
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
GALLERY_FONT = 17  # px: the gallery's labels
ENGLISH_TRUE = "true"  # the gallery's label when the one asked for cannot be drawn


@functools.lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """A font file that can draw Simplified Chinese, or None when the machine has none."""
    for path in CJK_FONT_PATHS:
        if Path(path).is_file():
            return path
    try:
        listing = subprocess.run(["fc-list", ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = [line.split(":")[0].strip() for line in listing.splitlines() if line.strip()]
    files = [f for f in files if Path(f).is_file()]
    # Sans before serif, then a stable order: the same font on every run.
    return min(files, key=lambda f: ("serif" in f.lower(), f), default=None)


@functools.lru_cache(maxsize=4)
def _cjk_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    # A .ttc holds several faces (JP, KR, SC, TC...): the SC face draws Simplified Chinese the way readers expect.
    for index in range(10):
        try:
            font = ImageFont.truetype(path, size, index=index)
        except OSError:
            break
        if "SC" in font.getname()[0].split():
            return font
    return ImageFont.truetype(path, size)


def label_font(text: str, fallback: str, size: int = GALLERY_FONT) -> tuple[ImageFont.ImageFont, str]:
    """(a font, the text to draw with it): PIL's default font for ASCII, a CJK font for anything else, and
    ``fallback`` (English) in the default font when no CJK font is installed, so a label never shows boxes."""
    if text.isascii():
        return ImageFont.load_default(size=size), text
    path = cjk_font_path()
    if path is None:
        return ImageFont.load_default(size=size), fallback
    return _cjk_font(path, size), text


def gallery_png(pixels: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, indices: Sequence[int],
                columns: int = 6, scale: int = 4, *, true_label: str = ENGLISH_TRUE) -> bytes:
    """Misclassified digits, each with its true label and its top-3 guesses on lines of their own underneath.

    ``true_label`` may be in any language: see ``label_font`` for what happens without a font for it.
    """
    font = ImageFont.load_default(size=GALLERY_FONT)
    label_face, true_label = label_font(true_label, ENGLISH_TRUE)
    side, line = 28 * scale, 22
    tile_w, tile_h = side + 44, side + 10 + 4 * line
    rows = max(1, -(-len(indices) // columns))
    canvas = Image.new("RGB", (columns * tile_w, rows * tile_h), "white")
    draw = ImageDraw.Draw(canvas)
    for position, index in enumerate(indices):
        r, c = divmod(position, columns)
        left, top = c * tile_w + 22, r * tile_h
        digit = Image.fromarray(255 - pixels[index]).resize((side, side), Image.Resampling.NEAREST)
        canvas.paste(digit, (left, top + 4))
        y = top + side + 8
        draw.text((left, y), f"{true_label} {labels[index]}", fill="#111827", font=label_face)
        for rank, k in enumerate(np.argsort(probabilities[index])[::-1][:3]):
            colour = "#b91c1c" if rank == 0 else "#6b7280"
            draw.text((left, y + (rank + 1) * line), f"{k}: {probabilities[index][k]:.0%}", fill=colour, font=font)
    return png_bytes(np.asarray(canvas))


def metrics_csv(steps: Sequence[Metrics], evals: Sequence[Metrics]) -> str:
    """Every record as CSV, one row each, in step order."""
    records = sorted([*steps, *evals], key=lambda m: (m.step, m.kind != "step"))
    columns = ["kind", "step", "epoch", "loss", "accuracy", "lr", "samples_per_second", "elapsed", "test_loss", "test_accuracy"]
    lines = [",".join(columns)]
    for record in records:
        row = record.to_dict()
        lines.append(",".join("" if row[c] is None else (f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]))
                              for c in columns))
    return "\n".join(lines) + "\n"
