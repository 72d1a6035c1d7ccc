"""A graph's layer table, fields through branches and feature maps, against hand-computed fields, autograd,
forward hooks on the original module, torch's own FLOP counter and the module's own parameter count."""
import doctest
import pickle

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnviz.analysis import receptive_field
from cnnviz.analysis.receptive_field import Box
from cnnviz.errors import UserError
from cnnviz.graph import analysis, fields
from cnnviz.graph.analysis import GraphTable, feature_maps, graph_table, unit_at, unit_box
from cnnviz.model import NETWORK_PRESETS, build_model, summarize


def export(module: nn.Module, shape=(3, 8, 8), **options):
    return torch.export.export(module.eval(), (torch.zeros(1, *shape),), **options).module()


class BasicBlock(nn.Module):
    """ResNet's basic block as torchvision writes it: one ReLU module used twice, the sum in forward."""

    def __init__(self, cin: int, cout: int, stride: int, inplace: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=inplace)
        self.inplace = inplace  # torchvision's "out += identity" and ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.inplace:
            out += self.shortcut(x)
            return self.relu(out)
        return self.relu(out + self.shortcut(x))


class Inception(nn.Module):
    """1×1, 3×3 and 5×5 paths side by side, joined along the channels; ``crop`` keeps each path's top-left 4×4."""

    def __init__(self, padded: bool = True, crop: bool = False):
        super().__init__()
        self.b1 = nn.Conv2d(3, 2, 1)
        self.b3 = nn.Conv2d(3, 2, 3, padding=1 if padded else 0)
        self.b5 = nn.Conv2d(3, 2, 5, padding=2 if padded else 0)
        self.crop = crop

    def forward(self, x):
        paths = [self.b1(x), self.b3(x), self.b5(x)]
        if self.crop:
            paths = [path[:, :, :4, :4] for path in paths]
        return torch.cat(paths, 1)


class PaddedPath(nn.Module):
    """A 1×1 path beside a 3×3 path padded on the top and left only: the same 8×8 maps, centres apart."""

    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(3, 2, 1)
        self.b3 = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.b1(x) + self.b3(F.pad(x, (2, 0, 2, 0)))


class StridedSlices(nn.Module):
    """Two stride-2 samplings of one image, one from pixel 0 and one from pixel 1: the same 4×4 maps."""

    def __init__(self):
        super().__init__()
        self.even = nn.Conv2d(3, 2, 1, stride=2)
        self.odd = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.even(x) + self.odd(x[:, :, 1::2, 1::2])


