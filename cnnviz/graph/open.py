"""Opening a model a user uploads: a ``torch.export`` program (``.pt2``), an ONNX file or a cnnviz checkpoint, each
read without running any of the uploader's code and ending as the same thing, a ``torch.export.ExportedProgram`` of
ATen operators with one image input (1, C, H, W) and one logits output.

    >>> view = open_model(Path("assets/models/resnet.pt2").read_bytes(), "resnet.pt2")  # doctest: +SKIP
    >>> view.source, view.input_shape                                                   # doctest: +SKIP
    ('pt2', (1, 28, 28))
"""
from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass
from pathlib import PurePath

import torch
from torch import fx

from cnnviz.errors import UserError
from cnnviz.graph.analysis import GraphTable, graph_table

SOURCES = {".pt2": "pt2", ".onnx": "onnx", ".pt": "checkpoint", ".pth": "checkpoint"}  # extension -> reader


@dataclass(frozen=True)
class Limits:
    """What one uploaded model may cost the server. Every limit is checked before the thing it limits is allocated
    (sizes come from the file's own directory and metadata), and a model over one is refused with a message that
    names it."""

    max_file_bytes: int = 200 * 2**20  # the upload itself: a ResNet-50 in float32 is about 100 MB
    max_params: int = 100_000_000  # parameters and buffers: 400 MB of float32, a VGG-16 fits (138M does not)
    max_input_pixels: int = 1024 * 1024  # H x W of the input image: feature maps of every layer are kept for a page
    max_input_channels: int = 8  # grayscale, RGB, RGBA, and a few more for a multi-band image
    # Elements of any one intermediate tensor for one image (float32: 256 MB), read by running the graph on fake
    # tensors, so a graph that blows a small input up (a huge upsample, an expand) is refused without allocating.
    max_activation_elements: int = 64 * 2**20
    max_nodes: int = 5_000  # operators in the graph: a ResNet-152 has about 1,000
    max_graph_bytes: int = 32 * 2**20  # a .pt2's graph JSON, parsed whole: a few KB a node, stack traces included
    max_archive_members: int = 10_000  # files inside a .pt2 (a zip): one per weight, plus a few


class ModelFileError(UserError):
    """An uploaded model that cannot be opened here; the message says why and what to do (a ValueError).

    For a graph with an unsupported operator (ONNX or ``.pt2``), ``supported_part`` is a ``ModelView`` of the graph
    up to that operator (its output is the value the operator would have read), so a page can still show it.
    """

    supported_part: ModelView | None = None


@dataclass(frozen=True)
class ModelView:
    """An opened model: its exported program and what the pages read first."""

    program: torch.export.ExportedProgram  # ATen graph; one input (1, C, H, W), one logits output
    name: str  # the file's name without its extension
    source: str  # "pt2", "onnx" or "checkpoint"
    input_shape: tuple[int, int, int]  # (C, H, W), read from the program's input placeholder
    param_count: int  # elements of the parameters (the limit also counts buffers and constants)

    @functools.cached_property  # writes the instance's __dict__ directly, so it works on a frozen dataclass
    def graph_module(self) -> fx.GraphModule:
        """``program.module()``: the runnable torch.fx GraphModule (built once, then cached)."""
        return self.program.module()

    def layer_table(self, input_shape: tuple[int, int, int] | None = None) -> GraphTable:
        """One row per node (name, op, output_shape, params, macs, rf_size, jump, start...) for an image of
        ``input_shape`` (C, H, W), the model's own by default: ``cnnviz.graph.analysis.graph_table``."""
        return graph_table(self.graph_module, input_shape or self.input_shape)


