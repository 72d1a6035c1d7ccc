"""The receptive-field page's "your model" preset: a model's graph as the page's rows, the boxes on every path to a
unit, misaligned merges, the state's link, and the effective fields on the model's own and random kernels.

Hand-computed values: the demos' layers are in scripts/build_models.py. Each field follows r' = r + (k - 1)·j,
j' = j·s, a' = a - p·j from the input's (1, 1, 0); where paths meet, the union of their fields.
"""
import doctest

import numpy as np
import pytest
import torch
from torch import nn

from cnnviz.analysis.effective_rf import measure
from cnnviz.analysis.receptive_field import Box
from cnnviz.graph import effective
from cnnviz.graph.analysis import graph_table
from cnnviz.graph.effective import random_kernels, unit_field
from cnnviz.graph.preprocess import prepare
from cnnviz.pages.receptive_field import (MAX_NESTED, YOURS, ReceptiveFieldState, choose, graph_fields, graph_view,
                                          misaligned_rows, model_fields)
from cnnviz.pages.your_network import YourNetworkState, describe, digit_pixels, open_demo


def fields_of(name, fmt="pt2"):
    return graph_fields(describe(open_demo(name, fmt)).table)


def named_boxes(fields, view):
    return [(fields.rows[nested.layer].name, nested.unit, nested.box) for nested in view.nested]


# --- the rows and the boxes on every path --------------------------------------------------------------------

def test_a_residual_blocks_unit_nests_the_fields_of_both_paths():
    fields = fields_of("resnet")
    view = graph_view(fields, (28, 28), "block1.add", (3, 4))
    # stem: 3x3 conv p1 (3, jump 1, start -1), 2x2 pool (4, 2, -1); block1: two 3x3 convs p1 (8, 2, -3), (12, 2, -5);
    # the shortcut is the pool's output (4, 2, -1): the union is the conv path's 12 from -5. Unit (3, 4) is centred
    # at (-5 + 3·2 + 5.5, -5 + 4·2 + 5.5) = (6.5, 8.5); each earlier row's unit nearest it (halfway goes later).
    assert view.box == Box(top=1, left=3, bottom=13, right=15)
    assert named_boxes(fields, view) == [
        ("stem.0.0", (7, 9), Box(6, 8, 9, 11)),  # the stem's conv: 3 px centred at (7, 9)
        ("stem.2", (3, 4), Box(5, 7, 9, 11)),  # the pool, which is also the shortcut
        ("block1.conv1.0", (3, 4), Box(3, 5, 11, 13)),
        ("block1.add", (3, 4), Box(1, 3, 13, 15)),  # the chosen unit; conv2's field is the same box, so not twice
    ]
    assert misaligned_rows(fields, view) == ()  # padding keeps both paths centred alike


def test_the_onnx_file_gives_the_same_fields_under_its_own_names():
    pt2, onnx = fields_of("resnet"), fields_of("resnet", "onnx")
    a = graph_view(pt2, (28, 28), "block1.add", (3, 4))
    b = graph_view(onnx, (28, 28), "block1.Add", (3, 4))
    assert [n.box for n in a.nested] == [n.box for n in b.nested]
    assert [onnx.rows[n.layer].name for n in b.nested] == ["stem.0.0.Conv", "stem.2.MaxPool", "block1.conv1.0.Conv",
                                                            "block1.Add"]


def test_an_inception_concat_is_the_union_of_its_1x1_3x3_and_5x5_paths():
    fields = fields_of("inception")
    view = graph_view(fields, (28, 28), "mixed.cat", None)  # the centre unit of 14 x 14: (7, 7)
    # After the stem (4, jump 2, start -1): 1x1 keeps 4; 3x3 p1 gives 4 + 2·2 = 8 from -3; 5x5 p2 gives 4 + 4·2 = 12
    # from -5. The concat sees the union: 12 from -5, all three centred alike.
    assert view.unit == (7, 7)
    assert [(name, box) for name, _, box in named_boxes(fields, view)] == [
        ("stem.0", Box(14, 14, 17, 17)),
        ("stem.2", Box(13, 13, 17, 17)),  # also the 1x1 path's field: one box for both
        ("mixed.paths.1.0", Box(11, 11, 19, 19)),
        ("mixed.cat", Box(9, 9, 21, 21)),  # the 5x5 path's box: the widest
    ]
    row = fields.rows[view.layer]
    assert (row.size, row.jump, row.start) == ((12, 12), (2, 2), (-5, -5))
    assert misaligned_rows(fields, view) == ()