class Halves(nn.Module):
    """Channels split in two (``chunk``), one half convolved, then joined again."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        a, b = x.chunk(2, 1)
        return torch.cat([self.conv(a), b], 1)


def field(table: GraphTable, name: str):
    row = table.row(name)
    return row.rf_size, row.jump, row.start, row.misaligned


# --- receptive fields against hand-computed values ---------------------------------------------------------

def test_resnet_block_with_projection_by_hand():
    table = graph_table(export(nn.Sequential(BasicBlock(3, 4, 2))), (3, 8, 8))
    # conv1 3×3 s2 p1: size 1 + 2·1 = 3, jump 1·2 = 2, start 0 − 1·1 = −1
    assert field(table, "0.conv1") == ((3, 3), (2, 2), (-1, -1), False)
    assert field(table, "0.bn1")[:3] == field(table, "0.relu")[:3] == ((3, 3), (2, 2), (-1, -1))
    # conv2 3×3 s1 p1: size 3 + 2·2 = 7, jump 2, start −1 − 1·2 = −3
    assert field(table, "0.conv2") == ((7, 7), (2, 2), (-3, -3), False)
    # shortcut 1×1 s2 p0: size 1, jump 2, start 0
    assert field(table, "0.shortcut.0") == ((1, 1), (2, 2), (0, 0), False)
    # add: union from min(−3, 0) = −3 to max(−3 + 7, 0 + 1) = 4, size 7; centres −3 + 3 = 0 and 0 + 0 = 0: aligned
    assert field(table, "0.add") == ((7, 7), (2, 2), (-3, -3), False)
    assert table.row("0.add").inputs == ("0.bn2", "0.shortcut.1")
    assert table.row("0.shortcut.0").inputs == table.row("0.conv1").inputs == ("input",)
    assert field(table, "0.relu_1")[:3] == ((7, 7), (2, 2), (-3, -3))  # the ReLU module used a second time
    # unit (1, 2) of the sum: rows −3 + 1·2 = −1 .. 6, cols −3 + 2·2 = 1 .. 8
    assert unit_box(table, "0.add", 1, 2) == Box(-1, 1, 6, 8)


@pytest.mark.parametrize("inplace", [False, True])
def test_resnet_identity_block_by_hand(inplace):
    table = graph_table(export(nn.Sequential(BasicBlock(3, 3, 1, inplace))), (3, 8, 8))
    # conv1 3×3 s1 p1: 3, 1, −1; conv2: 3 + 2 = 5, 1, −2; the identity: 1, 1, 0
    assert field(table, "0.conv2") == ((5, 5), (1, 1), (-2, -2), False)
    # add: from min(−2, 0) = −2 to max(3, 1) = 3, size 5; centres −2 + 2 = 0 and 0: aligned
    assert field(table, "0.add") == ((5, 5), (1, 1), (-2, -2), False)
    assert table.row("0.add").inputs == ("0.bn2", "input")
    assert table.row("0.add").target == ("aten.add_.Tensor" if inplace else "aten.add.Tensor")


def test_the_sum_before_an_in_place_relu_is_kept():
    """``out += identity`` then ReLU(inplace=True) rewrite one tensor twice: each row keeps its own values."""
    block = BasicBlock(3, 3, 1, inplace=True).eval()
    x = torch.randn(1, 3, 8, 8)
    maps = feature_maps(export(nn.Sequential(block)), x)
    with torch.no_grad():
        before = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))) + x
    assert (before < 0).any() and torch.equal(maps["0.add"], before)
    assert torch.equal(maps["0.relu_1"], before.clamp(min=0))


def test_inception_concat_aligned_by_hand():
    table = graph_table(export(Inception()), (3, 8, 8))
    # 1×1: (1, 1, 0); 3×3 p1: (3, 1, −1); 5×5 p2: (5, 1, −2)
    assert [field(table, name)[:3] for name in ("b1", "b3", "b5")] == [
        ((1, 1), (1, 1), (0, 0)), ((3, 3), (1, 1), (-1, -1)), ((5, 5), (1, 1), (-2, -2))]
    # cat: from min(0, −1, −2) = −2 to max(1, 2, 3) = 3, size 5; centres 0, −1 + 1 = 0, −2 + 2 = 0: aligned
    assert field(table, "cat") == ((5, 5), (1, 1), (-2, -2), False)
    assert table.row("cat").inputs == ("b1", "b3", "b5")
    assert table.row("cat").output_shape == (6, 8, 8)


def test_inception_cropped_paths_misaligned_by_hand():
    table = graph_table(export(Inception(padded=False, crop=True)), (3, 8, 8))
    # unpadded 3×3: (3, 1, 0), 5×5: (5, 1, 0); keeping rows and cols 0..3 moves no start. torch.export writes
    # the crop of the 4×4 map, which keeps all of it, as an ``alias``.
    assert [field(table, name)[:3] for name in ("slice_1", "slice_3", "alias")] == [
        ((1, 1), (1, 1), (0, 0)), ((3, 3), (1, 1), (0, 0)), ((5, 5), (1, 1), (0, 0))]
    # cat: from 0 to max(1, 3, 5) = 5, size 5; centres 0, 1, 2: misaligned
    assert field(table, "cat") == ((5, 5), (1, 1), (0, 0), True)


def test_padding_one_path_misaligns_the_sum_by_hand():
    table = graph_table(export(PaddedPath()), (3, 8, 8))
    # pad 2 before, then 3×3 without padding: start 0 − 2 = −2, size 3, centre −1; the 1×1 path's centre is 0
    assert field(table, "b3") == ((3, 3), (1, 1), (-2, -2), False)
    # add: from −2 to max(1, 1) = 1, size 3; misaligned
    assert field(table, "add") == ((3, 3), (1, 1), (-2, -2), True)


def test_strided_slices_misaligned_by_hand():
    table = graph_table(export(StridedSlices()), (3, 8, 8))
    # 1×1 stride 2: (1, 2, 0); keeping every 2nd pixel from 1 on: start 0 + 1·1 = 1, jump 1·2 = 2, then a 1×1
    assert field(table, "odd") == ((1, 1), (2, 2), (1, 1), False)
    # add: from 0 to max(1, 2) = 2, size 2, jump 2; centres 0 and 1: misaligned
    assert field(table, "add") == ((2, 2), (2, 2), (0, 0), True)


def test_paths_with_different_jumps_have_no_common_field():
    class Jumps(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, stride=2)  # 8×8 to 3×3, jump 2

        def forward(self, x):
            return self.conv(x) + x[:, :, :3, :3]  # jump 1

    row = graph_table(export(Jumps()), (3, 8, 8)).row("add")
    assert row.rf_size is None and row.misaligned and "different jumps ([(1, 1), (2, 2)])" in str(row.note)


def test_a_channel_split_keeps_the_field_and_names_its_items():
    table = graph_table(export(Halves(), (4, 6, 6)), (4, 6, 6))
    assert [(row.name, row.op, row.inputs, row.output_shape) for row in table.rows] == [
        ("chunk", "chunk", ("input",), (2, 6, 6)), ("chunk_1", "chunk", ("input",), (2, 6, 6)),
        ("conv", "conv2d", ("chunk",), (2, 6, 6)), ("cat", "cat", ("conv", "chunk_1"), (4, 6, 6))]
    # cat: the 3×3 path from −1 to 2 and the untouched half from 0 to 1: size 3, centres 0 and 0
    assert field(table, "cat") == ((3, 3), (1, 1), (-1, -1), False)
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(feature_maps(export(Halves(), (4, 6, 6)), x)["chunk_1"], x[:, 2:])


def test_single_path_matches_receptive_field_analyze():
    net = nn.Sequential(nn.Conv2d(3, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 4, 3, stride=2, padding=1, dilation=2), nn.AvgPool2d(3, 2, 1),
                        nn.Conv2d(4, 2, (3, 1), padding=(0, 1)))
    table = graph_table(export(net, (3, 32, 24)), (3, 32, 24))
    expected = {row.name: row for row in receptive_field.analyze_model(net, (32, 24))}
    assert set(expected) == {"0", "2", "3", "4", "5"}
    for name, rf in expected.items():
        row = table.row(name)
        assert (row.rf_size, row.jump, row.start, row.output_shape[1:], row.window) == (
            rf.size, rf.jump, rf.start, rf.out_size, rf.layer)


def _layer(kind: str, kernel: int, stride: int, padding: int, dilation: int) -> nn.Module:
    padding = min(padding, kernel // 2)  # torch's limit for pooling; any padding for a conv
    if kind == "conv":
        return nn.Conv2d(2, 2, kernel, stride, padding, dilation)
    if kind == "max":
        return nn.MaxPool2d(kernel, stride, padding, dilation)
    return nn.AvgPool2d(kernel, stride, padding)


layers = st.tuples(st.sampled_from(["conv", "max", "avg"]), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2),
                   st.integers(1, 2))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layers, min_size=1, max_size=4), st.integers(12, 20), st.integers(12, 20))
def test_any_single_path_matches_receptive_field_analyze(specs, height, width):
    net = nn.Sequential(*(_layer(*spec) for spec in specs))
    try:
        expected = receptive_field.analyze_model(net, (height, width))
    except ValueError:
        assume(False)  # a window wider than its map: torch.export refuses it too
    table = graph_table(export(net, (2, height, width)), (2, height, width))
    assert [(row.name, row.rf_size, row.jump, row.start, row.output_shape[1:], row.window) for row in table.rows] == [
        (rf.name, rf.size, rf.jump, rf.start, rf.out_size, rf.layer) for rf in expected]


def _ones(module: nn.Module) -> nn.Module:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.fill_(1.0)
    return module.eval()


@pytest.mark.parametrize("module, shape, exact", [
    (nn.Sequential(BasicBlock(3, 4, 2)), (3, 9, 9), True),
    (nn.Sequential(BasicBlock(3, 3, 1), nn.MaxPool2d(3, 2, 1)), (3, 8, 8), False),
    (Inception(), (3, 8, 8), True),
    (Inception(padded=False, crop=True), (3, 8, 8), True),
    (PaddedPath(), (3, 8, 8), True),
    (nn.Sequential(BasicBlock(3, 4, 2), BasicBlock(4, 4, 1)), (3, 12, 10), True),
    (StridedSlices(), (3, 8, 8), False),
], ids=["projection", "identity_pool", "inception", "cropped", "padded_path", "two_blocks", "strided_slices"])
def test_autograd_reaches_only_pixels_inside_the_field(module, shape, exact):
    """Weights of ones and a positive input: every pixel a unit depends on gets a positive gradient, so the
    gradient's support is the field clipped to the image. Max pooling picks one pixel, and two strided samplings
    see pixels diagonally apart: their support lies inside the field without filling it."""
    gm = export(_ones(module), shape)
    table = graph_table(gm, shape)
    image = (torch.rand(1, *shape) + 0.5).requires_grad_(True)
    maps = _maps_with_grad(gm, image)
    checked = 0
    for row in table.rows:
        if row.rf_size is None:
            continue
        for unit in {(0, 0), (row.output_shape[1] // 2, row.output_shape[2] // 3),
                     (row.output_shape[1] - 1, row.output_shape[2] - 1)}:
            unit_sum = maps[row.node][0, :, unit[0], unit[1]].sum()  # every channel: every path's field
            (grad,) = torch.autograd.grad(unit_sum, image, retain_graph=True)
            support = grad[0].abs().sum(0) > 0  # (H, W)
            assert analysis.walked_box(table, row.name, *unit) == unit_box(table, row.name, *unit)  # two ways, one box
            box = unit_box(table, row.name, *unit).clip(*shape[1:])
            inside = torch.zeros_like(support)
            inside[box.top:box.bottom, box.left:box.right] = True
            assert not (support & ~inside).any(), (row.name, unit)
            if exact or row.name in ("0.conv1", "even", "odd"):
                assert torch.equal(support, inside), (row.name, unit)
            checked += 1
    assert checked >= 12


def _maps_with_grad(gm, image):
    """Every node's output with autograd on (feature_maps detaches, by design)."""
    values = {}

    class Keep(torch.fx.Interpreter):
        def run_node(self, node):
            values[node.name] = value = super().run_node(node)
            return value

    Keep(gm).run(image)
    return {name: value[0] if isinstance(value, tuple) else value for name, value in values.items()}


