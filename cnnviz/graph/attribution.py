"""Why any network says what it says: Captum's saliency, Grad-CAM and integrated gradients on a graph.

The graph is a ``torch.export`` program's module (see the package's docstring). Two things set it apart from the
networks cnnviz builds, and both are handled here rather than in ``cnnviz.analysis.attribution``, whose cores this
module calls:

- Its evaluation behaviour is baked in (it refuses ``.eval()``), and it takes exactly the batch it was exported
  with, one image: integrated gradients walk their path one image at a time.
- Grad-CAM needs a module whose output is the chosen layer's maps, and a graph of ATen operators has none. A probe,
  an ``nn.Identity``, is spliced into a copy of the graph right after the chosen node: Captum hooks it as it hooks
  a layer, and the graph the caller holds is left as it was.
"""
from __future__ import annotations

import torch
from torch import fx, nn

from cnnviz.analysis.attribution import Attribution, grad_cam_of, integrated_gradients_of, saliency_of

METHODS = ("saliency", "grad_cam", "integrated_gradients")
PROBE = "cnnviz_probe"  # the spliced identity's name in the probed copy
# torch.export's spellings of a convolution, before and after decompositions
CONVOLUTIONS = ("aten.conv2d", "aten.convolution", "aten.conv_transpose2d", "aten._convolution")


def _computing(gm: fx.GraphModule) -> dict[str, fx.Node]:
    return {node.name: node for node in gm.graph.nodes if node.op in ("call_function", "call_module")
            and not str(node.target).startswith("_guards")}


def conv_nodes(gm: fx.GraphModule) -> list[str]:
    """The graph's convolution nodes, in order: Grad-CAM's layers to choose from (the last one by default)."""
    return [name for name, node in _computing(gm).items() if str(node.target).startswith(CONVOLUTIONS)]


def with_probe(gm: fx.GraphModule, node_name: str) -> tuple[fx.GraphModule, nn.Module]:
    """A copy of ``gm`` whose node ``node_name`` feeds an identity module before its users, and that module."""
    graph = fx.Graph()
    graph._codegen = gm.graph._codegen  # how the module takes its inputs (torch.export's pytree), shared unchanged
    graph.output(graph.graph_copy(gm.graph, {}))
    node = next((n for n in graph.nodes if n.name == node_name), None)
    if node is None or node_name not in _computing(gm):
        raise ValueError(f"node must name a computing node of the graph ({', '.join(_computing(gm))}), "
                         f"got node={node_name!r}")
    probe = nn.Identity()
    probed = fx.GraphModule(gm, graph)
    probed.add_submodule(PROBE, probe)
    with graph.inserting_after(node):
        spliced = graph.call_module(PROBE, (node,))
    node.replace_all_uses_with(spliced, delete_user_cb=lambda user: user is not spliced)
    probed.recompile()
    return probed, probe


def _check(gm: fx.GraphModule, x: torch.Tensor, target: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1 or not x.is_floating_point():
        raise ValueError(f"x must be one image as a float tensor (1, C, H, W), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if not isinstance(target, int) or isinstance(target, bool) or target < 0:
        raise ValueError(f"target must be a class index (an int >= 0), got target={target!r}")
    with torch.no_grad():
        classes = gm(x).shape[-1]
    if target >= classes:
        raise ValueError(f"target must be below the network's {classes} classes, got target={target}")
    return x.detach().clone()


def attribute(gm: fx.GraphModule, x: torch.Tensor, target: int, method: str, *, node: str | None = None,
              baseline: float | torch.Tensor = 0.0, steps: int = 32) -> Attribution:
    """How much each pixel of ``x`` counts towards ``target``'s score, by ``method`` (one of ``METHODS``), (H, W).

    ``node`` is Grad-CAM's layer (a node name; the last convolution by default). ``baseline`` is integrated
    gradients' starting image, "no ink" as the network sees it: black after the page's normalisation, one value or
    a tensor that broadcasts to ``x``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got method={method!r}")
    x = _check(gm, x, target)
    if method == "saliency":
        return saliency_of(gm, x, target)
    if method == "integrated_gradients":
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps must be an int of at least 1, got steps={steps!r}")
        return integrated_gradients_of(gm, x, target, baseline, steps, one_at_a_time=True)
    if node is None:
        convs = conv_nodes(gm)
        if not convs:
            raise ValueError("grad_cam needs a convolution in the graph, and this one has none")
        node = convs[-1]
    probed, probe = with_probe(gm, node)
    value = _computing(gm)[node].meta.get("val")
    if value is not None and getattr(value, "dim", lambda: 0)() != 4:
        raise ValueError(f"grad_cam needs a layer of maps (N, C, H, W), and node {node!r} gives "
                         f"{tuple(value.shape)}: choose a convolution")
    return grad_cam_of(probed, probe, x, target)