def open_model(data: bytes, filename: str, limits: Limits = Limits()) -> ModelView:
    """Open an uploaded model safely.

    Args:
        data: the file's bytes.
        filename: its name; the extension picks the reader (``.pt2``, ``.onnx``, ``.pt``/``.pth``).
        limits: the server's caps.

    Returns:
        A ``ModelView`` whose program meets the contract above.

    Raises:
        ModelFileError (a ``UserError``): an unknown extension, a damaged file, a graph that is not one image in and
        one output out, an unsupported operator, or a model over one of ``limits`` (named in the message).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ModelFileError("error.open.not_bytes", kind=type(data).__name__)
    path = PurePath(str(filename))
    source = SOURCES.get(path.suffix.lower())
    if source is None:
        raise ModelFileError("error.open.extension", filename=path.name[:80], accepted=", ".join(SOURCES))
    if len(data) > limits.max_file_bytes:
        raise ModelFileError("error.open.file_too_large", megabytes=len(data) / 2**20,
                             maximum=limits.max_file_bytes / 2**20)
    data = bytes(data)
    try:
        if source == "pt2":
            from cnnviz.graph.pt2 import read_pt2
            program = read_pt2(data, limits)
        elif source == "onnx":
            from cnnviz.graph.onnx_import import read_onnx
            program = read_onnx(data, limits)
        else:
            program = _read_checkpoint(data)
    except ModelFileError as error:
        if error.supported_part is not None:
            try:
                error.supported_part = _view(error.supported_part, path.stem, source, limits)
            except ModelFileError:  # the part breaks a rule too: the message alone is the answer
                error.supported_part = None
        raise
    return _view(program, path.stem, source, limits)


def _view(program: torch.export.ExportedProgram, name: str, source: str, limits: Limits) -> ModelView:
    input_shape = check_program(program, limits)
    params = sum(program.state_dict[key].numel() for key in program.graph_signature.parameters)
    return ModelView(program, name, source, input_shape, params)


def check_program(program: torch.export.ExportedProgram, limits: Limits) -> tuple[int, int, int]:
    """Check an exported program against the contract and ``limits``; return its input shape (C, H, W).

    Every operator must be an ATen operator cnnviz knows to be pure tensor maths (``ALLOWED_ATEN``), so running the
    graph reads no file and runs no Python of the uploader's; the graph is then run once on fake tensors, so every
    intermediate shape is computed, not read from the file's metadata, before any page allocates one.
    """
    signature = program.graph_signature
    inputs = [spec for spec in signature.input_specs if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT]
    if len(inputs) != 1:
        raise ModelFileError("error.open.input_count", count=len(inputs))
    outputs = signature.output_specs
    if len(outputs) != 1 or outputs[0].kind != torch.export.graph_signature.OutputKind.USER_OUTPUT:
        raise ModelFileError("error.open.output_count", count=len(outputs))
    placeholder = next(node for node in program.graph.nodes
                       if node.op == "placeholder" and node.name == inputs[0].arg.name)
    value = placeholder.meta.get("val")
    shape = tuple(value.shape) if isinstance(value, torch.Tensor) else ()
    if len(shape) != 4 or not all(isinstance(size, int) for size in shape):
        raise ModelFileError("error.open.input_rank", shape=_shape_text(shape))
    if shape[0] != 1:
        raise ModelFileError("error.open.input_batch", shape=_shape_text(shape))
    _, channels, height, width = shape
    check_input_size((channels, height, width), limits)
    params = param_total(program)
    if params > limits.max_params:
        raise ModelFileError("error.open.too_many_params", count=params, maximum=limits.max_params)
    nodes = list(program.graph.nodes)
    if len(nodes) > limits.max_nodes:
        raise ModelFileError("error.open.too_many_nodes", count=len(nodes), maximum=limits.max_nodes)
    for node in nodes:
        if node.op == "call_function" and not allowed_target(node.target):
            raise ModelFileError("error.open.operator", op=str(node.target)[:80], node=node.name[:80])
        if node.op not in ("placeholder", "get_attr", "call_function", "output"):
            raise ModelFileError("error.open.operator", op=node.op, node=node.name[:80])
    _check_activations(program, (channels, height, width), limits)
    return channels, height, width


def check_input_size(shape: tuple[int, int, int], limits: Limits) -> None:
    """Refuse an input (C, H, W) over the channel or pixel limit, before any image of that size is made."""
    channels, height, width = shape
    if channels > limits.max_input_channels:
        raise ModelFileError("error.open.input_channels", channels=channels, maximum=limits.max_input_channels)
    if height * width > limits.max_input_pixels:
        raise ModelFileError("error.open.input_pixels", height=height, width=width,
                             maximum=limits.max_input_pixels)


# ATen operators a convolutional network's graph may call, by name (any overload). Every one is tensor maths: none
# reads a file (aten.from_file does), and none allocates a size written in the graph (aten.empty, zeros, full do;
# zeros_like and its kin copy the size of a tensor already checked), so a graph of these runs in memory bounded by
# its input, weights and the activation limit.
ALLOWED_ATEN = frozenset("""
    conv1d conv2d convolution _convolution conv_transpose2d
    max_pool2d max_pool2d_with_indices avg_pool2d adaptive_avg_pool2d _adaptive_avg_pool2d adaptive_max_pool2d
    mean sum amax amin max min
    relu relu_ leaky_relu leaky_relu_ gelu silu silu_ sigmoid tanh hardtanh hardtanh_ hardswish hardsigmoid elu selu
    softplus mish relu6 prelu _prelu_kernel softmax _softmax log_softmax _log_softmax clamp clamp_min clamp_max
    batch_norm _native_batch_norm_legit_no_training _native_batch_norm_legit native_batch_norm layer_norm
    native_layer_norm group_norm native_group_norm instance_norm
    linear addmm mm bmm matmul t transpose permute
    view _unsafe_view reshape flatten unsqueeze squeeze contiguous clone alias slice select cat stack split
    split_with_sizes chunk constant_pad_nd pad reflection_pad2d replication_pad2d detach lift_fresh_copy expand
    resolve_conj resolve_neg
    add sub mul div neg pow sqrt rsqrt exp log abs maximum minimum
    upsample_nearest2d upsample_bilinear2d _upsample_nearest_exact2d pixel_shuffle pixel_unshuffle channel_shuffle
    dropout dropout_ native_dropout feature_dropout alpha_dropout
    hardswish_ hardsigmoid_ sigmoid_ erf floor round
    to _to_copy type_as _assert_tensor_metadata zeros_like ones_like full_like