def test_a_reflect_padded_layer_called_twice_keeps_its_name():
    """torch.export writes a reflect-padded conv as ``pad`` then ``conv2d``: the conv's output carries the layer's
    name, as a forward hook would, and copied pixels count as padding, as on the receptive-field page."""
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.conv(self.relu(self.conv(x))))

    table = graph_table(export(Twice(), (2, 5, 5)), (2, 5, 5))
    assert [(row.name, row.op, row.inputs) for row in table.rows] == [
        ("conv.pad", "pad", ("input",)), ("conv", "conv2d", ("conv.pad",)), ("relu", "relu", ("conv",)),
        ("conv_1.pad", "pad", ("relu",)), ("conv_1", "conv2d", ("conv_1.pad",)), ("relu_1", "relu", ("conv_1",))]
    # pad 1, then 3×3 unpadded: start −1, size 3; twice: start −2, size 5
    assert field(table, "conv")[:3] == ((3, 3), (1, 1), (-1, -1))
    assert field(table, "relu_1")[:3] == ((5, 5), (1, 1), (-2, -2))


def test_unit_at_inverts_the_field_centre():
    table = graph_table(export(nn.Sequential(BasicBlock(3, 4, 2))), (3, 8, 8))
    for unit in [(0, 0), (1, 3), (3, 3)]:
        box = unit_box(table, "0.add", *unit)
        assert unit_at(table, "0.add", (box.top + box.bottom - 1) / 2, (box.left + box.right - 1) / 2) == unit
    assert unit_at(table, "0.add", -100.0, 100.0) == (0, 3)  # beyond the map: the edge unit


