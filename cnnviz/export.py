"""PyTorch code for a network built on the Train page: a runnable ``nn.Module`` and the training loop, as text.

The layers are written from the model cnnviz itself builds (each module's ``repr`` is valid PyTorch), so the
exported network has exactly the app's layers, parameter names and shapes: a state_dict saved by the app loads
into it.

    >>> from cnnviz.model import preset
    >>> from cnnviz.train import TrainConfig
    >>> code = pytorch_code(preset("classic"), TrainConfig())
    >>> "class Net(nn.Module)" in code and "nn.Conv2d(1, 32" in code
    True
"""
from __future__ import annotations

from textwrap import indent

import torch

from cnnviz.data import MEAN, STD
from cnnviz.model import ModelConfig, build_model
from cnnviz.train import TrainConfig

_OPTIMIZERS = {
    "sgd": "torch.optim.SGD(model.parameters(), lr={lr!r}, momentum=0.9, weight_decay={wd!r})",
    "adam": "torch.optim.Adam(model.parameters(), lr={lr!r}, weight_decay={wd!r})",
    "adamw": "torch.optim.AdamW(model.parameters(), lr={lr!r}, weight_decay={wd!r})",
    "rmsprop": "torch.optim.RMSprop(model.parameters(), lr={lr!r}, alpha=0.9, eps=1e-07, weight_decay={wd!r})",
}
_SCHEDULES = {
    "constant": "None",
    "onecycle": "torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr={lr!r}, total_steps=total_steps)",
    "cosine": "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)",
}

_TEMPLATE = '''"""A CNN exported from cnnviz ({label}).

{params:,} trainable parameters. Needs PyTorch; torchvision only to download MNIST in main().
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

MEAN, STD = {mean!r}, {std!r}  # MNIST pixel statistics: inputs are normalised with them


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
{features}
        )
        self.classifier = nn.Sequential(
{classifier}
        )

    def forward(self, x):
        return self.classifier(self.features(x))  # (N, 1, 28, 28) -> (N, 10) logits


def train(model, images, labels, *, epochs={epochs}, batch_size={batch_size}, seed={seed}):
    """Train on (N, 1, 28, 28) normalised images and (N,) labels with the settings chosen in cnnviz."""
    torch.manual_seed(seed)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    total_steps = steps_per_epoch * epochs
    optimizer = {optimizer}
    scheduler = {scheduler}
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch_size):
            index = order[start:start + batch_size]
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        print(f"epoch {{epoch + 1}}: last batch loss {{loss.item():.4f}}")
    return model


@torch.no_grad()
def accuracy(model, images, labels):
    model.eval()
    return (model(images).argmax(1) == labels).float().mean().item()


def main():
    from torchvision import datasets  # pip install torchvision

    def load(train):
        mnist = datasets.MNIST("data", train=train, download=True)
        return ((mnist.data.float() / 255 - MEAN) / STD)[:, None], mnist.targets  # (N, 1, 28, 28), (N,)

    images, labels = load(True)
    if {subset}:
        images, labels = images[:{subset}], labels[:{subset}]
    model = train(Net(), images, labels)
    print(f"test accuracy: {{accuracy(model, *load(False)):.2%}}")


if __name__ == "__main__":
    main()
'''


def _layers(sequential: torch.nn.Sequential) -> str:
    """One ``nn.<Module>(...)`` line per layer: the modules' own reprs are valid constructor calls."""
    return indent(",\n".join(f"nn.{module!r}" for module in sequential), " " * 12)


def pytorch_code(model_cfg: ModelConfig, train_cfg: TrainConfig, *, label: str = "") -> str:
    """A standalone Python file that builds ``model_cfg`` and trains it as ``train_cfg`` says.

    Raises:
        ValueError: the config cannot be built (from ``ModelConfig.validate``).
    """
    with torch.device("meta"):  # the layers' reprs and shapes, without allocating or initialising any weight
        model = build_model(model_cfg)
    return _TEMPLATE.format(
        label=label or "exported network", params=sum(p.numel() for p in model.parameters()), mean=MEAN, std=STD,
        features=_layers(model.features), classifier=_layers(model.classifier), epochs=train_cfg.epochs,
        batch_size=train_cfg.batch_size, seed=train_cfg.seed, subset=train_cfg.subset,
        optimizer=_OPTIMIZERS[train_cfg.optimizer].format(lr=train_cfg.lr, wd=train_cfg.weight_decay),
        scheduler=_SCHEDULES[train_cfg.schedule].format(lr=train_cfg.lr),
    )
