"""The layer table: every leaf module's output shape, parameters and multiply-accumulates, read from the module.

One engine for every table the app shows. Rows come from forward hooks on one image through the real module, as
torchinfo collects them, and the totals are summed once, here. A model on the meta device gives the same rows
without a byte of weights or a single multiplication: ``cnnviz.model.summarize`` checks the server's caps that way
on networks far too large to build. The first pass on the meta device in a process imports torch._dynamo, which
torch's meta kernels use (a second or two, once); a training worker imports it anyway for its optimizer.

    >>> from torch import nn
    >>> table = layer_table(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10)),
    ...                     (1, 28, 28))
    >>> [(row.layer, row.output_shape, row.params) for row in table.rows]
    [('conv1', (4, 26, 26), 40), ('act1', (4, 26, 26), 0), ('flatten1', (2704,), 0), ('fc1', (10,), 27050)]
    >>> table.total_params, table.total_macs
    (27090, 51376)

Formatting (the strings a page shows) is separate from the rows: ``shape_text``, ``field_text``, ``count_text`` and
``millions_text``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnviz.analysis import receptive_field
from cnnviz.analysis.inspection import (ActivationRecorder, check_model, eval_mode, layer_kind, layer_labels, leaves,
                                        model_device)


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer table: a leaf module that ran."""

    name: str  # qualified module name, e.g. "features.0"
    layer: str  # display label, numbered per kind: "conv1", "act1", "flatten1"
    kind: str  # conv, bn, act, pool, fc, flatten, dropout or other
    type_name: str  # the module's class, e.g. "Conv2d"
    output_shape: tuple[int, ...]  # without the batch: (C, H, W) or (features,)
    params: int  # the module's own parameters
    macs: int  # multiply-accumulates for one image; counted for conv and linear layers only
    receptive_field: tuple[int, int] | None  # (rows, cols) of input pixels one output sees; conv and pool only


@dataclass(frozen=True)
class LayerTable:
    """The rows in the order the modules ran, and their totals."""

    rows: tuple[LayerRow, ...]
    total_params: int  # every row's parameters: the model's own, for a model whose every leaf runs once
    total_macs: int  # multiply-accumulates for one image

    @classmethod
    def of(cls, rows: tuple[LayerRow, ...]) -> LayerTable:
        """The table of ``rows``, totals included."""
        rows = tuple(rows)
        return cls(rows, sum(row.params for row in rows), sum(row.macs for row in rows))


def macs(module: nn.Module, output_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of ``module`` for one image whose output is ``output_shape``: each output of a conv
    takes in/groups·kh·kw of them, each output of a linear layer in_features; every other kind counts 0."""
    if isinstance(module, nn.Conv2d):
        out_channels, height, width = output_shape
        kh, kw = module.kernel_size
        return out_channels * height * width * module.in_channels * kh * kw // module.groups
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


class _ShapeRecorder(ActivationRecorder):
    """Every leaf module's output shape, in the order the modules ran."""

    def __init__(self, model: nn.Module):
        super().__init__(model, layer_types=(nn.Module,))
        self.shapes: dict[str, tuple[int, ...]] = {}

    def _hook(self, name: str, module: nn.Module, label: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if isinstance(output, torch.Tensor):
                self.shapes[name] = tuple(output.shape[1:])
        return record


def layer_table(model: nn.Module, input_shape: tuple[int, int, int]) -> LayerTable:
    """Type, output shape, parameters, MACs and receptive field of every leaf module, in the order they ran.

    The model runs once in eval mode on zeros, then each module gets its own mode back; the hooks are removed
    however the pass ends. On the meta device the pass computes nothing.

    Args:
        model: any module taking (1, C, H, W) images.
        input_shape: (C, H, W) of one image, e.g. (1, 28, 28).

    Raises:
        ValueError: ``model`` is not a module or ``input_shape`` not three positive ints.
    """
    check_model(model)
    if not (isinstance(input_shape, tuple) and len(input_shape) == 3
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in input_shape)):
        raise ValueError(f"input_shape must be (C, H, W) of positive ints, got input_shape={input_shape!r}")
    modules, labels = dict(leaves(model)), layer_labels(model)
    fields = {row.name: row.size for row in receptive_field.analyze_model(model, input_shape[1:])}
    with eval_mode(model), torch.no_grad(), _ShapeRecorder(model) as recorder:
        model(torch.zeros((1, *input_shape), device=model_device(model)))
    return LayerTable.of(tuple(
        LayerRow(name, labels[name], layer_kind(modules[name]), type(modules[name]).__name__, shape,
                 sum(p.numel() for p in modules[name].parameters()), macs(modules[name], shape), fields.get(name))
        for name, shape in recorder.shapes.items()
    ))


# --- formatting ------------------------------------------------------------------------------------------

def shape_text(shape: tuple[int, ...]) -> str:
    """An output shape as the tables write it: "32 × 28 × 28"."""
    return " × ".join(map(str, shape))


def field_text(field: tuple[int, int] | None) -> str:
    """A receptive field as "5 × 5", or "" for a layer without one."""
    return "" if field is None else f"{field[0]} × {field[1]}"


def count_text(count: int) -> str:
    """A parameter count with thousands separators: "220,234"."""
    return f"{count:,}"


def millions_text(count: int) -> str:
    """A count of multiply-accumulates in millions with two decimals: "11.37"."""
    return f"{count / 1e6:.2f}"