# --- the table: parameters, multiply-adds, shapes ------------------------------------------------------------

class EveryOp(nn.Module):
    """One of every supported operator, each in a module of its own so a forward hook sees it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.leaky = nn.LeakyReLU(0.1)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(3, 1, 1)
        self.grouped = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.sigmoid = nn.Sigmoid()
        self.up = nn.Upsample(scale_factor=2)
        self.tconv = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
        self.tanh = nn.Tanh()
        self.drop = nn.Dropout(0.5)
        self.merge = Add()
        self.join = Cat()
        self.adaptive = nn.AdaptiveAvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 2 * 2, 5)

    def forward(self, x):
        y = self.pool(self.leaky(self.relu(self.bn(self.conv(x)))))  # (4, 4, 4)
        y = self.merge(self.avg(y), self.sigmoid(self.grouped(y)))
        z = self.tanh(self.tconv(y))  # (2, 8, 8)
        y = self.join(self.up(y)[:, :2], self.drop(z))  # (4, 8, 8)
        return self.fc(self.flatten(self.adaptive(y)))


class Add(nn.Module):
    def forward(self, a, b):
        return a + b


class Cat(nn.Module):
    def forward(self, a, b):
        return torch.cat([a, b], 1)


def test_every_operators_feature_maps_equal_forward_hooks():
    torch.manual_seed(0)
    module = EveryOp().eval()
    with torch.no_grad():
        module.bn.running_mean.uniform_(-1, 1)
        module.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(1, 3, 8, 8)
    hooked = {}
    handles = [leaf.register_forward_hook(lambda m, i, o, name=name: hooked.__setitem__(name, o.detach().clone()))
               for name, leaf in module.named_modules() if name and next(leaf.children(), None) is None]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    maps = feature_maps(export(module), x)
    renamed = {"merge": "merge.add", "join": "join.cat"}  # functional operators in a module of the user's
    assert len(hooked) == 17
    for name, output in hooked.items():
        assert torch.equal(maps[renamed.get(name, name)], output), name
    table = graph_table(export(module), (3, 8, 8))
    assert list(maps) == [row.name for row in table.rows]
    assert all(tuple(maps[row.name].shape[1:]) == row.output_shape for row in table.rows)
    assert [row.op for row in table.rows] == [
        "conv2d", "batch_norm", "relu", "leaky_relu", "max_pool2d", "avg_pool2d", "conv2d", "sigmoid", "add",
        "conv_transpose2d", "tanh", "upsample_nearest2d", "slice", "dropout", "cat", "adaptive_avg_pool2d",
        "flatten", "linear"]
    assert all(row.supported for row in table.rows)


def test_feature_maps_leave_in_place_operators_out():
    """relu_ rewrites its input in place: the batch norm row must keep the values from before the ReLU."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(inplace=True)).eval()
    x = torch.randn(1, 1, 6, 6)
    maps = feature_maps(export(net, (1, 6, 6)), x)
    with torch.no_grad():
        before = net[1](net[0](x))
    assert (before < 0).any() and torch.equal(maps["1"], before)


