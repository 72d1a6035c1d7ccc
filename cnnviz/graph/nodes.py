"""Reading a ``torch.export`` graph: running it, which of its nodes are the table's rows, and what they are called.

One row per node that computes something on the image: placeholders, weights (``get_attr``) and the work done on
weights alone (the ``permute`` of a decomposed linear layer) are no rows, and the ``getitem`` that picks the output
out of batch norm's or max pooling's tuple folds into that operator's row. Shape-only operators (``flatten``,
``view``) stay rows: they are where a network stops being a map, and a student looks for them.
"""
from __future__ import annotations

import operator
from typing import Any

import torch
from torch import fx
from torch.fx.operator_schemas import normalize_function

from cnnviz.errors import UserError

INPUT = "input"  # how a row's ``inputs`` name the image
# ATen spellings of one operator, as the table names it: decomposed (core ATen) graphs use the left-hand ones.
ALIASES = {"_native_batch_norm_legit_no_training": "batch_norm", "_native_batch_norm_legit": "batch_norm",
           "native_batch_norm": "batch_norm", "max_pool2d_with_indices": "max_pool2d", "native_dropout": "dropout",
           "_adaptive_avg_pool2d": "adaptive_avg_pool2d", "addmm": "linear"}
FIRST_OF_TUPLE = frozenset({"batch_norm", "max_pool2d", "dropout"})  # tuple-valued: item 0 is the output
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")  # module types that compute nothing themselves
# Where a layer's module comes from: torch.nn, and the one module per ONNX node that onnx_import runs each operator in
# (named after the node), so an ONNX row reads "stem.0.Conv" as a torch one reads "stem.0.0".
LAYER_MODULES = ("torch.nn.modules.", "cnnviz.graph.onnx_import.")


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


def image_node(gm: fx.GraphModule) -> fx.Node:
    images = [node for node in gm.graph.nodes if node.op == "placeholder"]
    if len(images) != 1:
        raise UserError("error.gtable.inputs", count=len(images), names=", ".join(node.name for node in images))
    return images[0]


def shape_of(value: Any) -> Any:
    """A tensor's shape as a tuple, a tuple of tensors' as a list of them, anything else None."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return [tuple(v.shape) for v in value]
    return None


def exported_shape(image: fx.Node) -> str:
    value = image.meta.get("val")
    return "×".join(map(str, tuple(value.shape)[1:])) if value is not None else "?"


class Recorder(fx.Interpreter):
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
            image = image_node(self.module)
            if node.op == "call_module" and "guard" in str(node.target):
                raise UserError("error.gtable.shape_fixed", expected=exported_shape(image),
                                got="×".join(map(str, self.env[image].shape[1:])), reason=error) from None
            raise UserError("error.gtable.run_failed", node=node.name, reason=error) from None
        self.shapes[node] = shape_of(value)
        if node in self.keep:
            # A copy: an in-place operator later in the graph (relu_) would rewrite this node's output.
            self.values[node] = value.detach().clone() if isinstance(value, torch.Tensor) else value[0].detach().clone()
        return value


def run(gm: fx.GraphModule, x: torch.Tensor, keep: frozenset = frozenset()) -> Recorder:
    recorder = Recorder(gm, keep)
    with torch.no_grad():
        recorder.run(x)
    return recorder


def arguments(node: fx.Node) -> dict[str, Any]:
    """The node's arguments by schema name, defaults filled in; empty for a plain Python callable."""
    if not isinstance(node.target, torch._ops.OpOverload):
        return {}
    pair = normalize_function(node.target, node.args, node.kwargs, normalize_to_only_use_kwargs=True)
    return dict(pair.kwargs) if pair is not None else {}


def as_shapes(value: Any, shapes: dict[fx.Node, Any]) -> Any:
    """Arguments with each node replaced by its shape, as ``fields.step`` reads them."""
    if isinstance(value, fx.Node):
        return shapes.get(value)
    if isinstance(value, dict):
        return {name: as_shapes(v, shapes) for name, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_shapes(v, shapes) for v in value)
    return value


def data_nodes(gm: fx.GraphModule, image: fx.Node) -> set[fx.Node]:
    """The image and every call that depends on it; the rest is weights and what is done to them alone."""
    data = {image}
    for node in gm.graph.nodes:
        if node.op == "call_function" and any(parent in data for parent in node.all_input_nodes):
            data.add(node)
    return data


def rows_of(gm: fx.GraphModule, data: set[fx.Node], shapes: dict[fx.Node, Any]) -> tuple[dict, dict]:
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
        elif isinstance(shapes.get(node), list) and short_op(node, arguments(node)) not in FIRST_OF_TUPLE:
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
    layer = kind.startswith(LAYER_MODULES) and kind.rsplit(".", 1)[-1] not in CONTAINERS
    return key, path, layer


def row_names(rows: dict[fx.Node, fx.Node]) -> dict[fx.Node, str]:
    """Readable, unique names for the rows (each with the node whose operator it shows, as ``rows_of`` gives them).

    A torch.nn layer's output row is named by the layer's path, as a forward hook names it ("layer1.0.conv1";
    "layer1.0.relu_1" for a layer's second call), and its other rows by that and the operator ("conv.pad", the
    padding of a reflect-padded conv); an operator in the user's own forward by the path and the operator
    ("layer1.0.add", also for the in-place ``add_`` of ``out += identity``); one at the top by the operator ("add",
    then "add_1").
    """
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

    def op(node: fx.Node) -> str:
        return short_op(rows[node], arguments(rows[node]))

    for node in rows:
        key, path, is_layer = _module_call(node)
        if path and is_layer:
            if node is calls[key][-1]:
                names[node] = unique(path)
            continue
        names[node] = unique(f"{path}.{op(node)}" if path else op(node))
    for key, nodes in calls.items():  # a layer's inner rows, once its output row has a name
        for node in nodes[:-1]:
            names[node] = unique(f"{names[nodes[-1]]}.{op(node)}")
    return {node: names[node] for node in rows}


def weights_read(node: fx.Node, data: set) -> list[str]:
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


def output_shape_of(node: fx.Node, shapes: dict[fx.Node, Any]) -> tuple[int, ...] | None:
    shape = shapes.get(node)
    return shape[0] if isinstance(shape, list) else shape
