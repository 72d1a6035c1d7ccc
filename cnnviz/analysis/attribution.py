"""Why the network says "7": per-pixel attributions from Captum, PyTorch's own attribution library.

Three views, one per function, each returning an ``Attribution`` at the input's size:

- ``saliency``: |d score / d pixel|, which pixels would move the score most (Simonyan et al. 2014).
- ``grad_cam``: the last conv layer's maps weighted by their mean gradient, upsampled (Selvaraju et al. 2017).
- ``integrated_gradients``: gradients summed along the path from a black image (Sundararajan et al. 2017).

Each runs the model in eval mode and restores every module's mode afterwards, works on a detached
copy of the input (Captum would otherwise switch on ``requires_grad`` of the caller's tensor, with a warning),
and returns numpy via ``inspection.to_numpy``. Captum takes gradients with ``torch.autograd.grad``, so the
model's parameters gain no ``.grad``. Captum registers its own hooks for Grad-CAM and removes them itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency
from torch import nn

from cnnviz.analysis.inspection import check_image, eval_mode, model_device, to_numpy
from cnnviz.data import MEAN, STD

BLACK = (0.0 - MEAN) / STD  # a black pixel as the network sees it: the baseline of "no ink"
PERCENTILE = 99.0  # overlays saturate here, so one extreme pixel does not wash out the rest


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class Attribution:
    """How much each input pixel counts towards ``target``'s score, by one method."""

    method: str  # "saliency", "grad_cam" or "integrated_gradients"
    target: int  # the class explained
    values: np.ndarray  # (H, W) float32 at the input's size; signed for integrated gradients, >= 0 otherwise

    def normalised(self) -> np.ndarray:
        """|values| scaled to [0, 1] by their 99th percentile, for an overlay; all zeros if there is nothing."""
        magnitude = np.abs(self.values)
        scale = float(np.percentile(magnitude, PERCENTILE))
        if scale <= 0:
            scale = float(magnitude.max())  # a few hot pixels only: the percentile is 0, the max is not
        if scale <= 0:
            return np.zeros_like(magnitude, dtype=np.float32)
        return np.clip(magnitude / scale, 0.0, 1.0).astype(np.float32)


def _prepare(model: nn.Module, tensor: torch.Tensor, target: int) -> torch.Tensor:
    """Validate, and return a detached copy of ``tensor`` on the model's device for Captum to own."""
    check_image(model, tensor)
    if not isinstance(target, int) or isinstance(target, bool) or target < 0:
        raise ValueError(f"target must be a class index (an int >= 0), got target={target!r}")
    x = tensor.detach().to(model_device(model)).clone()  # (1, C, H, W)
    with eval_mode(model), torch.no_grad():
        classes = model(x).shape[-1]
    if target >= classes:
        raise ValueError(f"target must be below the model's {classes} classes, got target={target}")
    return x


def saliency(model: nn.Module, tensor: torch.Tensor, target: int) -> Attribution:
    """The absolute gradient of the target's logit with respect to each pixel, (H, W)."""
    x = _prepare(model, tensor, target)
    with eval_mode(model):
        return saliency_of(model, x, target)


def saliency_of(forward: nn.Module, x: torch.Tensor, target: int) -> Attribution:
    """``saliency`` of a checked (1, C, H, W) input on a network as it is (no change of mode): any network's core."""
    x = x.detach().clone().requires_grad_(True)  # set here, so Captum does not warn that it had to
    gradient = Saliency(forward).attribute(x, target=target, abs=True)  # (1, C, H, W)
    return Attribution("saliency", target, to_numpy(gradient[0].amax(dim=0)))  # (H, W): the strongest channel


def _last_conv(model: nn.Module, layer: str | None) -> nn.Module:
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    if not convs:
        raise ValueError(f"grad_cam needs a Conv2d layer, and {type(model).__name__} has none")
    if layer is None:
        return list(convs.values())[-1]
    if layer not in convs:
        raise ValueError(f"layer must name a Conv2d of the model ({', '.join(convs)}), got layer={layer!r}")
    return convs[layer]


def grad_cam(model: nn.Module, tensor: torch.Tensor, target: int, layer: str | None = None) -> Attribution:
    """Grad-CAM at ``layer`` (a qualified Conv2d name; the last Conv2d by default), upsampled to (H, W).

    The conv's maps are weighted by their spatially averaged gradients and summed; Captum's ReLU
    keeps only the evidence for ``target``. Bilinear upsampling gives a smooth overlay.
    """
    x = _prepare(model, tensor, target)
    conv = _last_conv(model, layer)
    with eval_mode(model):
        return grad_cam_of(model, conv, x, target)


def grad_cam_of(forward: nn.Module, layer: nn.Module, x: torch.Tensor, target: int) -> Attribution:
    """``grad_cam`` at the output of ``layer`` (a module ``forward`` calls), for a checked (1, C, H, W) input, on a
    network as it is: any network's core."""
    cam = LayerGradCam(forward, layer).attribute(x, target=target, relu_attributions=True)  # (1, 1, h, w)
    cam = LayerAttribution.interpolate(cam.detach(), tuple(x.shape[-2:]), interpolate_mode="bilinear")  # (1, 1, H, W)
    return Attribution("grad_cam", target, to_numpy(cam[0, 0]))  # (H, W), >= 0: bilinear mixes never go negative


def integrated_gradients(model: nn.Module, tensor: torch.Tensor, target: int, steps: int = 32) -> Attribution:
    """Integrated gradients from a black image (every pixel at ``BLACK``), summed over channels, (H, W).

    The baseline is black as the network sees it, (0 - MEAN) / STD, not 0: a normalised 0 is a grey
    image, and the attributions would explain the digit against grey instead of against no ink.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be an int of at least 1, got steps={steps!r}")
    x = _prepare(model, tensor, target)
    with eval_mode(model):
        return integrated_gradients_of(model, x, target, BLACK, steps)


def integrated_gradients_of(forward: nn.Module, x: torch.Tensor, target: int, baseline: float | torch.Tensor,
                            steps: int, one_at_a_time: bool = False) -> Attribution:
    """``integrated_gradients`` from ``baseline`` for a checked (1, C, H, W) input, on a network as it is: any
    network's core. ``one_at_a_time`` runs the path's steps as single images, for a network that takes batch 1 only
    (a ``torch.export`` program)."""
    values = IntegratedGradients(forward).attribute(x, baselines=baseline, target=target, n_steps=steps,
                                                    internal_batch_size=1 if one_at_a_time else None)  # (1, C, H, W)
    return Attribution("integrated_gradients", target, to_numpy(values[0].sum(dim=0)))  # (H, W)