def test_params_against_the_module_and_macs_against_torchs_flop_counter():
    module = EveryOp().eval()
    table = graph_table(export(module), (3, 8, 8))
    assert table.total_params == sum(p.numel() for p in module.parameters()) == 4 * 28 + 8 + 4 * 18 + 4 + 4 * 18 + 2 + 85
    x = torch.zeros(1, 3, 8, 8)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(x)
    counts = counter.get_flop_counts()
    # torch counts 2 FLOPs a multiply-add for convolutions and matrix products, and nothing for pooling, batch
    # norm or activations, where the table counts 0 multiply-adds too.
    for name in ("conv", "grouped", "tconv", "fc"):
        assert sum(counts[f"EveryOp.{name}"].values()) == 2 * table.row(name).macs, name
    assert sum(counts["Global"].values()) == 2 * table.total_macs
    # By hand: conv 4·8·8·(3·9); grouped 4·4·4·(2·9); transposed: each of 4·4·4 inputs writes 2·9; fc 16·5
    assert [table.row(name).macs for name in ("conv", "grouped", "tconv", "fc")] == [6912, 1152, 1152, 80]


def test_a_shared_weight_counts_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    table = graph_table(export(Twice(), (2, 5, 5)), (2, 5, 5))
    assert [(row.name, row.params) for row in table.rows] == [("conv", 38), ("conv_1", 0)]
    assert table.total_params == 38 and table.total_macs == 2 * 2 * 25 * 18
    assert table.row("conv_1").rf_size == (5, 5)


def test_a_decomposed_graph_gives_the_same_table():
    module = nn.Sequential(BasicBlock(3, 4, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    program = torch.export.export(module, (torch.zeros(1, 3, 8, 8),))
    plain = graph_table(program.module(), (3, 8, 8))
    core = graph_table(program.run_decompositions().module(), (3, 8, 8))
    assert [(r.name, r.output_shape, r.params, r.macs, r.rf_size, r.jump, r.start) for r in core.rows] == [
        (r.name, r.output_shape, r.params, r.macs, r.rf_size, r.jump, r.start) for r in plain.rows]
    assert [row.op for row in core.rows][-3:] == ["mean", "view", "linear"]  # ATen's core spellings
    assert plain.row("1").rf_size == (13, 13)  # global pooling of the 4×4 sum, jump 2: 7 + (4 − 1)·2


# --- what the table cannot follow, and errors ----------------------------------------------------------------

def test_an_unsupported_operator_is_named_and_the_rest_still_shows():
    class Rolled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.after = nn.Conv2d(2, 2, 3)

        def forward(self, x):
            return self.after(torch.roll(self.conv(x), 1, 2))

    table = graph_table(export(Rolled(), (1, 6, 6)), (1, 6, 6))
    roll, after = table.row("roll"), table.row("after")
    assert table.unsupported == (roll,)
    assert roll.rf_size is None and "roll" in str(roll.note) and "aten.roll" in str(roll.note)
    assert after.rf_size is None and after.output_shape == (2, 4, 4) and after.macs == 2 * 16 * 18
    assert str(after.note) == "the field is unknown from roll on"
    assert after.note.render("zh") == "从 roll 开始感受野未知" and "aten.roll" in roll.note.render("zh")
    assert pickle.loads(pickle.dumps(table)) == table  # a page's cache pickles its results
    with pytest.raises(UserError, match="after has no receptive field to draw: the field is unknown from roll"):
        unit_box(table, "after", 0, 0)


def test_upsampling_ends_the_field_with_a_reason():
    table = graph_table(export(EveryOp()), (3, 8, 8))
    assert table.row("tconv").rf_size is None and "conv_transpose2d" in str(table.row("tconv").note)
    assert table.row("up").rf_size is None and "upsampling" in str(table.row("up").note)
    # conv 3×3: 3; max pool 2: 3 + 1 = 4, jump 2; avg 3×3 and the grouped 3×3 alike: 4 + 2·2 = 8; their sum: 8
    assert table.row("merge.add").rf_size == (8, 8)
    assert table.row("flatten").rf_size is None and table.row("flatten").note is None  # no map, nothing unknown


def test_a_model_exported_for_one_size_refuses_another():
    gm = export(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 2)), (3, 8, 8))
    assert graph_table(gm).input_shape == (3, 8, 8)  # None: the exported shape
    with pytest.raises(UserError, match="exported for images of 3×8×8 and cannot run on 3×10×10"):
        graph_table(gm, (3, 10, 10))
    with pytest.raises(UserError, match="cannot run on 3×10×10"):
        feature_maps(gm, torch.zeros(1, 3, 10, 10))


