"""Opening a user's model (cnnviz.graph.open): .pt2 without running the file's code, ONNX converted operator by
operator and checked against torch, cnnviz checkpoints, the limits, and the shipped demo models."""
import contextlib
import dataclasses
import io
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
import torch.nn.functional as F
from torch import nn

import cnnviz
from cnnviz.graph.open import Limits, ModelFileError, ModelView, open_model
from cnnviz.model import build_model, preset
from cnnviz.training.checkpoints import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, stride=2, dilation=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(6, 10)).eval()


def pt2_bytes(module: nn.Module, shape=(1, 1, 12, 12)) -> bytes:
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(module.eval(), (torch.zeros(shape),)), buffer)
    return buffer.getvalue()


def rewrite(data: bytes, members: dict) -> bytes:
    """The archive with some members replaced: a path under the root -> new bytes, or a function of the old ones."""
    source = zipfile.ZipFile(io.BytesIO(data))
    root = source.namelist()[0].split("/")[0]
    wanted = {f"{root}/{name}": value for name, value in members.items()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            value = wanted.get(entry.filename, source.read(entry.filename))
            target.writestr(entry.filename, value(source.read(entry.filename)) if callable(value) else value)
    return out.getvalue()


def edit_json(change):
    def apply(raw: bytes) -> bytes:
        value = json.loads(raw)
        change(value)
        return json.dumps(value).encode()
    return apply


class WritesMarker:
    """Unpickling this writes a file: what a crafted archive member would do on the server."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def evil_pickle(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save(WritesMarker(marker), buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------- .pt2 safety

def test_a_crafted_sample_inputs_pickle_runs_through_torch_but_not_through_open_model(tmp_path):
    crafted = rewrite(pt2_bytes(small_net()), {"data/sample_inputs/model.pt": evil_pickle(tmp_path / "torch.txt")})
    with contextlib.suppress(Exception):  # torch's own loader, to show the file is really armed
        torch.export.load(io.BytesIO(crafted))
    assert (tmp_path / "torch.txt").read_text() == "code ran"

    crafted = rewrite(pt2_bytes(small_net()), {"data/sample_inputs/model.pt": evil_pickle(tmp_path / "ours.txt")})
    view = open_model(crafted, "crafted.pt2")  # the sample inputs are never read: nothing to refuse
    assert not (tmp_path / "ours.txt").exists()
    x = torch.randn(1, 1, 12, 12)
    torch.testing.assert_close(view.graph_module(x), small_net()(x))
    assert not (tmp_path / "ours.txt").exists()


def test_a_weight_stored_as_a_pickle_is_refused_without_unpickling(tmp_path):
    def pickled(config):
        config["config"]["0.weight"]["use_pickle"] = True

    def arm(marker):
        return rewrite(pt2_bytes(small_net()), {"data/weights/model_weights_config.json": edit_json(pickled),
                                                "data/weights/weight_0": evil_pickle(marker)})

    with contextlib.suppress(Exception):
        torch.export.load(io.BytesIO(arm(tmp_path / "torch.txt")))
    assert (tmp_path / "torch.txt").exists()
    with pytest.raises(ModelFileError, match="pickle") as caught:
        open_model(arm(tmp_path / "ours.txt"), "crafted.pt2")
    assert caught.value.key == "error.open.pt2_pickled"
    assert not (tmp_path / "ours.txt").exists()


def test_guards_code_in_the_graph_json_is_never_executed(tmp_path):
    def arm(marker):
        def guard(program):
            program["guards_code"] = [f"open({str(marker)!r}, 'w').write('code ran') > 0"]
        return rewrite(pt2_bytes(small_net()), {"models/model.json": edit_json(guard)})

    x = torch.randn(1, 1, 12, 12)
    with contextlib.suppress(Exception):
        torch.export.load(io.BytesIO(arm(tmp_path / "torch.txt"))).module()(x)
    assert (tmp_path / "torch.txt").exists()
    view = open_model(arm(tmp_path / "ours.txt"), "crafted.pt2")
    view.graph_module(x)
    assert not (tmp_path / "ours.txt").exists()


@pytest.mark.parametrize("target", ["torch.os.system", "torch.ops.aten.from_file.default",
                                    "torch.ops.aten.zeros.default", "builtins.exec"])
def test_a_node_calling_anything_but_a_known_aten_operator_is_refused_by_name(target):
    def retarget(program):
        program["graph_module"]["graph"]["nodes"][0]["target"] = target

    crafted = rewrite(pt2_bytes(small_net()), {"models/model.json": edit_json(retarget)})
    with pytest.raises(ModelFileError, match="node 'conv2d'") as caught:
        open_model(crafted, "crafted.pt2")
    assert caught.value.values["op"] == target


def test_a_pt2_with_an_unsupported_operator_still_gives_the_graph_before_it():
    class Unsupported(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3)

        def forward(self, x):
            return torch.special.erfcx(torch.relu(self.conv(x))).flatten(1)  # erfcx: not in ALLOWED_ATEN

    net = Unsupported().eval()
    with pytest.raises(ModelFileError, match="special_erfcx.default \\(node 'special_erfcx'\\)") as caught:
        open_model(pt2_bytes(net, (1, 1, 6, 6)), "odd.pt2")
    part = caught.value.supported_part
    assert (part.name, part.source, part.input_shape) == ("odd", "pt2", (1, 6, 6))
    x = torch.randn(1, 1, 6, 6)
    torch.testing.assert_close(part.graph_module(x), torch.relu(net.conv(x)))


def test_a_symbolic_size_is_refused_before_sympy_reads_it():
    def symbolic(program):
        program["graph_module"]["graph"]["tensor_values"]["conv2d"]["sizes"][0] = {"as_expr": {
            "expr_str": "__import__('os').getcwd()", "hint": None}}

    crafted = rewrite(pt2_bytes(small_net()), {"models/model.json": edit_json(symbolic)})
    with pytest.raises(ModelFileError, match="dynamic shapes"):
        open_model(crafted, "crafted.pt2")


def test_an_absurd_declared_weight_size_is_refused_before_allocating(monkeypatch):
    def huge(config):
        meta = config["config"]["0.weight"]["tensor_meta"]
        meta["sizes"] = [{"as_int": 10**6}, {"as_int": 10**6}, {"as_int": 3}, {"as_int": 3}]

    crafted = rewrite(pt2_bytes(small_net()), {"data/weights/model_weights_config.json": edit_json(huge)})
    monkeypatch.setattr(torch, "frombuffer", lambda *a, **k: pytest.fail("a weight was allocated"))
    with pytest.raises(ModelFileError, match="9,000,000,000,000 parameters, over the limit of 100,000,000"):
        open_model(crafted, "crafted.pt2")


def test_a_view_past_the_stored_bytes_is_refused():
    def reach(config):
        config["config"]["0.weight"]["tensor_meta"]["storage_offset"] = {"as_int": 1000}

    crafted = rewrite(pt2_bytes(small_net()), {"data/weights/model_weights_config.json": edit_json(reach)})
    with pytest.raises(ModelFileError, match="damaged"):
        open_model(crafted, "crafted.pt2")


def test_a_member_that_unpacks_past_the_file_limit_is_refused_before_unpacking():
    data = rewrite(pt2_bytes(small_net()), {"data/sample_inputs/model.pt": bytes(3 << 20)})  # 3 MB of zeros
    limits = Limits(max_file_bytes=1 << 20)
    assert len(data) < limits.max_file_bytes
    with pytest.raises(ModelFileError, match="over the limit of 1 MB"):
        open_model(data, "zeros.pt2", limits)


@pytest.mark.parametrize("data, match", [
    (b"not a zip at all", "not a torch.export program"),
    (b"PK\x03\x04" + bytes(40), "not a torch.export program"),
])
def test_damaged_pt2_files_get_a_clear_message(data, match):
    with pytest.raises(ModelFileError, match=match):
        open_model(data, "broken.pt2")


def test_a_truncated_pt2_gets_a_clear_message():
    data = pt2_bytes(small_net())
    with pytest.raises(ModelFileError):
        open_model(data[: len(data) // 2], "cut.pt2")


# ------------------------------------------------------------------------------------- the contract and the limits

def test_a_pt2_round_trip_gives_the_same_outputs_and_the_contract():
    net = small_net()
    view = open_model(pt2_bytes(net), "folder/My Net.pt2")
    assert isinstance(view, ModelView)
    assert (view.name, view.source, view.input_shape) == ("My Net", "pt2", (1, 12, 12))
    assert view.param_count == sum(p.numel() for p in net.parameters())
    assert view.graph_module is view.graph_module  # built once
    x = torch.randn(3, 1, 12, 12)
    torch.testing.assert_close(view.graph_module(x[:1]), net(x[:1]))
    placeholders = [n for n in view.graph_module.graph.nodes if n.op == "placeholder"]
    assert len(placeholders) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.name = "other"


def test_open_model_is_re_exported_at_the_top_and_import_stays_light():
    assert cnnviz.open_model is open_model
    assert "open_model" in dir(cnnviz)
    with pytest.raises(AttributeError):
        cnnviz.no_such_name  # noqa: B018
    probe = "import sys, cnnviz; print('torch' in sys.modules, callable(cnnviz.open_model), 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True", "True"]  # torch arrives with the first use, not the import


@pytest.mark.parametrize("filename", ["model.h5", "model", "model.pt2.exe", "weights.safetensors"])
def test_an_unknown_extension_names_the_accepted_ones(filename):
    with pytest.raises(ModelFileError, match=r"\.pt2, \.onnx, \.pt, \.pth") as caught:
        open_model(b"anything", filename)
    assert "无法打开" in caught.value.message("zh")


def test_the_file_size_limit_is_checked_first_and_named():
    with pytest.raises(ModelFileError, match="2.0 MB, over the limit of 1 MB"):
        open_model(bytes(2 << 20), "big.onnx", Limits(max_file_bytes=1 << 20))


def test_the_parameter_limit_is_named():
    with pytest.raises(ModelFileError, match="over the limit of 100"):
        open_model(pt2_bytes(small_net()), "net.pt2", Limits(max_params=100))


@pytest.mark.parametrize("shape, limits, match", [
    ((1, 1, 40, 40), Limits(max_input_pixels=1024), "40×40 pixels, over the limit of 1024"),
    ((1, 3, 12, 12), Limits(max_input_channels=2), "3 channels, over the limit of 2"),
    ((2, 1, 12, 12), Limits(), r"shape 2×1×12×12.*batch of one"),
])
def test_input_limits_are_named(shape, limits, match):
    net = nn.Sequential(nn.Conv2d(shape[1], 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    with pytest.raises(ModelFileError, match=match):
        open_model(pt2_bytes(net, shape), "net.pt2", limits)


def test_a_non_image_input_and_two_inputs_are_refused():
    with pytest.raises(ModelFileError, match="1×C×H×W"):
        open_model(pt2_bytes(nn.Linear(4, 2), (1, 4)), "mlp.pt2")

    class TwoInputs(nn.Module):
        def forward(self, a, b):
            return a + b

    buffer = io.BytesIO()
    torch.export.save(torch.export.export(TwoInputs(), (torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))), buffer)
    with pytest.raises(ModelFileError, match="takes 2 inputs"):
        open_model(buffer.getvalue(), "two.pt2")


def test_an_activation_blown_up_past_the_limit_is_refused_by_node():
    net = nn.Sequential(nn.Upsample(scale_factor=8), nn.Conv2d(1, 1, 1), nn.Flatten())
    with pytest.raises(ModelFileError, match="Node 'upsample_nearest2d'.*1×1×96×96, over the limit of 1,000"):
        open_model(pt2_bytes(net), "up.pt2", Limits(max_activation_elements=1000))


# ---------------------------------------------------------------------------------------------- cnnviz checkpoints

def test_a_cnnviz_checkpoint_opens_as_an_exported_program():
    cfg = preset("tiny")
    model = build_model(cfg, seed=3).eval()
    view = open_model(save_checkpoint(model, cfg), "run 7.pt")
    assert (view.name, view.source, view.input_shape) == ("run 7", "checkpoint", (1, 28, 28))
    assert view.param_count == sum(p.numel() for p in model.parameters())
    x = torch.randn(1, 1, 28, 28)
    torch.testing.assert_close(view.graph_module(x), model(x))


def test_a_foreign_pt_file_gets_the_checkpoint_readers_message():
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    with pytest.raises(cnnviz.errors.UserError, match="not saved by cnnviz"):
        open_model(buffer.getvalue(), "other.pt")


# -------------------------------------------------------------------------------------------------------- ONNX

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # requirements.txt installs it; without it the server refuses .onnx with its own message
    onnx = None
needs_onnx = pytest.mark.skipif(onnx is None, reason="onnx is not installed (pip install -r requirements.txt)")
RNG = np.random.default_rng(0)


def weights(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def onnx_bytes(nodes, inits: dict, shape, opset: int = 17) -> bytes:
    graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info("X", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(value, name) for name, value in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def node(op, inputs, outputs=("Y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), name=f"my_{op.lower()}", **attrs)


def const(name, values, dtype=np.int64):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, dtype), name))


T = torch.from_numpy
W4, B6, W36, W8 = weights(6, 2, 3, 3), weights(6), weights(3, 6), weights(4, 4)
BN = [weights(4), weights(4), weights(4), np.abs(weights(4)) + 0.5]
# Each case: the ONNX nodes, initializers, input shape, opset, and the same maths written with torch directly.
ONNX_CASES = {
    "Conv stride, asymmetric pads, dilation, group": (
        [node("Conv", "XWB", strides=[2, 2], pads=[1, 0, 2, 1], dilations=[2, 2], group=2)],
        {"W": W4, "B": B6}, [1, 4, 9, 9], 17,
        lambda x: F.conv2d(F.pad(x, (0, 1, 1, 2)), T(W4), T(B6), 2, 0, 2, 2)),
    "Conv SAME_UPPER": (
        [node("Conv", "XW", strides=[2, 2], auto_pad="SAME_UPPER")], {"W": W4[:, :1]}, [1, 1, 8, 8], 17,
        lambda x: F.conv2d(F.pad(x, (0, 1, 0, 1)), T(W4[:, :1]), None, 2)),
    "ConvTranspose stride 2, pads, output_padding": (
        [node("ConvTranspose", "XWB", strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])],
        {"W": W4[:2], "B": B6[:2]}, [1, 2, 5, 5], 17,
        lambda x: F.conv_transpose2d(x, T(W4[:2]), T(B6[:2]), 2, 1, 1)),
    "ConvTranspose asymmetric pads, group": (
        [node("ConvTranspose", "XW", strides=[2, 2], pads=[0, 1, 1, 0], group=2)], {"W": W4[:4]}, [1, 4, 4, 4], 17,
        lambda x: F.conv_transpose2d(x, T(W4[:4]), None, 2, groups=2)[:, :, 0:-1, 1:]),
    "MaxPool pads, ceil": (
        [node("MaxPool", "X", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)], {},
        [1, 2, 8, 8], 17, lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    "MaxPool asymmetric pads": (
        [node("MaxPool", "X", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])], {}, [1, 2, 7, 7], 17,
        lambda x: F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=-math.inf), 2, 2)),
    "AveragePool without pads counted": (
        [node("AveragePool", "X", kernel_shape=[3, 3], pads=[1, 1, 1, 1])], {}, [1, 2, 6, 6], 17,
        lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)),
    "GlobalAveragePool": ([node("GlobalAveragePool", "X")], {}, [1, 3, 5, 4], 17, lambda x: x.mean((2, 3), True)),
    "Relu": ([node("Relu", "X")], {}, [1, 2, 4, 4], 17, F.relu),
    "LeakyRelu": ([node("LeakyRelu", "X", alpha=0.2)], {}, [1, 2, 4, 4], 17, lambda x: F.leaky_relu(x, 0.2)),
    "Sigmoid": ([node("Sigmoid", "X")], {}, [1, 2, 4, 4], 17, torch.sigmoid),
    "Tanh": ([node("Tanh", "X")], {}, [1, 2, 4, 4], 17, torch.tanh),
    "Softmax": ([node("Softmax", "X", axis=1)], {}, [1, 3, 2, 2], 17, lambda x: F.softmax(x, 1)),
    "Softmax before opset 13": ([node("Softmax", "X", axis=1)], {}, [1, 3, 2, 2], 11,
                                lambda x: F.softmax(x.reshape(1, -1), 1).reshape(1, 3, 2, 2)),
    "BatchNormalization": (
        [node("BatchNormalization", ["X", "s", "b", "m", "v"], epsilon=1e-3)],
        dict(zip("sbmv", BN)), [1, 4, 3, 3], 17,
        lambda x: F.batch_norm(x, T(BN[2]), T(BN[3]), T(BN[0]), T(BN[1]), False, 0.0, 1e-3)),
    "Flatten, Gemm (a linear layer)": (
        [node("Flatten", "X", ["f"]), node("Gemm", ["f", "W", "B"], transB=1)], {"W": W36, "B": B6[:3]},
        [1, 6, 1, 1], 17, lambda x: F.linear(x.flatten(1), T(W36), T(B6[:3]))),
    "Gemm alpha, beta, no transpose": (
        [node("Flatten", "X", ["f"]), node("Gemm", ["f", "W", "C"], alpha=0.5, beta=2.0)],
        {"W": W36.T.copy(), "C": B6[:3]}, [1, 6, 1, 1], 17,
        lambda x: 0.5 * x.flatten(1) @ T(W36.T.copy()) + 2.0 * T(B6[:3])),
    "MatMul": ([node("Flatten", "X", ["f"]), node("MatMul", ["f", "W"])], {"W": W8}, [1, 1, 2, 2], 17,
               lambda x: x.flatten(1) @ T(W8)),
    "Add (a residual)": ([node("Conv", "XW", ["c"], pads=[1, 1, 1, 1]), node("Add", ["c", "X"])],
                         {"W": W4[:2, :2]}, [1, 2, 5, 5], 17,
                         lambda x: F.conv2d(x, T(W4[:2, :2]), padding=1) + x),
    "Concat (channels)": ([node("Relu", "X", ["r"]), node("Concat", ["X", "r"], axis=1)], {}, [1, 2, 3, 3], 17,
                          lambda x: torch.cat([x, F.relu(x)], 1)),
    "Reshape (a Constant shape, 0 copies)": ([const("s", [0, -1]), node("Reshape", "Xs")], {}, [1, 2, 3, 3], 17,
                                             lambda x: x.reshape(1, 18)),
    "Constant value_ints, value_float": (
        [helper.make_node("Constant", [], ["s"], value_ints=[1, -1]), node("Reshape", "Xs", ["r"]),
         helper.make_node("Constant", [], ["h"], value_float=0.5), node("Mul", "rh")], {}, [1, 2, 3, 3], 17,
        lambda x: x.reshape(1, 18) * 0.5),
    "Resize nearest x2": (
        [const("scales", [1, 1, 2, 2], np.float32),
         node("Resize", ["X", "", "scales"], mode="nearest", coordinate_transformation_mode="asymmetric",
              nearest_mode="floor")], {}, [1, 2, 3, 4], 13,
        lambda x: F.interpolate(x, scale_factor=2, mode="nearest")),
    "Resize half-pixel nearest by sizes": (
        [const("sizes", [1, 2, 9, 12]), node("Resize", ["X", "", "", "sizes"], mode="nearest")], {},
        [1, 2, 3, 4], 13, lambda x: F.interpolate(x, scale_factor=3, mode="nearest")),
    "Resize bilinear": (
        [const("scales", [1, 1, 2, 2], np.float32), node("Resize", ["X", "", "scales"], mode="linear")], {},
        [1, 2, 3, 4], 13, lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)),
    "Upsample (opset 9)": (
        [const("scales", [1, 1, 2, 2], np.float32), node("Upsample", ["X", "scales"], mode="nearest")], {},
        [1, 2, 3, 4], 9, lambda x: F.interpolate(x, scale_factor=2, mode="nearest")),
    "Clip (ReLU6, opset 11 inputs)": ([const("lo", 0.0, np.float32), const("hi", 6.0, np.float32),
                                       node("Clip", ["X", "lo", "hi"])], {}, [1, 2, 3, 3], 13,
                                      lambda x: torch.clamp(x, 0, 6)),
    "Clip (attributes, opset 6)": ([node("Clip", "X", min=-0.5, max=0.5)], {}, [1, 2, 3, 3], 6,
                                   lambda x: torch.clamp(x, -0.5, 0.5)),
    "Pad constant and reflect": (
        [const("p", [0, 0, 1, 2, 0, 0, 3, 0]), node("Pad", ["X", "p"], ["a"]),
         node("Pad", ["a", "p"], mode="reflect")], {}, [1, 2, 4, 4], 13,
        lambda x: F.pad(F.pad(x, (2, 0, 1, 3)), (2, 0, 1, 3), mode="reflect")),
    "Transpose": ([node("Transpose", "X", perm=[0, 2, 3, 1])], {}, [1, 2, 3, 4], 13, lambda x: x.permute(0, 2, 3, 1)),
    "ReduceMean, Squeeze, Unsqueeze": (
        [node("ReduceMean", "X", ["m"], axes=[2, 3], keepdims=1), const("ax", [2, 3]),
         node("Squeeze", ["m", "ax"], ["s"]), node("Unsqueeze", ["s", "ax"])], {}, [1, 3, 4, 5], 13,
        lambda x: x.mean((2, 3), keepdim=True)),
    "Identity, Dropout": ([node("Identity", "X", ["i"]), node("Dropout", "i")], {}, [1, 2, 3, 3], 17, lambda x: x),
}


@needs_onnx
@pytest.mark.parametrize("case", ONNX_CASES)
def test_each_supported_onnx_operator_computes_what_torch_computes(case):
    nodes, inits, shape, opset, reference = ONNX_CASES[case]
    view = open_model(onnx_bytes(nodes, inits, shape, opset), "case.onnx")
    assert (view.source, view.input_shape) == ("onnx", tuple(shape[1:]))
    x = torch.randn(shape)
    torch.testing.assert_close(view.graph_module(x), reference(x), rtol=1e-5, atol=1e-5)
    statistics = {"m", "v"} if case == "BatchNormalization" else set()  # batch norm's running mean and variance
    assert view.param_count == sum(value.size for name, value in inits.items() if name not in statistics)


@needs_onnx
def test_an_unsupported_onnx_operator_is_named_with_its_node():
    nodes = [node("Conv", "XW", ["c"]), node("Relu", "c", ["r"]),
             helper.make_node("Gather", ["r", "i"], ["Y"], name="pick_rows")]
    data = onnx_bytes(nodes, {"W": W4[:3, :2], "i": np.array([0])}, [1, 2, 5, 5])
    with pytest.raises(ModelFileError, match="operator Gather \\(node 'pick_rows'\\).*Conv, ConvTranspose") as caught:
        open_model(data, "net.onnx")
    part = caught.value.supported_part  # the graph up to the Gather, ending at the value it reads
    assert (part.name, part.source, part.input_shape) == ("net", "onnx", (2, 5, 5))
    x = torch.randn(1, 2, 5, 5)
    torch.testing.assert_close(part.graph_module(x), F.relu(F.conv2d(x, T(W4[:3, :2]))))
    custom = [helper.make_node("Relu", ["X"], ["Y"], name="mine", domain="com.example")]
    with pytest.raises(ModelFileError, match="com.example.Relu \\(node 'mine'\\)"):
        open_model(onnx_bytes(custom, {}, [1, 2, 3, 3]), "net.onnx")


@needs_onnx
def test_an_unsupported_onnx_setting_is_named_with_its_node():
    nodes = [node("Resize", ["X", "", "s"], mode="cubic")]
    with pytest.raises(ModelFileError, match="node 'my_resize' \\(Resize\\).*cubic"):
        open_model(onnx_bytes(nodes, {"s": np.array([1, 1, 2, 2], np.float32)}, [1, 1, 4, 4], 13), "net.onnx")


@needs_onnx
def test_onnx_external_data_is_refused_without_reading_the_servers_disk(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(4, np.float32).tobytes())
    weight = numpy_helper.from_array(np.zeros(4, np.float32), "W")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=str(secret))
    graph = helper.make_graph([node("Add", "XW")], "t", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                                        [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [weight])
    data = helper.make_model(graph).SerializeToString()
    with pytest.raises(ModelFileError, match="'W' is stored outside the .onnx file"):
        open_model(data, "ext.onnx")


@needs_onnx
def test_an_absurd_onnx_initializer_size_is_refused_before_allocating(monkeypatch):
    huge = TensorProto(name="W", dims=[10**6, 10**6], data_type=TensorProto.FLOAT)  # declares 4 TB, holds nothing
    graph = helper.make_graph([node("MatMul", "XW")], "t", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                                           [1, 1, 1, 10**6])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [huge])
    monkeypatch.setattr(numpy_helper, "to_array", lambda *a, **k: pytest.fail("an initializer was allocated"))
    with pytest.raises(ModelFileError, match="1,000,000,000,000 parameters, over the limit of 100,000,000"):
        open_model(helper.make_model(graph).SerializeToString(), "huge.onnx")


@needs_onnx
@pytest.mark.parametrize("shape, match", [([1, 3, 4], "1×3×4"), ([2, 1, 4, 4], "batch of one"),
                                          ([1, 1, "h", 4], "sizes left open")])
def test_onnx_inputs_must_be_one_fixed_image(shape, match):
    with pytest.raises(ModelFileError, match=match):
        open_model(onnx_bytes([node("Relu", "X")], {}, shape), "net.onnx")


@needs_onnx
def test_an_onnx_input_over_the_pixel_limit_is_refused_before_an_image_is_made(monkeypatch):
    monkeypatch.setattr(torch, "zeros", lambda *a, **k: pytest.fail("an input image was made"))
    with pytest.raises(ModelFileError, match="100000×100000 pixels, over the limit of 1048576"):
        open_model(onnx_bytes([node("Relu", "X")], {}, [1, 3, 100_000, 100_000]), "huge.onnx")


def test_a_pt2_graph_over_the_graph_size_limit_is_refused_before_parsing():
    with pytest.raises(ModelFileError, match=r"graph is \d+ KB of text, over the limit of 4 KB"):
        open_model(pt2_bytes(small_net()), "net.pt2", Limits(max_graph_bytes=4096))


@needs_onnx
def test_damaged_onnx_bytes_get_a_clear_message():
    with pytest.raises(ModelFileError, match="not a readable ONNX model"):
        open_model(b"\x08\x07garbage\xff\xff", "broken.onnx")


class Residual(nn.Module):
    """A basic block with a projection shortcut, an inception-like concat, and an upsampling decoder tail."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv1, self.bn1 = nn.Conv2d(1, 4, 3, 2, 1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, 1, 1), nn.BatchNorm2d(4)
        self.project = nn.Conv2d(1, 4, 1, 2)
        self.branch3, self.branch5 = nn.Conv2d(4, 2, 3, padding=1), nn.Conv2d(4, 2, 5, padding=2)
        self.up = nn.ConvTranspose2d(4, 2, 2, 2)
        self.head = nn.Linear(2, 10)
        for bn in (self.bn1, self.bn2):  # non-trivial statistics, so folding them is tested
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)

    def forward(self, x):
        y = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + self.project(x))
        y = torch.cat([self.branch3(y), self.branch5(y)], 1)
        y = nn.functional.max_pool2d(self.up(nn.functional.interpolate(y, scale_factor=2.0)), 2)
        return self.head(nn.functional.adaptive_avg_pool2d(y, 1).flatten(1))


