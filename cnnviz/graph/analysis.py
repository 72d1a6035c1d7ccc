"""A graph's layer table, its units' fields on the input, and every node's feature maps.

Reads only a ``torch.export`` graph module of ATen operators (``ExportedProgram.module()``), however the model was
opened; ``cnnviz.graph.nodes`` says which of its nodes are rows (shape-only ones such as ``flatten`` included) and
names them.

Shapes come from running the graph once on zeros (``torch.fx.Interpreter``), so every operator torch can run has a
shape, supported or not. Fields follow ``cnnviz.graph.fields``; parameters and multiply-adds are counted from the
weights each node reads, a weight shared by several nodes once.

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))
    >>> gm = torch.export.export(net.eval(), (torch.zeros(1, 1, 4, 4),)).module()
    >>> table = graph_table(gm, (1, 4, 4))
    >>> [(row.name, row.op, row.output_shape, row.rf_size) for row in table.rows]  # doctest: +NORMALIZE_WHITESPACE
    [('0', 'conv2d', (2, 4, 4), (3, 3)), ('1', 'relu', (2, 4, 4), (3, 3)), ('2', 'max_pool2d', (2, 2, 2), (4, 4)),
     ('3', 'flatten', (8,), None), ('4', 'linear', (3,), None)]
    >>> table.total_params, table.total_macs, unit_box(table, "2", 1, 0)
    (47, 312, Box(top=1, left=-1, bottom=5, right=3))
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from cnnviz.analysis import receptive_field
from cnnviz.analysis.receptive_field import Box, RFRow
from cnnviz.conv.geometry import Layer, is_int
from cnnviz.errors import Text, UserError
from cnnviz.graph.fields import KNOWN, Field, Reach, Step, reach, step
from cnnviz.graph.nodes import (INPUT, arguments, as_graph_module, as_shapes, data_nodes, exported_shape, image_node,
                                output_shape_of, row_names, rows_of, run, short_op, weights_read)


@dataclass(frozen=True)
class GraphRow:
    """One node of the graph that computes something on the image."""

    name: str  # readable: the layer's path ("layer1.0.conv1"), or the path and the operator ("layer1.0.add")
    node: str  # the torch.fx node's own name
    op: str  # short operator: conv2d, max_pool2d, batch_norm, relu, add, cat, flatten, linear, ...
    target: str  # the ATen operator as the graph spells it, e.g. "aten.conv2d.default"
    inputs: tuple[str, ...]  # names of the rows it reads, INPUT for the image: the graph's branches
    output_shape: tuple[int, ...]  # without the batch: (C, H, W) or (features,)
    params: int  # parameters of the weights it reads; a weight shared by several rows counts at its first
    macs: int  # multiply-accumulates for one image: conv, transposed conv and linear rows, 0 for the rest
    rf_size: tuple[int, int] | None  # (rows, cols) input pixels one unit sees; None: no spatial map, or unknown
    jump: tuple[int, int] | None  # (rows, cols) input pixels between neighbouring units
    start: tuple[int, int] | None  # (rows, cols) where unit 0's field begins; negative = padding
    misaligned: bool = False  # paths meet here whose fields' centres differ
    window: Layer | None = None  # kernel, stride, padding and dilation of a conv or pooling row
    supported: bool = True  # False: cnnviz does not know the operator (``note`` names it)
    note: Text | None = None  # why the field is unknown, in the reader's language
    # How a unit reads the maps before it, for its own field where no size, jump and start describe the row (after
    # an upsampling): ``unit_box`` walks back along it. None: no map, or an operator cnnviz cannot follow.
    reach: Reach | None = None

    @property
    def varies(self) -> bool:
        """Whether the row's units have fields of their own sizes (``unit_box`` finds each), not one size."""
        return self.rf_size is None and self.reach is not None and len(self.output_shape) == 3


@dataclass(frozen=True)
class GraphTable:
    """The rows in graph order, the input they were computed for, and their totals."""

    rows: tuple[GraphRow, ...]
    input_shape: tuple[int, int, int]  # (C, H, W) of the image
    total_params: int  # parameters every row reads, each weight once
    total_macs: int  # multiply-accumulates for one image

    def row(self, name: str) -> GraphRow:
        """The row called ``name``.

        Raises:
            UserError: no row has that name.
        """
        for row in self.rows:
            if row.name == name:
                return row
        raise UserError("error.gtable.no_row", name=name, names=", ".join(row.name for row in self.rows[:12]))

    @property
    def unsupported(self) -> tuple[GraphRow, ...]:
        """The rows whose operator cnnviz does not know."""
        return tuple(row for row in self.rows if not row.supported)