def test_a_model_exported_with_dynamic_sizes_runs_on_another():
    size = torch.export.Dim("size", min=6, max=64)
    gm = export(nn.Sequential(nn.Conv2d(3, 2, 3, stride=2), nn.ReLU()), (3, 8, 8),
                dynamic_shapes={"input": {2: size, 3: size}})
    table = graph_table(gm, (3, 16, 16))
    assert table.row("0").output_shape == (2, 7, 7) and table.row("0").rf_size == (3, 3)
    with pytest.raises(UserError, match=r"takes images of several sizes \(3×s\d+×s\d+\): choose the size"):
        graph_table(gm)


def test_a_model_with_two_inputs_is_refused():
    class Two(nn.Module):
        def forward(self, x, y):
            return x + y

    gm = torch.export.export(Two(), (torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))).module()
    with pytest.raises(UserError, match=r"must take one image, but its graph has 2 inputs \(x, y\)"):
        graph_table(gm, (1, 4, 4))


@pytest.mark.parametrize("shape", [(3, 8), (0, 8, 8), (3, 8, 8.0), "3x8x8", (True, 8, 8)])
def test_bad_input_shape_named(shape):
    with pytest.raises(ValueError, match="input_shape must be"):
        graph_table(export(nn.Conv2d(3, 2, 3)), shape)


def test_bad_arguments_named():
    gm = export(nn.Conv2d(3, 2, 3))
    table = graph_table(gm, (3, 8, 8))
    with pytest.raises(ValueError, match="GraphModule or an ExportedProgram, got Conv2d"):
        graph_table(nn.Conv2d(3, 2, 3), (3, 8, 8))
    with pytest.raises(UserError, match="no layer called 'conv'"):
        unit_box(table, "conv", 0, 0)
    with pytest.raises(UserError, match="row must be from 0 to 5 for conv2d, got row=6"):
        unit_box(table, "conv2d", 6, 0)
    with pytest.raises(UserError, match="col must be from 0 to 5 for conv2d, got col=-1"):
        unit_box(table, "conv2d", 0, -1)
    with pytest.raises(ValueError, match="x must be a finite number"):
        unit_at(table, "conv2d", 1.0, float("nan"))
    with pytest.raises(ValueError, match=r"one image as a \(1, C, H, W\) float tensor, got \(2, 3, 8, 8\)"):
        feature_maps(gm, torch.zeros(2, 3, 8, 8))


def test_the_graph_is_left_as_it_was():
    gm = export(nn.Sequential(BasicBlock(3, 4, 2)))
    before = {name: value.clone() for name, value in gm.state_dict().items()}
    code = gm.code
    x = torch.randn(1, 3, 8, 8)
    x_before = x.clone()
    graph_table(gm, (3, 8, 8))
    feature_maps(gm, x)
    assert gm.code == code and torch.equal(x, x_before)
    assert all(torch.equal(value, before[name]) for name, value in gm.state_dict().items())


def test_the_docstring_examples():
    assert doctest.testmod(analysis).failed == 0 and doctest.testmod(fields).failed == 0


