"""A graph's layer table, its units' fields on the input, and every node's feature maps.

Reads only a ``torch.export`` graph module of ATen operators (``ExportedProgram.module()``), however the model was
opened. One row per node that computes something on the image: placeholders, weights (``get_attr``) and the work
done on weights alone (the ``permute`` of a decomposed linear layer) are no rows, and the ``getitem`` that picks
the output out of batch norm's or max pooling's tuple folds into that operator's row. Shape-only operators
(``flatten``, ``view``) stay rows: they are where a network stops being a map, and a student looks for them.

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
import operator
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import fx
from torch.fx.operator_schemas import normalize_function

from cnnviz.analysis import receptive_field
from cnnviz.analysis.receptive_field import Box, RFRow
from cnnviz.conv.geometry import Layer, is_int
from cnnviz.errors import Text, UserError
from cnnviz.graph.fields import KNOWN, Field, Step, step

INPUT = "input"  # how a row's ``inputs`` name the image
# ATen spellings of one operator, as the table names it: decomposed (core ATen) graphs use the left-hand ones.
ALIASES = {"_native_batch_norm_legit_no_training": "batch_norm", "_native_batch_norm_legit": "batch_norm",
           "native_batch_norm": "batch_norm", "max_pool2d_with_indices": "max_pool2d", "native_dropout": "dropout",
           "_adaptive_avg_pool2d": "adaptive_avg_pool2d", "addmm": "linear"}
FIRST_OF_TUPLE = frozenset({"batch_norm", "max_pool2d", "dropout"})  # tuple-valued: item 0 is the output
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")  # module types that compute nothing themselves


@dataclass(frozen=True)
class GraphRow:
    """One node of the graph that computes something on the image."""

    name: str  # readable: the module's path ("layer1.0.conv1"), or the path and the node ("layer1.0.add")
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

    @property
    def field(self) -> Field | None:
        return None if self.rf_size is None else Field(self.rf_size, self.jump, self.start)


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


def short_op(node: fx.Node, args: dict[str, Any]) -> str:
    """The operator's short name: "conv2d" for ``aten.convolution`` too, "relu" for the in-place ``relu_``."""
    if node.target is operator.getitem:
        return "getitem"
    schema = getattr(node.target, "_schema", None)
    name = schema.name.split("::")[-1] if schema is not None else getattr(node.target, "__name__", str(node.target))
    if name == "convolution":
        return "conv_transpose2d" if args.get("transposed") else "conv2d"
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]  # an in-place variant: the same operator for the table
    return ALIASES.get(name, name)


def as_graph_module(gm: Any) -> fx.GraphModule:
    """``gm`` itself, or an ExportedProgram's ``.module()``; raises ValueError for anything else."""
    if isinstance(gm, torch.export.ExportedProgram):
        gm = gm.module()
    if not isinstance(gm, fx.GraphModule):
        raise ValueError(f"expected a torch.fx GraphModule or an ExportedProgram, got {type(gm).__name__}")
    return gm


def check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    """``input_shape`` as (C, H, W) of positive ints; raises ValueError naming it otherwise."""
    if not (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
            and all(is_int(n) and n >= 1 for n in input_shape)):
        raise ValueError(f"input_shape must be (C, H, W) of positive ints, got input_shape={input_shape!r}")
    return tuple(int(n) for n in input_shape)


def _image_node(gm: fx.GraphModule) -> fx.Node:
    images = [node for node in gm.graph.nodes if node.op == "placeholder"]
    if len(images) != 1:
        raise UserError("error.gtable.inputs", count=len(images), names=", ".join(node.name for node in images))
    return images[0]


def _shape_of(value: Any) -> Any:
    """A tensor's shape as a tuple, a tuple of tensors' as a list of them, anything else None."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return [tuple(v.shape) for v in value]
    return None


def _exported_shape(image: fx.Node) -> str:
    value = image.meta.get("val")
    return "×".join(map(str, tuple(value.shape)[1:])) if value is not None else "?"


class _Recorder(fx.Interpreter):
    """Runs the graph, keeping every node's shape, and a detached copy of the values of ``keep``."""

    def __init__(self, gm: fx.GraphModule, keep: frozenset = frozenset()):
        super().__init__(gm)
        self.keep = keep
        self.shapes: dict[fx.Node, Any] = {}
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, node: fx.Node) -> Any:
        try:
            value = super().run_node(node)
        except Exception as error:  # torch raises many kinds; the student reads one message
            image = _image_node(self.module)
            if node.op == "call_module" and "guard" in str(node.target):
                raise UserError("error.gtable.shape_fixed", expected=_exported_shape(image),
                                got="×".join(map(str, self.env[image].shape[1:])), reason=error) from None
            raise UserError("error.gtable.run_failed", node=node.name, reason=error) from None
        self.shapes[node] = _shape_of(value)
        if node in self.keep:
            # A copy: an in-place operator later in the graph (relu_) would rewrite this node's output.
            self.values[node] = value.detach().clone() if isinstance(value, torch.Tensor) else value[0].detach().clone()
        return value