@needs_onnx
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_torch_model_exported_to_onnx_opens_with_the_same_outputs():
    net = Residual().eval()
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(1, 1, 12, 12),), buffer, dynamo=False)
    view = open_model(buffer.getvalue(), "residual.onnx")
    x = torch.randn(1, 1, 12, 12)
    torch.testing.assert_close(view.graph_module(x), net(x), rtol=1e-4, atol=1e-5)
    # Every operator carries its ONNX node's name, as the torch model's module path and the op.
    paths = {list(n.meta["nn_module_stack"].values())[-1][0] for n in view.program.graph.nodes
             if n.target is torch.ops.aten.conv2d.default}
    assert paths == {"conv1.Conv", "conv2.Conv", "project.Conv", "branch3.Conv", "branch5.Conv"}
    pt2 = open_model(pt2_bytes(net), "residual.pt2")
    torch.testing.assert_close(pt2.graph_module(x), net(x))


# ------------------------------------------------------------------------------------------- the shipped demo models

DEMO_MODELS = ("default", "resnet", "inception")  # scripts/build_models.py writes each as .pt2 and .onnx


@pytest.fixture(scope="module")
def digits():
    from cnnviz.data import load_mnist

    mnist = load_mnist()
    return mnist.test_images[:200], mnist.test_labels[:200]