def test_a_double_precision_model_runs_on_its_own_dtype():
    gm = torch.export.export(nn.Conv2d(1, 2, 3).double(), (torch.zeros(1, 1, 5, 5, dtype=torch.float64),)).module()
    table = graph_table(gm, (1, 5, 5))
    assert table.rows[0].output_shape == (2, 3, 3) and table.total_macs == 2 * 9 * 9


@pytest.mark.parametrize("preset", sorted(NETWORK_PRESETS))
def test_cnnvizs_own_networks_agree_with_the_hook_layer_table(preset):
    """One analysis for every source: cnnviz's networks, exported, give the hook table's rows and totals."""
    cfg = NETWORK_PRESETS[preset]
    shape = (cfg.in_channels, cfg.input_size, cfg.input_size)
    table = graph_table(export(build_model(cfg, seed=0), shape), shape)
    hooked = summarize(cfg)
    assert (table.total_params, table.total_macs) == (hooked.total_params, hooked.total_macs)
    assert [(row.name, row.output_shape, row.params, row.macs) for row in table.rows] == [
        (row.name, row.output_shape, row.params, row.macs) for row in hooked.rows]
    assert all(row.rf_size == hook.receptive_field for row, hook in zip(table.rows, hooked.rows)
               if hook.receptive_field is not None)


def test_adaptive_pooling_is_a_plain_pool_only_when_sizes_divide():
    even = graph_table(export(nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.AdaptiveMaxPool2d(4))), (3, 8, 8))
    plain = graph_table(export(nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.MaxPool2d(2))), (3, 8, 8))
    # 8 to 4: windows of 2 every 2, as MaxPool2d(2): 3 + 1 = 4, jump 2, start −1
    assert field(even, "1") == field(plain, "1") == ((4, 4), (2, 2), (-1, -1), False)
    uneven = graph_table(export(nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.AdaptiveAvgPool2d(3))), (3, 8, 8))
    assert uneven.row("1").rf_size is None
    assert str(uneven.row("1").note) == ("adaptive pooling from 8x8 to 3x3 uses windows of different sizes, so no "
                                         "single field describes its units")


def test_narrowing_rows_moves_the_start_and_swapping_axes_loses_the_field():
    class Narrow(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, (3, 1))  # fields of 3 rows by 1 column: a swap would show

        def forward(self, x):
            y = self.conv(x)  # (1, 1, 6, 6)
            return y.narrow(2, 2, 3), y.permute(0, 1, 3, 2)  # rows 2..4; the same shape, rows and columns swapped

    table = graph_table(export(Narrow(), (1, 8, 6)), (1, 8, 6))
    # narrow from row 2: start 0 + 2·1 = 2, the columns untouched
    assert field(table, "narrow")[:3] == ((3, 1), (1, 1), (2, 0))
    assert table.row("permute").output_shape == (1, 6, 6)
    assert table.row("permute").rf_size is None and "permute" in str(table.row("permute").note)


# --- one unit's field walked back, through upsampling and transposed convolutions ---------------------------------

class Resampled(nn.Module):
    """A conv, then ``middle`` (an upsampling, a transposed conv, a shuffle...), then a 3x3 conv: a decoder's step."""

    def __init__(self, middle, channels_after: int = 3):
        super().__init__()
        self.down = nn.Conv2d(3, 3, 3, 2, 1)
        self.middle = middle
        self.up = nn.Conv2d(channels_after, 2, 3, padding=1)

    def forward(self, x):
        return self.up(self.middle(self.down(x)))


