"""Look inside's drill-down, without Streamlit: from the whole network to one unit's sum.

Three levels, all named by the inspector's state (``drill``, ``drill_map``, ``drill_unit``, in its URL):

- the overview: every layer as a column of small maps for the digit, input to softmax (``drill`` empty);
- a layer: one map large beside the maps it was computed from (``drill`` a map layer's label, ``drill_map`` the map),
  or a dense layer (``drill_map`` its unit), or the softmax (``drill`` "softmax");
- a unit of that map (``drill_unit``): its value taken apart (``cnnviz.analysis.unit_math``) and its receptive field.

The overview's columns come from the model's description alone, so a click is decoded before the digit runs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from cnnviz.analysis import receptive_field
from cnnviz.analysis.receptive_field import Box
from cnnviz.analysis.unit_math import (DenseMath, PoolStage, SoftmaxMath, Trace, UnitMath, dense_unit, explain_unit,
                                       softmax_math)
from cnnviz.figures.overview import Column

if TYPE_CHECKING:
    from cnnviz.pages.inspector import InspectorState, ModelFacts

SOFTMAX = "softmax"  # the ``drill`` value of the softmax view
OVERVIEW = ""  # the ``drill`` value of the overview


def overview_columns(facts: ModelFacts, input_shape: tuple[int, int, int]) -> tuple[Column, ...]:
    """The overview's columns: the input, every map layer the page shows, every Linear layer, the softmax."""
    columns = [Column("input", "input", tuple(input_shape))]
    for row in facts.table.rows:
        if row.layer in facts.shapes:
            columns.append(Column(row.layer, row.kind, tuple(facts.shapes[row.layer])))
        elif row.kind == "fc":
            columns.append(Column(row.layer, "fc", tuple(row.output_shape)))
    classes = columns[-1].shape[0] if columns[-1].kind == "fc" else 10
    columns.append(Column(SOFTMAX, "softmax", (classes,)))
    return tuple(columns)


def resolve_drill(state: InspectorState, columns: Sequence[Column]) -> InspectorState:
    """``state``'s drill-down made valid for the model: an unknown layer opens the overview, and the map and unit
    are kept inside the layer (a link made for another network)."""
    by_label = {column.label: column for column in columns if column.kind != "input"}
    column = by_label.get(state.drill)
    if column is None:
        return replace(state, drill=OVERVIEW, drill_map=0, drill_unit=None)
    if column.kind == "softmax":
        return replace(state, drill_map=0, drill_unit=None)
    drill_map = min(state.drill_map, column.shape[0] - 1)
    unit = state.drill_unit
    if not column.maps or unit is None or unit[0] >= column.shape[1] or unit[1] >= column.shape[2]:
        unit = None
    return replace(state, drill_map=drill_map, drill_unit=unit)


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class DrillResult:
    """What the drill-down draws for one digit."""

    columns: tuple[Column, ...]
    values: tuple[np.ndarray, ...]  # each column's values: the (1, H, W) input, (C, H, W) maps, (units,)
    column: Column | None  # the layer drilled into; None for the overview
    sources: np.ndarray | None  # (C, H, W) the maps the chosen map was computed from; None off a map layer
    source_label: str  # the layer those maps come from ("input", "act1"); "" without them
    unit_math: UnitMath | None  # the chosen unit of a map layer taken apart
    dense_math: DenseMath | None  # the chosen unit of a Linear layer taken apart
    softmax: SoftmaxMath  # the probabilities written out
    box: Box | None  # the chosen unit's receptive field on the digit
    window: Box | None = None  # where the chosen unit reads the source maps: padding included, so it may stick out


def compute_drill(state: InspectorState, facts: ModelFacts, traced: Trace) -> DrillResult:
    """The drill-down for ``state`` (resolved by ``resolve_drill``) from one traced forward pass of the digit.

    Raises:
        ValueError: from ``unit_math`` for a layer its arithmetic does not cover.
    """
    columns = overview_columns(facts, traced.image.shape)
    values = [traced.image]
    for column in columns[1:-1]:
        record = traced.record(column.label)
        values.append(record.output)
    soft = softmax_math(traced.logits)
    values.append(soft.probabilities.astype(np.float32))
    column = next((c for c in columns if c.label == state.drill and c.kind != "input"), None)
    sources, source_label, unit, dense, box, window = None, "", None, None, None, None
    if column is not None and column.maps:
        position = traced.index(column.label)
        record = traced.records[position]
        source_label = "input" if position == 0 else traced.records[position - 1].layer
        sources = record.input if record.kind == "conv" else record.input[state.drill_map:state.drill_map + 1]
        if state.drill_unit is not None:
            unit = explain_unit(traced, column.label, state.drill_map, *state.drill_unit)
            window = source_window(unit, column.label, state.drill_unit)
            index = facts.rf_index.get(column.label)
            if index is not None:
                box = receptive_field.input_box(facts.rf_rows, index, *state.drill_unit)
    elif column is not None and column.kind == "fc":
        dense = dense_unit(traced, column.label, state.drill_map)
    return DrillResult(columns, tuple(values), column, sources, source_label, unit, dense, soft, box, window)


def source_window(math: UnitMath, layer: str, unit: tuple[int, int]) -> Box:
    """Where unit ``unit`` of ``layer`` reads the maps that feed ``layer``: a conv's kernel window (dilated, padding
    included), a pooling window, or for BatchNorm and an activation the unit itself."""
    if layer == math.layer:
        (kh, kw), (dh, dw) = math.terms[0].window.shape, math.dilation
        top, left = math.origin
        return Box(top, left, top + (kh - 1) * dh + 1, left + (kw - 1) * dw + 1)
    stage = next(stage for stage in math.stages if stage.layer == layer)
    if isinstance(stage, PoolStage):
        size = stage.window.shape[0]
        return Box(stage.top, stage.left, stage.top + size, stage.left + size)
    return Box(unit[0], unit[1], unit[0] + 1, unit[1] + 1)
