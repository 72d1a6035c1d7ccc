"""Reading an uploaded ONNX file: its graph walked node by node into a torch module, then ``torch.export``-ed.

onnx2torch would do this, but it needs torchvision, which cannot sit beside this torch; the operators a
convolutional network uses are few, so each is written here as the ``torch.nn.functional`` call with ONNX's
semantics (``OPS``). The file is parsed by ``onnx`` (protobuf: data, no code); external data, which ONNX reads from
files next to the model on the server's disk, is refused, and every initializer's declared size is checked against
the limits before its bytes are turned into an array.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.graph.open import Limits, ModelFileError, check_input_size, export_module

MAX_RANK = 8  # dimensions of any initializer: a CNN's weights have at most 4


@dataclass(frozen=True)
class Step:
    """One ONNX node, ready to run: its operator, value names in and out, attributes and a name for messages."""

    op: str  # ONNX op_type
    inputs: tuple[str, ...]  # value names; "" for an omitted optional input
    outputs: tuple[str, ...]
    attrs: dict[str, Any]
    name: str  # the node's name, or "#<index>" when it has none


def read_onnx(data: bytes, limits: Limits) -> torch.export.ExportedProgram:
    """The ONNX model in ``data`` as an exported program (one image input, one output).

    Raises:
        ModelFileError: not ONNX, external data, over a limit, not one 4-D input and one output, or an operator
            (or an operator's setting) that cnnviz does not convert, named with its node.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelFileError("error.open.onnx_missing") from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # protobuf raises DecodeError and others for foreign bytes
        raise ModelFileError("error.open.onnx_damaged", kind=type(error).__name__) from None
    graph = model.graph
    if not graph.node:
        raise ModelFileError("error.open.onnx_damaged", kind="no nodes")
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)
    if len(graph.node) > limits.max_nodes:
        raise ModelFileError("error.open.too_many_nodes", count=len(graph.node), maximum=limits.max_nodes)
    if len(graph.sparse_initializer):
        raise ModelFileError("error.open.onnx_sparse")

    budget = [limits.max_params]  # elements left for initializers and constants together

    def array(tensor) -> np.ndarray:
        """An initializer or Constant's value, its size checked first; external data refused."""
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            raise ModelFileError("error.open.onnx_external", name=tensor.name[:80])
        dims = list(tensor.dims)
        if len(dims) > MAX_RANK or any(d < 0 for d in dims):
            raise ModelFileError("error.open.onnx_damaged", kind=f"{tensor.name[:40]}: dims {dims[:MAX_RANK + 1]}")
        count = math.prod(dims)
        budget[0] -= count
        if count > limits.max_params or budget[0] < 0:
            raise ModelFileError("error.open.too_many_params", count=max(count, limits.max_params - budget[0]),
                                 maximum=limits.max_params)
        if tensor.data_type not in _DTYPES:
            raise ModelFileError("error.open.onnx_dtype", name=tensor.name[:80],
                                 dtype=onnx.TensorProto.DataType.Name(tensor.data_type))
        itemsize = np.dtype(_DTYPES[tensor.data_type]).itemsize
        if tensor.HasField("raw_data") and len(tensor.raw_data) != count * itemsize:
            raise ModelFileError("error.open.onnx_damaged", kind=f"{tensor.name[:40]}: {len(tensor.raw_data)} bytes")
        try:
            return np.array(numpy_helper.to_array(tensor), dtype=_DTYPES[tensor.data_type])
        except Exception as error:  # a value list that does not match its dims
            raise ModelFileError("error.open.onnx_damaged",
                                 kind=f"{tensor.name[:40]}: {type(error).__name__}") from None

    values = {tensor.name: array(tensor) for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in values]
    if len(inputs) != 1:
        raise ModelFileError("error.open.input_count", count=len(inputs))
    if len(graph.output) != 1:
        raise ModelFileError("error.open.output_count", count=len(graph.output))
    input_shape = _input_shape(inputs[0])
    check_input_size(input_shape, limits)  # export_module makes a zero image of this size

    steps, folded = [], set()
    for index, node in enumerate(graph.node):
        name = node.name or f"#{index}"
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED:
            error = ModelFileError("error.open.onnx_operator", op=f"{node.domain + '.' if node.domain else ''}"
                                   f"{node.op_type}"[:60], node=name[:80], supported=", ".join(sorted(SUPPORTED)))
            error.supported_part = _supported_part(steps, values, folded, inputs[0].name, node, opset, input_shape)
            raise error
        attrs = {attr.name: _attribute(attr, array) for attr in node.attribute}
        if node.op_type == "Constant":
            kind = next(iter(attrs), "")
            if len(attrs) != 1 or kind not in _CONSTANT_KINDS:
                raise ModelFileError("error.open.onnx_attribute", op="Constant", node=name[:80],
                                     detail=", ".join(attrs)[:80])
            values[node.output[0]] = np.asarray(attrs[kind], dtype=_CONSTANT_KINDS[kind])
            folded.add(node.output[0])
            continue
        steps.append(Step(node.op_type, tuple(node.input), tuple(node.output), attrs, name))
    module = OnnxGraph(steps, values, folded, inputs[0].name, graph.output[0].name, opset)
    try:
        return export_module(module, input_shape)
    except ModelFileError:
        raise
    except Exception as error:  # shapes that do not fit, a value used before it is made: torch raises many types
        raise ModelFileError("error.open.graph_does_not_run", kind=type(error).__name__,
                             reason=str(error).splitlines()[0][:200] if str(error) else "") from None