class Interpolate(nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.options = options

    def forward(self, x):
        return F.interpolate(x, **self.options)


class Squeeze(nn.Module):
    """A squeeze-and-excitation scale: each unit times a function of the whole map."""

    def forward(self, x):
        return x * torch.sigmoid(x.mean((2, 3), keepdim=True) / 1000)  # small: the sigmoid's slope stays above 0


class SqueezeDense(nn.Module):
    """Squeeze-and-excitation as SENet writes it: the map's mean through a dense layer, back as a 1x1 map."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x.mean((2, 3))) / 1000)[:, :, None, None]


RESAMPLED = {
    "nearest": Resampled(Interpolate(scale_factor=2, mode="nearest")),
    "nearest_to_a_size": Resampled(Interpolate(size=(9, 11), mode="nearest")),
    "nearest_exact": Resampled(Interpolate(scale_factor=3, mode="nearest-exact")),
    "bilinear": Resampled(Interpolate(scale_factor=2, mode="bilinear")),
    "bilinear_corners": Resampled(Interpolate(size=(9, 11), mode="bilinear", align_corners=True)),
    "bicubic": Resampled(Interpolate(scale_factor=2, mode="bicubic")),
    "transposed": Resampled(nn.ConvTranspose2d(3, 3, 3, stride=2, padding=1, output_padding=1)),
    "transposed_dilated": Resampled(nn.ConvTranspose2d(3, 3, 2, stride=2, dilation=2)),  # taps land on even units
    "transposed_gaps": Resampled(nn.ConvTranspose2d(3, 3, 1, stride=3)),  # a 1x1 kernel, stride 3: holes
    "shuffle": Resampled(nn.Sequential(nn.Conv2d(3, 12, 1), nn.PixelShuffle(2))),
    "uneven_pool_and_back": Resampled(nn.Sequential(nn.AdaptiveAvgPool2d(3), Interpolate(size=(7, 5)))),
    "squeeze_excite": Resampled(Squeeze()),
    "squeeze_excite_dense": Resampled(SqueezeDense()),
}


@pytest.mark.parametrize("name", RESAMPLED)
def test_a_walked_units_field_is_what_autograd_reaches(name):
    """Linear layers of ones (no ReLU, no max) and a positive input: the gradient's support is exactly the input
    pixels a unit depends on. Walking back (``walked_box``) gives that support's box, unit by unit, for rows whose
    units have fields of different sizes as for the rest; a unit of a transposed conv's hole reads none."""
    shape = (3, 8, 8)
    gm = export(_ones(RESAMPLED[name]), shape)
    table = graph_table(gm, shape)
    image = (torch.rand(1, *shape) + 0.5).requires_grad_(True)
    maps = _maps_with_grad(gm, image)
    varying, empty = 0, 0
    for row in (row for row in table.rows if len(row.output_shape) == 3):
        assert row.reach is not None, row.name
        varying += row.varies
        for r in range(row.output_shape[1]):
            for c in range(row.output_shape[2]):
                (grad,) = torch.autograd.grad(maps[row.node][0, :, r, c].sum(), image, retain_graph=True)
                support = grad[0].abs().sum(0) > 0
                box = analysis.walked_box(table, row.name, r, c)
                if box is None:
                    assert not support.any(), (row.name, r, c)
                    empty += 1
                    continue
                clipped = box.clip(*shape[1:])
                inside = torch.zeros_like(support)
                inside[clipped.top:clipped.bottom, clipped.left:clipped.right] = True
                assert torch.equal(support, inside), (row.name, (r, c), box)
                if row.rf_size is not None:
                    assert box == unit_box(table, row.name, r, c)  # the walk agrees with size, jump and start
    assert varying >= (0 if name.startswith("squeeze_excite") else 1)
    assert (empty > 0) == (name in ("transposed_gaps", "transposed_dilated"))


def test_unit_box_answers_for_a_row_whose_units_vary_and_names_a_hole():
    table = graph_table(export(_ones(RESAMPLED["nearest"]), (3, 8, 8)), (3, 8, 8))
    row = next(row for row in table.rows if row.op == "upsample_nearest2d")
    assert row.rf_size is None and row.varies and row.note is not None  # the table still says why it has no size
    # down: 3x3 s2 p1, so unit i of its 4x4 map sees input 2i-1..2i+1; nearest x2: unit u reads down's u // 2
    assert unit_box(table, row.name, 5, 2) == Box(3, 1, 6, 4)
    gaps = graph_table(export(_ones(RESAMPLED["transposed_gaps"]), (3, 8, 8)), (3, 8, 8))
    hole = next(row for row in gaps.rows if row.op == "conv_transpose2d")
    assert unit_box(gaps, hole.name, 0, 0) == Box(-1, -1, 2, 2)  # input unit 0 of the 1x1, stride-3 scatter
    with pytest.raises(UserError, match=r"Unit \(1, 0\) of .* reads no input pixel"):
        unit_box(gaps, hole.name, 1, 0)


def test_every_demo_rows_walk_agrees_with_its_size_jump_and_start():
    from cnnviz.pages.your_network import describe, open_demo

    for name in ("default", "resnet", "inception"):
        for fmt in ("pt2", "onnx"):
            table = describe(open_demo(name, fmt)).table
            for row in table.rows:
                if row.rf_size is None:
                    continue
                height, width = row.output_shape[1:]
                for unit in {(0, 0), (height // 2, width // 3), (height - 1, width - 1)}:
                    assert analysis.walked_box(table, row.name, *unit) == unit_box(table, row.name, *unit), row.name
