"""Effective receptive fields of a graph's units (Luo et al., NeurIPS 2016): which input pixels drive a unit of any
node, on the trained weights and on random ones.

The measurement is ``cnnviz.analysis.effective_rf.measure``, which hooks a module; a graph of ATen operators has
none for most nodes, so the node gets the probe Grad-CAM uses (``cnnviz.graph.attribution.with_probe``), spliced
into a copy: the graph the caller holds is never changed.

    >>> import torch
    >>> from torch import nn
    >>> from cnnviz.analysis.receptive_field import Box
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Conv2d(2, 2, 3, padding=1))
    >>> gm = torch.export.export(net.eval(), (torch.zeros(1, 1, 8, 8),)).module()
    >>> field = unit_field(random_kernels(gm, seed=0), "conv2d_1", torch.ones(1, 1, 8, 8), 4, 4, Box(2, 2, 7, 7))
    >>> int((field.grad > 0).sum()), float(field.grad[:2].sum() + field.grad[7:].sum())  # the 5x5 box, no more
    (25, 0.0)
"""
from __future__ import annotations

import copy
import math

import torch
from torch import fx

from cnnviz.analysis.effective_rf import EffectiveField, measure
from cnnviz.analysis.receptive_field import Box
from cnnviz.graph.attribution import with_probe


def unit_field(gm: fx.GraphModule, node: str, x: torch.Tensor, row: int, col: int, box: Box) -> EffectiveField:
    """The effective field of unit (row, col) of ``node`` (a torch.fx node name) on the image ``x`` (1, C, H, W),
    against its theoretical ``box``.

    Raises:
        ValueError: ``node`` is not a computing node of the graph, or the unit lies outside its map.
    """
    probed, probe = with_probe(gm, node)
    return measure(probed, probe, x, row, col, box)


def random_kernels(gm: fx.GraphModule, seed: int) -> fx.GraphModule:
    """A copy of ``gm`` whose kernels and weight matrices (parameters and buffers of two or more axes) are drawn
    anew, seeded, as PyTorch draws a new layer's: uniform within ±1/√fan_in (Kaiming uniform with a = √5).

    Biases, norms and their statistics (one axis) are kept: they set which ReLUs are on, not how far a unit sees,
    and with them the copy's activations keep the trained network's scale. The wiring is the model's own, so the
    field it gives is what the architecture alone makes of the picture, the "before training" of Luo et al.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an int of at least 0, got seed={seed!r}")
    # The graph and every attribute it reads, copied one by one: a deepcopy of the whole module would copy
    # torch.export's input spec too, which warns (and is not needed).
    owned = {node.target: copy.deepcopy(gm.get_submodule(node.target) if node.op == "call_module"
                                        else _attribute(gm, node.target))
             for node in gm.graph.nodes if node.op in ("get_attr", "call_module")}
    graph = fx.Graph()
    graph._codegen = gm.graph._codegen  # how the module takes its inputs, shared unchanged (as with_probe does)
    graph.output(graph.graph_copy(gm.graph, {}))
    clone = fx.GraphModule(owned, graph)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in list(clone.parameters()) + list(clone.buffers()):
            if tensor.dim() >= 2 and tensor.is_floating_point():
                bound = 1 / math.sqrt(tensor[0].numel())  # fan_in: all but the output axis
                tensor.copy_(torch.empty(tensor.shape).uniform_(-bound, bound, generator=generator))
    return clone


def _attribute(gm: fx.GraphModule, target: str):
    owner, _, name = target.rpartition(".")
    return getattr(gm.get_submodule(owner) if owner else gm, name)