""".split())


def allowed_target(target: object) -> bool:
    """Whether a graph may call ``target``: ``operator.getitem`` (multi-output ops) or an ATen operator overload
    named in ``ALLOWED_ATEN``."""
    if target is operator.getitem:
        return True
    return (isinstance(target, torch._ops.OpOverload) and target.namespace == "aten"
            and target._schema.name.split("::")[-1] in ALLOWED_ATEN)


class _ShapeCheck(fx.Interpreter):
    """Runs a graph on fake tensors and refuses the first node whose output is over the activation limit."""

    def __init__(self, module: fx.GraphModule, most: int) -> None:
        super().__init__(module)
        self.most = most

    def run_node(self, node: fx.Node):
        result = super().run_node(node)
        for value in torch.utils._pytree.tree_leaves(result):
            if isinstance(value, torch.Tensor) and value.numel() > self.most:
                raise ModelFileError("error.open.activation", node=node.name[:80], shape=_shape_text(value.shape),
                                     maximum=self.most)
        return result


def _check_activations(program: torch.export.ExportedProgram, input_shape: tuple[int, int, int],
                       limits: Limits) -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    try:
        module = program.module()
        with FakeTensorMode(allow_non_fake_inputs=True):
            image = torch.empty((1, *input_shape))  # fake: a shape and no storage
            _ShapeCheck(module, limits.max_activation_elements).run(image)
    except ModelFileError:
        raise
    except Exception as error:  # a graph whose shapes do not fit: torch raises many types
        raise ModelFileError("error.open.graph_does_not_run", kind=type(error).__name__,
                             reason=str(error).splitlines()[0][:200] if str(error) else "") from None


def _shape_text(shape) -> str:
    return "×".join(str(size) for size in shape) or "()"


def _read_checkpoint(data: bytes) -> torch.export.ExportedProgram:
    """A cnnviz checkpoint (training's safe reader), exported on a zero image of its config's input size."""
    from cnnviz.training.checkpoints import load_checkpoint

    model, cfg, _ = load_checkpoint(data)
    return export_module(model, (cfg.in_channels, cfg.input_size, cfg.input_size))


def export_module(module: torch.nn.Module, input_shape: tuple[int, int, int]) -> torch.export.ExportedProgram:
    """``torch.export`` a module of ours (in eval mode) on a zero image (1, C, H, W)."""
    module.eval()
    with torch.no_grad():
        return torch.export.export(module, (torch.zeros((1, *input_shape)),))


def param_total(program: torch.export.ExportedProgram) -> int:
    """Elements of every parameter, buffer and tensor constant of ``program``."""
    return sum(math.prod(t.shape) for t in (*program.state_dict.values(), *program.constants.values())
               if isinstance(t, torch.Tensor))