def _supported_part(steps: list[Step], values: dict[str, np.ndarray], folded: set[str], input_name: str, node,
                    opset: int, input_shape: tuple[int, int, int]) -> torch.export.ExportedProgram | None:
    """The graph up to an unsupported node, ending at the value that feeds it: what a page can still show."""
    made = {input_name, *(name for step in steps for name in step.outputs)}
    feed = next((name for name in node.input if name in made), None)
    if feed is None:
        return None
    try:
        return export_module(OnnxGraph(steps, values, folded, input_name, feed, opset), input_shape)
    except Exception:  # the part does not run either: the message alone is the answer
        return None


def _input_shape(value) -> tuple[int, int, int]:
    """(C, H, W) of an ONNX graph input; a named (dynamic) batch dimension is read as 1."""
    dims = value.type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else (1 if i == 0 else -1) for i, d in enumerate(dims)]
    text = "×".join(str(size) if size > 0 else "?" for size in shape) or "()"
    if len(shape) != 4:
        raise ModelFileError("error.open.input_rank", shape=text)
    if shape[0] != 1:
        raise ModelFileError("error.open.input_batch", shape=text)
    if min(shape) < 1:
        raise ModelFileError("error.open.onnx_dynamic_input", shape=text)
    return shape[1], shape[2], shape[3]


_CONSTANT_KINDS = {"value": None, "value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
                   "value_ints": np.int64}  # a Constant node's one attribute -> its numpy type (None: the tensor's)
_DTYPES = {1: np.float32, 10: np.float16, 11: np.float64, 7: np.int64, 6: np.int32, 9: np.bool_}  # TensorProto ids


def _attribute(attr, array: Callable) -> Any:
    import onnx

    kind = attr.type
    if kind == onnx.AttributeProto.INT:
        return attr.i
    if kind == onnx.AttributeProto.FLOAT:
        return attr.f
    if kind == onnx.AttributeProto.STRING:
        return attr.s.decode("utf-8", "replace")
    if kind == onnx.AttributeProto.INTS:
        return list(attr.ints)
    if kind == onnx.AttributeProto.FLOATS:
        return list(attr.floats)
    if kind == onnx.AttributeProto.TENSOR:
        return array(attr.t)
    return None  # graphs, sparse tensors: no supported operator reads one


