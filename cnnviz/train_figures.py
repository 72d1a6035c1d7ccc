"""Training metrics -> plotly figures and PNGs. Nothing here trains or evaluates."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from PIL import Image, ImageDraw, ImageFont

from cnnviz.figures import colourise, png_bytes
from cnnviz.train import Metrics

RUN_COLOURS = ("#d9480f", "#1c7ed6", "#2b8a3e", "#7048e8")  # current run first, then older runs


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


def ema(values: Sequence[float], alpha: float = 0.05) -> list[float]:
    """Exponential moving average, bias-corrected so the first values are not pulled towards 0."""
    out, average = [], 0.0
    for index, value in enumerate(values, start=1):
        average = (1 - alpha) * average + alpha * value
        out.append(average / (1 - (1 - alpha) ** index))
    return out


def _test_points(steps, values, colour: str, group: str, value_format: str, label: str) -> go.Scatter:
    """Test-set measurements: dotted diamonds, since they are sparse samples, not a per-step curve."""
    return go.Scatter(x=steps, y=values, mode="markers+lines", line={"color": colour, "dash": "dot"},
                      marker={"symbol": "diamond"}, legendgroup=group, showlegend=False,
                      hovertemplate=f"step %{{x}}: {value_format}<extra>{label}</extra>")


def training_figure(current: Curves, previous: Sequence[Curves] = ()) -> go.Figure:
    """Loss, accuracy and learning rate side by side; older runs dashed for comparison."""
    figure = make_subplots(rows=1, cols=3, subplot_titles=("loss", "accuracy", "learning rate"), horizontal_spacing=0.07)
    runs = [(current, RUN_COLOURS[0], True)] + [(run, RUN_COLOURS[1 + i % 3], False) for i, run in enumerate(previous)]
    for run, colour, is_current in runs:
        run = _thinned(run)
        dash = None if is_current else "dash"
        name = run.label if not is_current else f"{run.label} (this run)"
        if is_current:
            figure.add_trace(go.Scatter(x=run.steps, y=run.loss, mode="lines", line={"color": colour, "width": 1},
                                          opacity=0.25, name="train loss (raw)", legendgroup=name, showlegend=False,
                                          hovertemplate="step %{x}: %{y:.4f}<extra>raw loss</extra>"), 1, 1)
        figure.add_trace(go.Scatter(x=run.steps, y=run.loss_smooth, mode="lines", line={"color": colour, "dash": dash},
                                      name=name, legendgroup=name,
                                      hovertemplate="step %{x}: %{y:.4f}<extra>train loss (smoothed)</extra>"), 1, 1)
        figure.add_trace(_test_points(run.eval_steps, run.test_loss, colour, name, "%{y:.4f}", "test loss"), 1, 1)
        figure.add_trace(go.Scatter(x=run.steps, y=run.accuracy_smooth, mode="lines", line={"color": colour, "dash": dash},
                                      legendgroup=name, showlegend=False,
                                      hovertemplate="step %{x}: %{y:.2%}<extra>train accuracy (smoothed)</extra>"), 1, 2)
        figure.add_trace(_test_points(run.eval_steps, run.test_accuracy, colour, name, "%{y:.2%}", "test accuracy"), 1, 2)
        figure.add_trace(go.Scatter(x=run.steps, y=run.lr, mode="lines", line={"color": colour, "dash": dash},
                                      legendgroup=name, showlegend=False,
                                      hovertemplate="step %{x}: %{y:.3g}<extra>learning rate</extra>"), 1, 3)
    figure.update_yaxes(tickformat=".0%", row=1, col=2)
    figure.update_xaxes(title_text="step")
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


PROJECTOR_FONT = 16  # chart text readable from the back of a lecture hall


def confusion_figure(matrix: np.ndarray) -> go.Figure:
    """Counts[true, predicted] with every count written in its cell; the diagonal is what the model gets right.

    Both axes are categories, so every digit has a tick and no empty bands appear around the square.
    """
    labels = [str(i) for i in range(matrix.shape[0])]
    shown = np.log1p(matrix)  # log colour: the few mistakes stay visible next to ~1000 correct per class
    figure = go.Figure(go.Heatmap(
        z=shown, x=labels, y=labels, customdata=matrix, colorscale="Oranges", showscale=False, xgap=1, ygap=1,
        text=matrix, texttemplate="%{text}", textfont={"size": 13},
        hovertemplate="true %{y}, predicted %{x}: %{customdata}<extra></extra>",
    ))
    figure.update_yaxes(type="category", autorange="reversed", title_text="true digit", tickfont={"size": PROJECTOR_FONT})
    figure.update_xaxes(type="category", title_text="predicted digit", side="top", tickfont={"size": PROJECTOR_FONT})
    figure.update_layout(height=460, margin={"l": 10, "r": 10, "t": 50, "b": 10}, font={"size": PROJECTOR_FONT})
    return figure


def per_class_figure(matrix: np.ndarray) -> go.Figure:
    totals = matrix.sum(axis=1)
    accuracy = np.divide(np.diag(matrix), totals, out=np.zeros(len(totals)), where=totals > 0)
    figure = go.Figure(go.Bar(x=[str(i) for i in range(len(accuracy))], y=accuracy, marker_color="#d9480f",
                              text=[f"{a:.1%}" for a in accuracy], textposition="outside", textfont={"size": 13},
                              hovertemplate="digit %{x}: %{y:.2%}<extra></extra>"))
    low = max(0.0, float(accuracy.min()) - 0.05) if len(accuracy) else 0.0
    figure.update_yaxes(range=[low, 1.01], tickformat=".0%", tickfont={"size": PROJECTOR_FONT})
    figure.update_xaxes(type="category", title_text="digit", tickfont={"size": PROJECTOR_FONT})
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


def gallery_png(pixels: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, indices: Sequence[int],
                columns: int = 6, scale: int = 4, *, true_label: str = "true") -> bytes:
    """Misclassified digits, each with its true label and its top-3 guesses on lines of their own underneath."""
    font = ImageFont.load_default(size=17)
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
        draw.text((left, y), f"{true_label} {labels[index]}", fill="#111827", font=font)
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