def _run(gm: fx.GraphModule, x: torch.Tensor, keep: frozenset = frozenset()) -> _Recorder:
    recorder = _Recorder(gm, keep)
    with torch.no_grad():
        recorder.run(x)
    return recorder


def _arguments(node: fx.Node) -> dict[str, Any]:
    """The node's arguments by schema name, defaults filled in; empty for a plain Python callable."""
    if not isinstance(node.target, torch._ops.OpOverload):
        return {}
    pair = normalize_function(node.target, node.args, node.kwargs, normalize_to_only_use_kwargs=True)
    return dict(pair.kwargs) if pair is not None else {}


def _as_shapes(value: Any, shapes: dict[fx.Node, Any]) -> Any:
    """Arguments with each node replaced by its shape, as ``fields.step`` reads them."""
    if isinstance(value, fx.Node):
        return shapes.get(value)
    if isinstance(value, dict):
        return {name: _as_shapes(v, shapes) for name, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_as_shapes(v, shapes) for v in value)
    return value


def _data_nodes(gm: fx.GraphModule, image: fx.Node) -> set[fx.Node]:
    """The image and every call that depends on it; the rest is weights and what is done to them alone."""
    data = {image}
    for node in gm.graph.nodes:
        if node.op == "call_function" and any(parent in data for parent in node.all_input_nodes):
            data.add(node)
    return data


def _rows_of(gm: fx.GraphModule, data: set[fx.Node], shapes: dict[fx.Node, Any]) -> tuple[dict, dict]:
    """The row nodes in graph order, each with the node whose operator it shows, and the owners of the data nodes:
    the row a node's output is read from (a folded ``getitem`` is read from its operator's row)."""
    rows, owner = {}, {}
    for node in gm.graph.nodes:
        if node not in data:
            continue
        if node.op == "placeholder":
            owner[node] = node
            continue
        source = node
        if node.target is operator.getitem:
            parent = node.args[0]
            if parent in rows:
                owner[node] = parent  # batch norm's or max pooling's output, picked out of its tuple
                continue
            source = parent  # one item of a split: that operator, on its own row
        elif isinstance(shapes.get(node), list) and short_op(node, _arguments(node)) not in FIRST_OF_TUPLE:
            continue  # a split's tuple: each item used gets a row
        rows[node] = source
        owner[node] = node
    return rows, owner


