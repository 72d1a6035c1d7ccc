"""1-D signals -> plotly figures: a signal and its convolution with one output's window marked, and a dilated causal
stack drawn WaveNet-style. They draw what they are given and never convolve."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

INPUT_COLOUR = "#1c7ed6"  # the signal
OUTPUT_COLOUR = "#2b8a3e"  # the convolution's output
CHOSEN_COLOUR = "#d9480f"  # the chosen output and everything it reads
IDLE_COLOUR = "#ced4da"  # dots that play no part in the chosen output
CHART_FONT = 15  # axis text readable on a projector


@dataclass(frozen=True)
class SignalText:
    """Every word on the two figures; the UI passes them translated, the defaults are the English. Fields ending in
    ``_at`` are hover templates whose {placeholders} the builders fill with plotly's tokens."""

    input: str = "input x[n]"  # title of the input chart
    output: str = "output y[t]"  # title of the output chart
    padding: str = "padding (zeros)"  # legend of the padding dots
    window: str = "read by y[{index}]"  # legend of the chosen output's taps
    input_at: str = "x[{n}] = {v}"  # hover on an input dot
    output_at: str = "y[{t}] = {v}"  # hover on an output dot
    stack_input: str = "input"  # the stack's bottom row
    stack_layer: str = "d = {d}"  # one layer's row
    stack_at: str = "row {row}, position {position}"  # hover on a stack dot


ENGLISH = SignalText()


def signal_figure(signal: np.ndarray, output: np.ndarray, *, pad_before: int, pad_after: int, taps: Sequence[int],
                  index: int, stride: int = 1, text: SignalText = ENGLISH) -> go.Figure:
    """The input (its padding as hollow dots at 0) over the output, with the taps output ``index`` reads and
    the output itself in the highlight colour. At stride 1 both charts share one horizontal scale, so y[t] stands
    under x[t]: a causal filter's output visibly lags its input."""
    n = len(signal)
    figure = make_subplots(rows=2, cols=1, subplot_titles=(text.input, text.output), vertical_spacing=0.2)
    figure.add_trace(go.Scatter(x=list(range(n)), y=signal, mode="lines+markers", line={"color": INPUT_COLOUR},
                                marker={"size": 6}, showlegend=False,
                                hovertemplate=text.input_at.format(n="%{x}", v="%{y:.4g}") + "<extra></extra>"),
                     1, 1)
    padding = list(range(-pad_before, 0)) + list(range(n, n + pad_after))
    if padding:
        figure.add_trace(go.Scatter(x=padding, y=[0] * len(padding), mode="markers", name=text.padding,
                                    marker={"size": 8, "color": "white", "line": {"color": "#868e96", "width": 1.5}},
                                    hovertemplate=text.input_at.format(n="%{x}", v="0") + "<extra></extra>"), 1, 1)
    tap_values = [float(signal[p]) if 0 <= p < n else 0.0 for p in taps]
    figure.add_trace(go.Scatter(x=list(taps), y=tap_values, mode="markers", name=text.window.format(index=index),
                                marker={"size": 12, "color": CHOSEN_COLOUR, "symbol": "circle-open",
                                        "line": {"width": 3}}, hoverinfo="skip"), 1, 1)
    figure.add_vrect(x0=min(taps) - 0.5, x1=max(taps) + 0.5, fillcolor=CHOSEN_COLOUR, opacity=0.08, line_width=0,
                     row=1, col=1)
    colours = [CHOSEN_COLOUR if t == index else OUTPUT_COLOUR for t in range(len(output))]
    sizes = [12 if t == index else 6 for t in range(len(output))]
    figure.add_trace(go.Scatter(x=list(range(len(output))), y=output, mode="lines+markers",
                                line={"color": OUTPUT_COLOUR}, marker={"size": sizes, "color": colours},
                                showlegend=False,
                                hovertemplate=text.output_at.format(t="%{x}", v="%{y:.4g}") + "<extra></extra>"),
                     2, 1)
    input_range = [-pad_before - 0.8, n + pad_after - 0.2]
    figure.update_xaxes(range=input_range, row=1, col=1, tickfont={"size": CHART_FONT})
    figure.update_xaxes(range=input_range if stride == 1 else [-0.8, max(len(output), 2) - 0.2], row=2, col=1,
                        tickfont={"size": CHART_FONT})
    figure.update_yaxes(tickfont={"size": CHART_FONT}, zeroline=True, zerolinecolor="#adb5bd")
    figure.update_annotations(font={"size": CHART_FONT})
    # The legend under the charts: above them it would cover the input chart's title on a phone.
    figure.update_layout(height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10}, hovermode="closest",
                         legend={"orientation": "h", "y": -0.1, "x": 0, "yanchor": "top", "font": {"size": 13}})
    return figure


def stack_figure(dilations: Sequence[int], length: int, output: int, reached: Sequence[frozenset[int]],
                 edges: Sequence[tuple[int, int, int]], field: tuple[int, int], text: SignalText = ENGLISH) -> go.Figure:
    """The stack as rows of dots, the input at the bottom: every connection that reaches top-row position
    ``output`` drawn, the dots it passes through coloured, and the input ``field`` [left, right) shaded."""
    rows = len(dilations) + 1
    figure = go.Figure()
    figure.add_shape(type="rect", x0=field[0] - 0.5, x1=field[1] - 0.5, y0=-0.4, y1=0.4, fillcolor=CHOSEN_COLOUR,
                     opacity=0.12, line_width=0)
    xs, ys = [], []
    for row, source, target in edges:
        xs += [source, target, None]
        ys += [row, row + 1, None]
    figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": CHOSEN_COLOUR, "width": 1.5},
                                hoverinfo="skip", showlegend=False))
    hover = text.stack_at.format(row="%{y}", position="%{x}") + "<extra></extra>"
    for row in range(rows):
        colours = [CHOSEN_COLOUR if p in reached[row] else IDLE_COLOUR for p in range(length)]
        sizes = [14 if row == rows - 1 and p == output else 9 for p in range(length)]
        figure.add_trace(go.Scatter(x=list(range(length)), y=[row] * length, mode="markers",
                                    marker={"color": colours, "size": sizes}, hovertemplate=hover, showlegend=False))
    labels = [text.stack_input] + [text.stack_layer.format(d=d) for d in dilations]
    figure.update_yaxes(tickvals=list(range(rows)), ticktext=labels, range=[-0.6, rows - 0.4], showgrid=False,
                        zeroline=False, tickfont={"size": CHART_FONT})
    figure.update_xaxes(range=[-0.8, length - 0.2], showgrid=False, zeroline=False, tickfont={"size": CHART_FONT},
                        dtick=4)
    figure.update_layout(height=280, margin={"l": 10, "r": 10, "t": 10, "b": 10}, hovermode="closest")
    return figure