class OnnxGraph(nn.Module):
    """An ONNX graph as a torch module, and ``forward`` runs its steps in order (torch.export traces them into
    ATen operators). Float initializers a step computes with become parameters (Constant nodes' become buffers);
    values read only as settings (a Reshape's shape, a Resize's scales) stay plain constants."""

    def __init__(self, steps: list[Step], values: dict[str, np.ndarray], folded: set[str], input_name: str,
                 output_name: str, opset: int) -> None:
        super().__init__()
        self.steps, self.input_name, self.output_name, self.opset = steps, input_name, output_name, opset
        self.constants: dict[str, torch.Tensor] = {}
        self.weight_names: dict[str, str] = {}  # ONNX value name -> parameter or buffer attribute
        computed = {name for step in steps for index, name in enumerate(step.inputs)
                    if index not in SETTINGS.get(step.op, ())}
        # Batch norm's running mean and variance are statistics, not weights: buffers, as torch's BatchNorm2d keeps
        # them, so a network counts the same parameters as .onnx and as .pt2.
        statistics = {name for step in steps if step.op == "BatchNormalization" for name in step.inputs[3:5]}
        for index, (name, value) in enumerate(values.items()):
            tensor = torch.from_numpy(np.ascontiguousarray(value))
            if tensor.is_floating_point() and name in computed:
                attribute = f"w{index}_" + "".join(c if c.isalnum() else "_" for c in name)[:60]
                if name in folded or name in statistics:
                    self.register_buffer(attribute, tensor.float())
                else:
                    self.register_parameter(attribute, nn.Parameter(tensor.float(), requires_grad=False))
                self.weight_names[name] = attribute
            self.constants[name] = tensor
        self.node_modules = [self._place(step, index) for index, step in enumerate(steps)]

    def _place(self, step: Step, index: int) -> nn.Module:
        """A module for ``step`` at the path its ONNX name gives, so that every operator of the exported graph has
        the node's name in ``meta["nn_module_stack"]``. torch.onnx names a node by its modules' scopes, each
        child's scope extending its parent's ("/block1/conv1/conv1.0/Conv"): that becomes block1.conv1.0.Conv, the
        path of the module in the torch model it came from."""
        scopes = [part for part in step.name.split("/") if part]
        parts, previous = [], ""
        for scope in scopes[:-1]:
            parts += (scope[len(previous) + 1:] if previous and scope.startswith(previous + ".") else scope).split(".")
            previous = scope
        parts = [re.sub(r"\W", "_", part) or "_" for part in [*parts, *scopes[-1:]]] or [f"node_{index}"]
        parent = self
        for depth, part in enumerate(parts):
            leaf = depth == len(parts) - 1
            child = parent._modules.get(part)
            if child is None or leaf or isinstance(child, _NodeModule):
                while part in parent._modules or hasattr(parent, part):
                    part += "_"  # a name taken by an attribute, or a second node of the same name
                child = _NodeModule() if leaf else nn.Module()
                parent.add_module(part, child)
            parent = child
        return parent

    def static(self, name: str, step: Step) -> list:
        """A value the graph fixes (an initializer or Constant), as a list: shapes, scales and sizes."""
        if name not in self.constants:
            raise ModelFileError("error.open.onnx_attribute", op=step.op, node=step.name[:80],
                                 detail=f"'{name[:40]}' must be a constant")
        return self.constants[name].flatten().tolist()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_name: x}

        def value(name: str) -> torch.Tensor | None:
            if not name:
                return None
            if name in env:
                return env[name]
            if name in self.weight_names:
                return getattr(self, self.weight_names[name])
            return self.constants[name]

        for step, module in zip(self.steps, self.node_modules):
            results = module(self, step, [value(name) for name in step.inputs])
            results = results if isinstance(results, tuple) else (results,)
            extra = [name for name in step.outputs[len(results):] if name]
            if extra:
                raise ModelFileError("error.open.onnx_attribute", op=step.op, node=step.name[:80],
                                     detail=f"output '{extra[0][:40]}'")
            env.update(zip(step.outputs, results))
        return env[self.output_name]


