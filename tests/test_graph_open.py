"""Opening a user's model (cnnviz.graph.open): .pt2 without running the file's code, ONNX converted operator by
operator and checked against torch, cnnviz checkpoints, the limits, and the shipped demo models."""
import contextlib
import dataclasses
import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
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