def demo_logits(view: ModelView, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([view.graph_module(image[None]) for image in images])  # (N, 10); exported for one image


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_each_demo_model_opens_in_both_formats_classifies_digits_and_agrees(name, digits):
    images, labels = digits
    opened = {}
    for source in ("pt2", "onnx"):
        if source == "onnx" and onnx is None:
            continue
        view = open_model((ROOT / "assets" / "models" / f"{name}.{source}").read_bytes(), f"{name}.{source}")
        assert (view.name, view.source, view.input_shape) == (name, source, (1, 28, 28))
        opened[source] = demo_logits(view, images)
        assert opened[source].shape == (200, 10)
        assert (opened[source].argmax(1) == labels).float().mean() >= 0.9
    if "onnx" in opened:
        torch.testing.assert_close(opened["onnx"], opened["pt2"], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_the_build_script_writes_models_that_open(tmp_path):
    import runpy

    script = runpy.run_path(str(ROOT / "scripts" / "build_models.py"))
    script["main"](["--dry-run", "--out", str(tmp_path)])
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == sorted(["labels.txt", *(f"{name}.{ext}" for name in DEMO_MODELS for ext in ("pt2", "onnx"))])
    for name in DEMO_MODELS:
        assert open_model((tmp_path / f"{name}.pt2").read_bytes(), f"{name}.pt2").input_shape == (1, 28, 28)


def test_the_demo_labels_name_the_ten_digits():
    lines = (ROOT / "assets" / "models" / "labels.txt").read_text().splitlines()
    assert lines == [str(digit) for digit in range(10)]


def test_the_demo_models_are_small():
    sizes = sum(path.stat().st_size for path in (ROOT / "assets" / "models").iterdir())
    assert sizes < 4 * 2**20


def test_a_program_exported_in_training_mode_or_with_dynamic_shapes_gets_its_own_advice():
    def saved(program) -> bytes:
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
        return buffer.getvalue()

    net = small_net()
    with pytest.raises(ModelFileError, match=r"training mode.*model\.eval\(\)"):
        open_model(saved(torch.export.export(net.train(), (torch.zeros(1, 1, 12, 12),))), "train.pt2")
    batch = torch.export.Dim("batch", min=1, max=8)
    program = torch.export.export(net.eval(), (torch.zeros(2, 1, 12, 12),), dynamic_shapes={"input": {0: batch}})
    with pytest.raises(ModelFileError, match="dynamic shapes"):
        open_model(saved(program), "dynamic.pt2")


def test_without_the_onnx_package_an_onnx_upload_gets_advice(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # what `import onnx` meets on a server without it
    with pytest.raises(ModelFileError, match="onnx package is not installed.*Upload the model as a .pt2"):
        open_model(b"\x08\x07", "net.onnx")


def json_paths(value, path=()):
    """Every path into a JSON tree, the root's included."""
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from json_paths(child, (*path, key))


@pytest.fixture(scope="module")
def saved_small_net() -> bytes:
    return pt2_bytes(small_net())


@settings(max_examples=40)
@given(member=st.sampled_from(["models/model.json", "data/weights/model_weights_config.json"]),
       pick=st.integers(min_value=0), junk=st.sampled_from([None, 0, -1, 10**20, "x", [], {}, [1], 1.5, True]),
       delete=st.booleans())
def test_a_pt2_with_any_part_of_its_json_broken_gets_a_user_error_or_opens(saved_small_net, member, pick, junk,
                                                                             delete):
    def damage(value):
        paths = list(json_paths(value))[1:]
        path = paths[pick % len(paths)]
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        if delete and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = junk

    data = rewrite(saved_small_net, {member: edit_json(damage)})
    try:
        open_model(data, "damaged.pt2")
    except cnnviz.errors.UserError:
        pass  # any other exception fails the test: a traceback would reach the page


class MobileBlock(nn.Module):
    """MobileNetV3's everyday operators: in-place hardswish and ReLU6, squeeze-excite, depthwise, GroupNorm, GELU."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.conv, self.bn, self.act = nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.Hardswish(inplace=True)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 2, 1), nn.ReLU(inplace=True), nn.Conv2d(2, 8, 1),
                                nn.Hardsigmoid())
        self.depthwise, self.relu6 = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6(inplace=True)
        self.norm, self.gelu, self.fc = nn.GroupNorm(2, 8), nn.GELU(), nn.Linear(8, 5)

    def forward(self, x):
        x = self.act(self.bn(self.conv(x.float())))
        x = self.gelu(self.norm(self.relu6(self.depthwise(x * self.se(x)))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def test_everyday_operators_of_a_mobile_net_are_allowed():
    net = MobileBlock().eval()
    view = open_model(pt2_bytes(net, (1, 3, 16, 16)), "mobile.pt2")
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(view.graph_module(x), net(x))


@needs_onnx
def test_both_formats_count_the_same_parameters_but_what_folding_changes():
    count = {(name, fmt): open_model((ROOT / "assets" / "models" / f"{name}.{fmt}").read_bytes(),
                                     f"{name}.{fmt}").param_count
             for name in DEMO_MODELS for fmt in ("pt2", "onnx")}
    # Batch norm's running statistics are buffers in both: the default net (batch norm after a pool, not folded)
    # and the Inception net (none) count alike.
    assert count["default", "onnx"] == count["default", "pt2"] == 108_970
    assert count["inception", "onnx"] == count["inception", "pt2"]
    # The exporter folds the residual net's six batch norms into the convolutions before them: each loses its scale
    # and shift (2 x 16+16+16+32+32+32 = 288) and its convolution gains a bias (144).
    assert count["resnet", "pt2"] - count["resnet", "onnx"] == 288 - 144