class _NodeModule(nn.Module):
    """One ONNX node's place in the module tree; it holds nothing, and runs the node's operator."""

    def forward(self, graph: OnnxGraph, step: Step, args: list) -> Any:
        return OPS[step.op](graph, step, args)


def _refuse(step: Step, detail: str):
    raise ModelFileError("error.open.onnx_attribute", op=step.op, node=step.name[:80], detail=detail[:80])


def _pads(step: Step, x: torch.Tensor, kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    """ONNX pads (top, left, bottom, right) for 2-D windows, auto_pad resolved against the input's size."""
    auto = step.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = step.attrs.get("pads", [0, 0, 0, 0])
        return pads if len(pads) == 4 else _refuse(step, f"pads {pads}")
    if auto == "VALID":
        return [0, 0, 0, 0]
    begins, ends = [], []
    for size, k, s, d in zip(x.shape[2:], kernel, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begins.append(small if auto == "SAME_UPPER" else large)
        ends.append(large if auto == "SAME_UPPER" else small)
    return [*begins, *ends]


def _window(step: Step, x: torch.Tensor, kernel: list[int]) -> tuple[list[int], list[int], list[int]]:
    if x.dim() != 4 or len(kernel) != 2:
        _refuse(step, f"{len(kernel)}-D window")
    strides = step.attrs.get("strides", [1, 1])
    dilations = step.attrs.get("dilations", [1, 1])
    return strides, dilations, _pads(step, x, kernel, strides, dilations)


def _conv(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x, weight, bias = (args + [None])[:3]
    strides, dilations, pads = _window(step, x, list(weight.shape[2:]))
    top, left, bottom, right = pads
    groups = step.attrs.get("group", 1)
    if (top, left) != (bottom, right):  # torch pads both sides alike: pad the input unevenly first
        x, top, left = F.pad(x, (left, right, top, bottom)), 0, 0
    return F.conv2d(x, weight, bias, strides, (top, left), dilations, groups)


def _conv_transpose(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x, weight, bias = (args + [None])[:3]
    if "output_shape" in step.attrs or step.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
        _refuse(step, "output_shape / auto_pad")
    strides, dilations, (top, left, bottom, right) = _window(step, x, list(weight.shape[2:]))
    y = F.conv_transpose2d(x, weight, bias, strides, 0, step.attrs.get("output_padding", [0, 0]),
                           step.attrs.get("group", 1), dilations)
    return y[:, :, top:y.shape[2] - bottom, left:y.shape[3] - right]  # ONNX pads crop the full output


def _max_pool(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x = args[0]
    kernel = step.attrs.get("kernel_shape", [])
    strides, dilations, (top, left, bottom, right) = _window(step, x, kernel)
    ceil = bool(step.attrs.get("ceil_mode", 0))
    if (top, left) != (bottom, right) or top > kernel[0] // 2 or left > kernel[1] // 2:
        x, top, left = F.pad(x, (left, right, top, bottom), value=-math.inf), 0, 0
    return F.max_pool2d(x, kernel, strides, (top, left), dilations, ceil_mode=ceil)


def _average_pool(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x = args[0]
    kernel = step.attrs.get("kernel_shape", [])
    strides, dilations, (top, left, bottom, right) = _window(step, x, kernel)
    if dilations != [1, 1]:
        _refuse(step, f"dilations {dilations}")
    include = bool(step.attrs.get("count_include_pad", 0))
    if (top, left) != (bottom, right) or top > kernel[0] // 2 or left > kernel[1] // 2:
        if not include:
            _refuse(step, f"pads {[top, left, bottom, right]} without count_include_pad")
        x, top, left = F.pad(x, (left, right, top, bottom)), 0, 0
    return F.avg_pool2d(x, kernel, strides, (top, left), bool(step.attrs.get("ceil_mode", 0)), include)


def _softmax(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x = args[0]
    if graph.opset >= 13:
        return F.softmax(x, dim=step.attrs.get("axis", -1))
    axis = step.attrs.get("axis", 1) % x.dim()  # before opset 13: softmax over everything from axis on, as 2-D
    return F.softmax(x.reshape(math.prod(x.shape[:axis]), -1), dim=1).reshape(x.shape)


def _batch_norm(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x, scale, bias, mean, var = args[:5]
    if step.attrs.get("training_mode", 0):
        _refuse(step, "training_mode")
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, step.attrs.get("epsilon", 1e-5))


def _gemm(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    a, b, c = (args + [None])[:3]
    alpha, beta = step.attrs.get("alpha", 1.0), step.attrs.get("beta", 1.0)
    trans_a, trans_b = step.attrs.get("transA", 0), step.attrs.get("transB", 0)
    if trans_b and not trans_a and alpha == 1.0 and beta == 1.0 and (c is None or c.dim() == 1):
        return F.linear(a, b, c)  # the usual fully connected layer: one aten.linear in the graph
    y = alpha * ((a.t() if trans_a else a) @ (b.t() if trans_b else b))
    return y if c is None else y + beta * c


def _flatten(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x = args[0]
    axis = step.attrs.get("axis", 1) % (x.dim() + 1)
    return torch.flatten(x, 1) if axis == 1 else x.reshape(math.prod(x.shape[:axis]), -1)


def _reshape(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x = args[0]
    shape = [int(size) for size in graph.static(step.inputs[1], step)]
    if not step.attrs.get("allowzero", 0):
        shape = [x.shape[i] if size == 0 else size for i, size in enumerate(shape)]  # 0 copies the input's size
    return x.reshape(shape)


def _resize(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    """Resize (opset 10+) and Upsample (before it): nearest or bilinear on the last two axes."""
    x = args[0]
    names = [*step.inputs[1:], "", "", ""]
    if step.op == "Upsample" or graph.opset < 11:
        scales = step.attrs.get("scales") or (graph.static(names[0], step) if names[0] else [])
        sizes: list = []
        transform = "asymmetric"
    else:
        scales = graph.static(names[1], step) if names[1] else []
        sizes = graph.static(names[2], step) if names[2] else []
        transform = step.attrs.get("coordinate_transformation_mode", "half_pixel")
    if ("axes" in step.attrs or (scales and list(scales[:2]) != [1.0, 1.0])
            or (sizes and list(sizes[:2]) != list(x.shape[:2]))):
        _refuse(step, "resizes the batch or channel axis")
    if sizes:
        scales = [1.0, 1.0, sizes[2] / x.shape[2], sizes[3] / x.shape[3]]
    if len(scales) != 4:
        _refuse(step, f"scales {scales}")
    mode = step.attrs.get("mode", "nearest")
    if mode == "nearest":
        nearest = step.attrs.get("nearest_mode", "round_prefer_floor")
        whole = all(float(s).is_integer() and s >= 1 for s in scales[2:])
        # With whole scales, half-pixel centres rounded and asymmetric ones floored pick the same source pixel.
        if not whole or not (transform == "asymmetric" and (nearest == "floor" or step.op == "Upsample")
                             or transform in ("half_pixel", "pytorch_half_pixel") and nearest.startswith("round")):
            _refuse(step, f"nearest, {transform}, {nearest}, scales {scales[2:]}")
        return F.interpolate(x, scale_factor=(float(scales[2]), float(scales[3])), mode="nearest")
    if mode == "linear" and transform in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return F.interpolate(x, scale_factor=(float(scales[2]), float(scales[3])), mode="bilinear",
                             align_corners=transform == "align_corners")
    return _refuse(step, f"{mode}, {transform}")


def _setting(graph: OnnxGraph, step: Step, index: int, attribute: str, default: Any) -> Any:
    """An input that newer opsets give as a constant tensor and older ones as an attribute (axes, pads, min)."""
    name = step.inputs[index] if len(step.inputs) > index else ""
    return graph.static(name, step) if name else step.attrs.get(attribute, default)


def _clip(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    low, high = _setting(graph, step, 1, "min", None), _setting(graph, step, 2, "max", None)
    low, high = (value[0] if isinstance(value, list) else value for value in (low, high))
    return torch.clamp(args[0], low, high)


def _pad(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x = args[0]
    pads = [int(p) for p in _setting(graph, step, 1, "pads", [])]
    value = _setting(graph, step, 2, "value", 0.0)
    mode = step.attrs.get("mode", "constant")
    if len(pads) != 2 * x.dim() or any(pads[:2]) or any(pads[x.dim():x.dim() + 2]) or len(step.inputs) > 3:
        _refuse(step, f"pads {pads[:8]} (only the last two axes)")
    top, left, bottom, right = pads[2], pads[3], pads[x.dim() + 2], pads[x.dim() + 3]
    if mode == "constant":
        return F.pad(x, (left, right, top, bottom), value=float(value[0] if isinstance(value, list) else value))
    if mode in ("reflect", "edge"):
        return F.pad(x, (left, right, top, bottom), mode="reflect" if mode == "reflect" else "replicate")
    return _refuse(step, f"mode {mode}")


def _reduce_mean(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    axes = _setting(graph, step, 1, "axes", None)
    dims = tuple(int(a) for a in axes) if axes else tuple(range(args[0].dim()))
    return args[0].mean(dims, keepdim=bool(step.attrs.get("keepdims", 1)))


def _squeeze(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    axes = _setting(graph, step, 1, "axes", None)
    if axes is None:
        return args[0].squeeze()
    return args[0].squeeze(tuple(int(a) for a in axes))


def _unsqueeze(graph: OnnxGraph, step: Step, args: list) -> torch.Tensor:
    x = args[0]
    rank = x.dim() + len(_setting(graph, step, 1, "axes", []))
    for axis in sorted(int(a) % rank for a in _setting(graph, step, 1, "axes", [])):
        x = x.unsqueeze(axis)
    return x


OPS: dict[str, Callable[[OnnxGraph, Step, list], Any]] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "GlobalAveragePool": lambda graph, step, args: args[0].mean((2, 3), keepdim=True),
    "GlobalMaxPool": lambda graph, step, args: args[0].amax((2, 3), keepdim=True),
    "Relu": lambda graph, step, args: F.relu(args[0]),
    "LeakyRelu": lambda graph, step, args: F.leaky_relu(args[0], step.attrs.get("alpha", 0.01)),
    "Sigmoid": lambda graph, step, args: torch.sigmoid(args[0]),
    "Tanh": lambda graph, step, args: torch.tanh(args[0]),
    "Softmax": _softmax,
    "BatchNormalization": _batch_norm,
    "Gemm": _gemm,
    "MatMul": lambda graph, step, args: torch.matmul(args[0], args[1]),
    "Add": lambda graph, step, args: args[0] + args[1],
    "Sub": lambda graph, step, args: args[0] - args[1],
    "Mul": lambda graph, step, args: args[0] * args[1],
    "Div": lambda graph, step, args: args[0] / args[1],
    "Concat": lambda graph, step, args: torch.cat(args, dim=step.attrs.get("axis", 1)),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Resize": _resize,
    "Upsample": _resize,
    "Identity": lambda graph, step, args: args[0],
    "Dropout": lambda graph, step, args: args[0],  # inference: the mask output, if used, is refused
    "Clip": _clip,
    "Pad": _pad,
    "Transpose": lambda graph, step, args: args[0].permute(
        step.attrs.get("perm", list(range(args[0].dim()))[::-1])),
    "ReduceMean": _reduce_mean,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
}
SETTINGS = {"Reshape": {1}, "Resize": {1, 2, 3}, "Upsample": {1}, "Clip": {1, 2}, "Pad": {1, 2, 3},
            "ReduceMean": {1}, "Squeeze": {1}, "Unsqueeze": {1}}  # inputs read as settings, not computed with
SUPPORTED = frozenset({*OPS, "Constant"})  # Constant is folded while reading, before the module is built
