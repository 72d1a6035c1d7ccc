"""Attribution on a torch.export graph (cnnviz.graph.attribution) against the same maths done by hand with autograd."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.graph.attribution import METHODS, attribute, conv_nodes, with_probe


def _exported(seed: int = 0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5)).eval()
    with torch.no_grad():  # a batch norm that does something
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net, torch.export.export(net, (torch.zeros(1, 3, 12, 12),)).module()


def test_the_convolutions_are_found_in_order():
    _, gm = _exported()
    assert len(conv_nodes(gm)) == 2


def test_a_probe_changes_nothing_the_graph_computes_and_leaves_the_original_alone():
    net, gm = _exported()
    x = torch.randn(1, 3, 12, 12)
    before = [n.name for n in gm.graph.nodes]
    probed, probe = with_probe(gm, conv_nodes(gm)[0])
    seen = []
    probe.register_forward_hook(lambda module, args, out: seen.append(out))
    torch.testing.assert_close(probed(x), net(x))
    assert [n.name for n in gm.graph.nodes] == before
    torch.testing.assert_close(seen[0], net[0](x))  # the probe sees the first convolution's maps


def test_saliency_is_the_absolute_gradient_strongest_channel():
    net, gm = _exported()
    x = torch.randn(1, 3, 12, 12)
    wanted = x.clone().requires_grad_(True)
    net(wanted)[0, 2].backward()
    result = attribute(gm, x, 2, "saliency")
    assert result.method == "saliency" and result.target == 2
    torch.testing.assert_close(torch.from_numpy(result.values), wanted.grad[0].abs().amax(dim=0))


def test_grad_cam_is_the_mean_gradient_weighted_maps_of_the_chosen_layer():
    net, gm = _exported()
    x = torch.randn(1, 3, 12, 12)
    maps = net[:4](x)  # the second convolution's maps, (1, 6, 5, 5)
    maps.retain_grad()
    net[4:](maps)[0, 1].backward()
    weights = maps.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * maps).sum(dim=1, keepdim=True))
    wanted = F.interpolate(cam, size=(12, 12), mode="bilinear", align_corners=False)[0, 0]
    for node in (None, conv_nodes(gm)[-1]):  # the last convolution is the default
        result = attribute(gm, x, 1, "grad_cam", node=node)
        torch.testing.assert_close(torch.from_numpy(result.values), wanted.detach(), rtol=1e-4, atol=1e-5)


def test_integrated_gradients_add_up_to_the_score_difference():
    net, gm = _exported()
    x = torch.randn(1, 3, 12, 12)
    baseline = torch.full((1, 3, 1, 1), -0.5)
    result = attribute(gm, x, 3, "integrated_gradients", baseline=baseline, steps=200)
    with torch.no_grad():
        gained = net(x)[0, 3] - net(baseline.expand_as(x))[0, 3]
    assert result.values.shape == (12, 12)
    assert abs(float(result.values.sum()) - float(gained)) < 1e-2 * max(1.0, abs(float(gained)))  # completeness


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "lime"}, "method must be one of"),
    ({"target": 5}, "below the network's 5 classes"),
    ({"target": -1}, "target must be a class index"),
    ({"node": "nowhere"}, "node must name a computing node"),
    ({"steps": 0, "method": "integrated_gradients"}, "steps must be an int"),
])
def test_bad_arguments_are_named(kwargs, message):
    _, gm = _exported()
    arguments = {"target": 0, "method": "grad_cam", **kwargs}
    with pytest.raises(ValueError, match=message):
        attribute(gm, torch.randn(1, 3, 12, 12), arguments.pop("target"), arguments.pop("method"), **arguments)


def test_grad_cam_refuses_a_layer_without_maps():
    _, gm = _exported()
    dense = [n.name for n in gm.graph.nodes if "linear" in str(n.target)][0]
    with pytest.raises(ValueError, match="choose a convolution"):
        attribute(gm, torch.randn(1, 3, 12, 12), 0, "grad_cam", node=dense)


def test_every_method_has_a_name():
    assert METHODS == ("saliency", "grad_cam", "integrated_gradients")