class _Misaligned(nn.Module):
    """A 3x3 conv without padding added to the input's top-left corner: the paths' fields are centred a pixel
    apart."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        y = self.conv(x) + x[:, :, :8, :8]
        return self.conv(torch.relu(y))


def test_paths_that_meet_off_centre_are_named():
    gm = torch.export.export(_Misaligned().eval(), (torch.zeros(1, 1, 10, 10),)).module()
    fields = graph_fields(graph_table(gm, (1, 10, 10)))
    view = graph_view(fields, (10, 10), "", (0, 0))
    add = next(row for row in fields.rows if row.kind == "add")
    # The conv sees rows 0..2 of the input for unit 0, the slice sees row 0: the union is 0..2, centred at 1, not 0.
    assert (add.size, add.jump, add.start) == ((3, 3), (1, 1), (0, 0))
    assert misaligned_rows(fields, view) == (add.name,)
    aligned = graph_view(fields, (10, 10), fields.rows[0].name, (0, 0))  # the first conv: no merge on its path
    assert misaligned_rows(fields, aligned) == ()


def test_the_pages_pick_is_the_deepest_layer_with_more_than_one_unit():
    assert fields_of("resnet").rows[fields_of("resnet").index("")].name == "block2.relu_1"  # not head.0's 1 x 1
    inception = fields_of("inception")
    assert inception.rows[inception.index("no such layer")].name == "head.0"  # 7 x 7: the deepest one
    assert inception.index("stem.2") == 2


def test_rows_without_a_field_are_left_out_but_their_paths_count():
    fields = fields_of("resnet")
    names = [row.name for row in fields.rows]
    assert "head.1" not in names and "head.2" not in names  # flatten and linear: no map
    shortcut = names.index("block2.shortcut.0")
    # The projection shortcut reads block1's output: block1's rows are on its path, block2's conv path is not.
    assert names.index("block1.conv1.0") in fields.earlier[shortcut]
    assert names.index("block2.conv1.0") not in fields.earlier[shortcut]


def test_a_network_without_maps_has_no_unit_to_draw():
    gm = torch.export.export(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval(), (torch.zeros(1, 1, 4, 4),)).module()
    fields = graph_fields(graph_table(gm, (1, 4, 4)))
    assert fields.rows == ()
    with pytest.raises(ValueError, match="no layer with a field"):
        graph_view(fields, (4, 4), "", None)


# --- the state and its link -----------------------------------------------------------------------------------

def test_a_model_travels_in_a_short_link_and_back():
    state = choose(ReceptiveFieldState().with_model("inception", "onnx"), graph_view(
        fields_of("inception", "onnx"), (28, 28), "", None), 9, (2, 5))
    assert state.graph and state.preset == YOURS and state.node == "mixed.Concat" and state.unit == (2, 5)
    query = state.to_query()
    assert query == {"preset": "yours", "net": "inception", "fmt": "onnx", "node": "mixed.Concat", "unit": "2,5"}
    assert ReceptiveFieldState.from_query(query)[0] == state


def test_a_stack_preset_forgets_the_model():
    state = ReceptiveFieldState().with_model("default", "onnx")
    state = ReceptiveFieldState(**{**state.__dict__, "node": "features.4"})
    back = state.with_preset("vgg16")
    assert not back.graph and back.node == "" and back.network == "resnet" and back.fmt == "pt2"
    assert set(back.to_query()) == {"preset"}


@pytest.mark.parametrize("network, fmt", [("vgg", "pt2"), ("resnet", "tflite"), ("", "")])
def test_a_model_that_is_not_one_is_refused_by_name(network, fmt):
    with pytest.raises(ValueError, match=f"network={network!r}, fmt={fmt!r}"):
        ReceptiveFieldState().with_model(network, fmt)


def test_a_link_to_a_layer_the_model_lacks_falls_back_to_the_pages_pick():
    state, ignored = ReceptiveFieldState.from_query({"preset": "yours", "net": "resnet", "node": "features.7"})
    assert ignored == [] and state.node == "features.7"
    fields = fields_of("resnet")
    assert fields.rows[graph_view(fields, (28, 28), state.node, None).layer].name == "block2.relu_1"


# --- effective fields on a graph --------------------------------------------------------------------------

def test_a_graph_units_effective_field_is_the_modules_own():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 2, 3)).eval()
    gm = torch.export.export(net, (torch.zeros(1, 1, 12, 12),)).module()
    x = torch.rand(1, 1, 12, 12)
    box = Box(2, 4, 10, 12)
    reference = measure(net, net[3], x, 1, 2, box)  # hooks on the module itself
    field = unit_field(gm, "conv2d_1", x, 1, 2, box)
    np.testing.assert_allclose(field.grad, reference.grad, rtol=1e-6, atol=1e-9)
    assert field.fraction == reference.fraction


def test_random_kernels_redraw_only_kernels_and_leave_the_model_alone():
    gm = open_demo("resnet", "pt2").graph_module
    before = {name: tensor.clone() for name, tensor in gm.state_dict().items()}
    first, again, other = random_kernels(gm, 3), random_kernels(gm, 3), random_kernels(gm, 4)
    for name, tensor in gm.state_dict().items():
        assert torch.equal(tensor, before[name])  # the shared demo is untouched
    drawn = first.state_dict()
    for name, tensor in before.items():
        if tensor.dim() >= 2:
            assert not torch.equal(drawn[name], tensor)
            assert drawn[name].abs().max() <= 1 / tensor[0].numel() ** 0.5  # within ±1/√fan_in
        else:
            assert torch.equal(drawn[name], tensor)  # biases, norms and their statistics kept
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), other.state_dict().values()))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_a_bad_seed_is_refused_by_name(seed):
    with pytest.raises(ValueError, match="seed must be an int"):
        random_kernels(open_demo("default", "pt2").graph_module, seed)


def test_both_readers_give_the_same_trained_field_and_both_fields_live():
    fields = {fmt: fields_of("resnet", fmt) for fmt in ("pt2", "onnx")}
    measured = {}
    for fmt, node in (("pt2", "block1.add"), ("onnx", "block1.Add")):
        view = open_demo("resnet", fmt)
        x = prepare(digit_pixels(0), YourNetworkState().preprocess, view.input_shape)
        chosen = graph_view(fields[fmt], (28, 28), node, (3, 4))
        measured[fmt] = model_fields(view.graph_module, random_kernels(view.graph_module, 0), fields[fmt], chosen, x)
    random, trained = measured["pt2"]
    # The .pt2 keeps batch norm and the .onnx has it folded into the convs: the same function, the same gradient.
    np.testing.assert_allclose(trained.grad, measured["onnx"][1].grad, rtol=1e-4, atol=1e-6)
    for field in (random, trained):
        assert not field.dead and 0 < field.fraction < 1
        assert field.grad[:1].sum() == 0 and field.grad[13:].sum() == 0  # nothing outside rows 1..12
    assert not np.allclose(random.grad, trained.grad)


def test_the_effective_modules_example_holds():
    assert doctest.testmod(effective).failed == 0


class _DeepResidual(nn.Module):
    """Twenty residual 3x3 convs: every block widens the field by 2, twenty distinct fields on the path."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(2, 2, 3, padding=1) for _ in range(20))

    def forward(self, x):
        for conv in self.convs:
            x = x + torch.relu(conv(x))
        return x


def test_a_deep_networks_unit_nests_eight_boxes_first_to_last():
    gm = torch.export.export(_DeepResidual().eval(), (torch.zeros(1, 2, 16, 16),)).module()
    fields = graph_fields(graph_table(gm, (2, 16, 16)))
    last = len(fields.rows) - 1
    assert [fields.rows[i].size[0] for i in fields.earlier[last]] == list(range(3, 41, 2))  # 3, 5, ..., 39: all 19
    view = graph_view(fields, (16, 16), fields.rows[last].name, (8, 8))
    sizes = [view.rows[nested.layer].size[0] for nested in view.nested]
    assert len(sizes) == MAX_NESTED + 1 and sizes[0] == 3 and sizes[-2] == 39 and sizes[-1] == 41
    assert sizes == sorted(sizes)