def check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    """``input_shape`` as (C, H, W) of positive ints; raises ValueError naming it otherwise."""
    if not (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
            and all(is_int(n) and n >= 1 for n in input_shape)):
        raise ValueError(f"input_shape must be (C, H, W) of positive ints, got input_shape={input_shape!r}")
    return tuple(int(n) for n in input_shape)


def _macs(op: str, args: dict[str, Any], out_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one row: each output of a conv takes in/groups·kh·kw (a weight's numel per output
    position), each input of a transposed conv writes out/groups·kh·kw, each output of a linear layer in_features."""
    if op == "conv2d":
        return math.prod(args["weight"]) * math.prod(out_shape[2:]) * out_shape[0]
    if op == "conv_transpose2d":
        return math.prod(args["weight"]) * math.prod(args["input"][2:]) * args["input"][0]
    if op in ("linear", "mm", "matmul"):
        features = (args.get("mat1") or args.get("input") or args.get("self"))[-1]
        return math.prod(out_shape) * features
    return 0


def graph_table(gm: Any, input_shape: Sequence[int] | None = None) -> GraphTable:
    """One row per node that computes something on the image: operator, output shape, parameters, multiply-adds
    and receptive field (size, jump, start) through every branch.

    Args:
        gm: ``ExportedProgram.module()`` (or the ExportedProgram) taking one (1, C, H, W) image.
        input_shape: (C, H, W); None for the shape the model was exported with.

    Returns:
        The GraphTable. An operator cnnviz does not know gets a row with ``supported`` False and a note; the rows
        after it keep their shapes, and their fields are unknown.

    Raises:
        UserError: the graph does not run on ``input_shape`` (a model exported for one size, with that size).
        ValueError: ``gm`` or ``input_shape`` is of the wrong kind.
    """
    gm = as_graph_module(gm)
    image = image_node(gm)
    if input_shape is None:
        input_shape = tuple(image.meta["val"].shape)[1:]
        if not all(is_int(n) for n in input_shape):
            raise UserError("error.gtable.dynamic_shape", shape=exported_shape(image))
    input_shape = check_input_shape(input_shape)
    exported = image.meta.get("val")
    dtype = exported.dtype if isinstance(exported, torch.Tensor) else torch.float32  # a half-precision model's
    shapes = run(gm, torch.zeros((1, *input_shape), dtype=dtype)).shapes
    data = data_nodes(gm, image)
    rows, owner = rows_of(gm, data, shapes)
    names = row_names(rows)
    names[image] = INPUT
    parameters = {id(p): p.numel() for p in gm.parameters()}
    by_target = {name: id(p) for name, p in gm.named_parameters(remove_duplicate=False)}
    counted, built, fields, lost, reaches = set(), [], {image: Field.of_input()}, {}, {}
    for node, source in rows.items():
        args = arguments(source)
        op = short_op(source, args)
        parents = list(dict.fromkeys(owner[p] for p in source.all_input_nodes if p in owner))
        out_shape = output_shape_of(node, shapes)
        row_step = step(op, as_shapes(args, shapes), [(fields.get(p), output_shape_of(p, shapes)) for p in parents],
                        out_shape, names[node])
        lost_parent = next((lost[p] for p in parents if p in lost), None)
        if row_step.field is None and out_shape is not None and len(out_shape) == 4:
            lost[node] = node  # where the field was lost, for the rows after it to name
            if row_step.note is None and lost_parent is not None:
                lost[node] = lost_parent
                row_step = Step(None, window=row_step.window, note=Text("gtable.note.after", name=names[lost_parent]))
        fields[node] = row_step.field
        weights = [by_target[t] for t in weights_read(source, data) if t in by_target]
        params = sum(parameters[w] for w in dict.fromkeys(weights) if w not in counted)
        counted.update(weights)
        supported = op in KNOWN
        note = row_step.note if supported else Text("gtable.note.unknown_op", op=str(source.target), name=names[node])
        field = row_step.field
        # A unit's field can be walked back only where every row on its paths can be (unknown from an operator on).
        walkable = supported and all(p is image or reaches.get(p) is not None for p in parents)
        row_reach = reaches[node] = reach(op, as_shapes(args, shapes), out_shape) if walkable else None
        built.append(GraphRow(
            names[node], node.name, op, str(source.target), tuple(names[p] for p in parents),
            tuple(out_shape[1:]) if out_shape else (), params,
            _macs(op, as_shapes(args, shapes), out_shape) if supported else 0,
            field.size if field else None, field.jump if field else None, field.start if field else None,
            row_step.misaligned, row_step.window, supported, note, row_reach))
    return GraphTable(tuple(built), input_shape, sum(row.params for row in built), sum(row.macs for row in built))


# --- units and their fields ------------------------------------------------------------------------------

def _field_row(table: GraphTable, node_name: str) -> tuple[GraphRow, RFRow]:
    """The row called ``node_name`` and its field as the single-path analysis writes one."""
    if not isinstance(table, GraphTable):
        raise ValueError(f"table must be a GraphTable, got {type(table).__name__}")
    row = table.row(node_name)
    if row.rf_size is None:
        raise UserError("error.gtable.no_field", name=node_name, reason=row.note or Text("gtable.note.not_spatial"))
    # The single-path functions read only size, jump, start and out_size; a merge row has no window of its own.
    rf_row = RFRow(0, row.name, row.op, row.window or Layer(1), row.rf_size, row.jump, row.start, row.output_shape[1:])
    return row, rf_row


def unit_box(table: GraphTable, node_name: str, row: int, col: int) -> Box:
    """The input region unit (row, col) of ``node_name`` sees, padding included, as ``receptive_field.input_box``;
    for a row whose units' fields vary (after an upsampling), the one ``walked_box`` finds.

    Raises:
        UserError: no such row, a row without a known field, a unit outside its map, or a unit that reads none of
            the input (a transposed convolution's gap).
    """
    if not isinstance(table, GraphTable):
        raise ValueError(f"table must be a GraphTable, got {type(table).__name__}")
    info = table.row(node_name)
    if len(info.output_shape) == 3:
        for axis, value, limit in (("row", row, info.output_shape[1]), ("col", col, info.output_shape[2])):
            if not is_int(value) or not 0 <= value < limit:
                raise UserError("error.gtable.unit", axis=axis, last=limit - 1, name=node_name, value=value)
    if info.varies:
        box = walked_box(table, node_name, row, col)
        if box is None:
            raise UserError("error.gtable.unit_sees_nothing", name=node_name, row=row, col=col)
        return box
    _, rf_row = _field_row(table, node_name)
    return receptive_field.input_box([rf_row], 0, row, col)


def walked_box(table: GraphTable, node_name: str, row: int, col: int) -> Box | None:
    """The input region unit (row, col) of ``node_name`` reads, found by walking back through the graph row by row
    (``GraphRow.reach``), the union over every path: exact for any row, whether or not one size, jump and start
    describe it. None when the unit reads no input pixel, or a row on the way has no reach (an operator cnnviz
    cannot follow).

    Raises:
        UserError: no such row.
    """
    table.row(node_name)
    # (H, W) of every map; a vector counts as one place, which reads all it is computed from
    shapes = {INPUT: table.input_shape[1:],
              **{r.name: r.output_shape[1:] if len(r.output_shape) == 3 else (1, 1) for r in table.rows}}
    pending: dict[str, list[list[int]]] = {node_name: [[row, row], [col, col]]}  # row name -> [[lo, hi], [lo, hi]]
    for current in reversed(table.rows):  # every row before the rows it reads
        ranges = pending.pop(current.name, None)
        if ranges is None:
            continue
        if current.reach is None:
            return None
        for parent in current.inputs:
            mapped = [current.reach.back(axis, *ranges[axis], shapes[parent][axis], shapes[current.name][axis])
                      for axis in (0, 1)]
            if None in mapped:
                continue
            held = pending.get(parent)
            pending[parent] = [list(span) for span in mapped] if held is None else \
                [[min(h[0], m[0]), max(h[1], m[1])] for h, m in zip(held, mapped)]
    seen = pending.get(INPUT)
    return None if seen is None else Box(seen[0][0], seen[1][0], seen[0][1] + 1, seen[1][1] + 1)


def unit_at(table: GraphTable, node_name: str, y: float, x: float) -> tuple[int, int]:
    """The unit of ``node_name`` whose field is centred nearest input pixel (y, x): a click, decoded.

    Raises:
        UserError: no such row or a row without a known field; ValueError: coordinates that are not numbers.
    """
    _, rf_row = _field_row(table, node_name)
    for axis, value in (("y", y), ("x", x)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{axis} must be a finite number, got {axis}={value!r}")
    return receptive_field.unit_at([rf_row], 0, y, x)


# --- feature maps ----------------------------------------------------------------------------------------

def feature_maps(gm: Any, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every row's output for the image ``x``, detached, keyed by the row's name in ``graph_table``'s order.

    Args:
        gm: as for ``graph_table``.
        x: one image, a (1, C, H, W) float tensor.

    Raises:
        UserError: the graph does not run on ``x``'s shape.
        ValueError: ``gm`` or ``x`` is of the wrong kind.
    """
    gm = as_graph_module(gm)
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected one image as a (1, C, H, W) float tensor, got {shape}")
    data = data_nodes(gm, image_node(gm))
    recorder = run(gm, x, frozenset(node for node in data if node.op == "call_function"))
    rows, _ = rows_of(gm, data, recorder.shapes)  # the table's rows, by the table's rule
    names = row_names(rows)
    return {names[node]: recorder.values[node] for node in rows}