def _module_call(node: fx.Node) -> tuple[str, str, bool]:
    """The innermost module call the node ran in (its key, "conv@1" for a second call), the module's path, and
    whether it is a torch.nn layer rather than a container or a module of the user's."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", "", False
    key, (path, kind) = list(stack.items())[-1]
    kind = kind if isinstance(kind, str) else f"{kind.__module__}.{kind.__qualname__}"
    return key, path, kind.startswith("torch.nn.modules.") and kind.rsplit(".", 1)[-1] not in CONTAINERS


def _names(rows: Sequence[fx.Node]) -> dict[fx.Node, str]:
    """Readable, unique names. A torch.nn layer's output row is named by the layer's path, as a forward hook
    names it ("layer1.0.conv1"; "relu_1" for a layer's second call), and its other rows (the ``pad`` of a
    reflect-padded conv) by that and the node; an operator in the user's own forward by the path and the node
    ("layer1.0.add"); one at the top by the node ("add")."""
    calls: dict[str, list[fx.Node]] = {}
    for node in rows:
        key, path, is_layer = _module_call(node)
        if path and is_layer:
            calls.setdefault(key, []).append(node)
    names, used = {}, {INPUT}

    def unique(base: str) -> str:
        name, count = base, 0
        while name in used:
            count += 1
            name = f"{base}_{count}"
        used.add(name)
        return name

    for node in rows:
        key, path, is_layer = _module_call(node)
        if path and is_layer:
            if node is calls[key][-1]:
                names[node] = unique(path)
            continue
        names[node] = unique(f"{path}.{node.name}" if path else node.name)
    for key, nodes in calls.items():  # a layer's inner rows, once its output row has a name
        for node in nodes[:-1]:
            names[node] = unique(f"{names[nodes[-1]]}.{node.name}")
    return {node: names[node] for node in rows}


def _weights(node: fx.Node, data: set) -> list[str]:
    """The attributes (weights, buffers) ``node`` reads, directly or through work done on weights alone."""
    found, stack, seen = [], list(node.all_input_nodes), set()
    while stack:
        parent = stack.pop()
        if parent in data or parent in seen:
            continue
        seen.add(parent)
        if parent.op == "get_attr":
            found.append(parent.target)
        stack.extend(parent.all_input_nodes)
    return found


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
    image = _image_node(gm)
    if input_shape is None:
        input_shape = tuple(image.meta["val"].shape)[1:]
        if not all(is_int(n) for n in input_shape):
            raise UserError("error.gtable.dynamic_shape", shape=_exported_shape(image))
    input_shape = check_input_shape(input_shape)
    exported = image.meta.get("val")
    dtype = exported.dtype if isinstance(exported, torch.Tensor) else torch.float32  # a half-precision model's
    shapes = _run(gm, torch.zeros((1, *input_shape), dtype=dtype)).shapes
    data = _data_nodes(gm, image)
    rows, owner = _rows_of(gm, data, shapes)
    names = _names(list(rows))
    names[image] = INPUT
    parameters = {id(p): p.numel() for p in gm.parameters()}
    by_target = {name: id(p) for name, p in gm.named_parameters(remove_duplicate=False)}
    counted, built, fields, lost = set(), [], {image: Field.of_input()}, {}
    for node, source in rows.items():
        args = _arguments(source)
        op = short_op(source, args)
        parents = list(dict.fromkeys(owner[p] for p in source.all_input_nodes if p in owner))
        out_shape = _output(node, shapes)
        row_step = step(op, _as_shapes(args, shapes), [(fields.get(p), _output(p, shapes)) for p in parents],
                        out_shape, names[node])
        lost_parent = next((lost[p] for p in parents if p in lost), None)
        if row_step.field is None and out_shape is not None and len(out_shape) == 4:
            lost[node] = node  # where the field was lost, for the rows after it to name
            if row_step.note is None and lost_parent is not None:
                lost[node] = lost_parent
                row_step = Step(None, window=row_step.window, note=Text("gtable.note.after", name=names[lost_parent]))
        fields[node] = row_step.field
        weights = [by_target[t] for t in _weights(source, data) if t in by_target]
        params = sum(parameters[w] for w in dict.fromkeys(weights) if w not in counted)
        counted.update(weights)
        supported = op in KNOWN
        note = row_step.note if supported else Text("gtable.note.unknown_op", op=str(source.target), name=names[node])
        field = row_step.field
        built.append(GraphRow(
            names[node], node.name, op, str(source.target), tuple(names[p] for p in parents),
            tuple(out_shape[1:]) if out_shape else (), params,
            _macs(op, _as_shapes(args, shapes), out_shape) if supported else 0,
            field.size if field else None, field.jump if field else None, field.start if field else None,
            row_step.misaligned, row_step.window, supported, note))
    return GraphTable(tuple(built), input_shape, sum(row.params for row in built), sum(row.macs for row in built))


def _output(node: fx.Node, shapes: dict[fx.Node, Any]) -> tuple[int, ...] | None:
    shape = shapes.get(node)
    return shape[0] if isinstance(shape, list) else shape


# --- units and their fields ------------------------------------------------------------------------------

def _field_row(table: GraphTable, node_name: str) -> tuple[GraphRow, RFRow]:
    """The row called ``node_name`` and its field as the single-path analysis writes one."""
    if not isinstance(table, GraphTable):
        raise ValueError(f"table must be a GraphTable, got {type(table).__name__}")
    row = table.row(node_name)
    if row.rf_size is None:
        raise UserError("error.gtable.no_field", name=node_name, reason=row.note or Text("gtable.note.not_spatial"))
    rf_row = RFRow(0, row.name, row.op, row.window or Layer(1), row.rf_size, row.jump, row.start, row.output_shape[1:])
    return row, rf_row


def unit_box(table: GraphTable, node_name: str, row: int, col: int) -> Box:
    """The input region unit (row, col) of ``node_name`` sees, padding included, as ``receptive_field.input_box``.

    Raises:
        UserError: no such row, a row without a known field, or a unit outside its map.
    """
    info, rf_row = _field_row(table, node_name)
    for axis, value, limit in (("row", row, info.output_shape[1]), ("col", col, info.output_shape[2])):
        if not is_int(value) or not 0 <= value < limit:
            raise UserError("error.gtable.unit", axis=axis, last=limit - 1, name=node_name, value=value)
    return receptive_field.input_box([rf_row], 0, row, col)


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
    data = _data_nodes(gm, _image_node(gm))
    recorder = _run(gm, x, frozenset(node for node in data if node.op == "call_function"))
    rows, _ = _rows_of(gm, data, recorder.shapes)  # the table's rows, by the table's rule
    names = _names(list(rows))
    return {names[node]: recorder.values[node] for node in rows}
