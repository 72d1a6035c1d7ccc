"""PyTorch code for a network built on the Train page: a runnable ``nn.Module`` and the training loop, as text.

The layers are written from the model cnnviz itself builds (each module's ``repr`` is valid PyTorch), so the
exported network has exactly the app's layers, parameter names and shapes: the weights of an app checkpoint (its
``"state_dict"``) load into it, which the file's own ``load_checkpoint(path)`` does. The file needs only PyTorch: it
reads MNIST's IDX files itself and imports torchvision only when told to.

    >>> from cnnviz.model import preset
    >>> from cnnviz.training.config import TrainConfig
    >>> code = pytorch_code(preset("classic"), TrainConfig())
    >>> "class Net(nn.Module)" in code and "nn.Conv2d(1, 32" in code
    True
"""
from __future__ import annotations

from textwrap import indent

import torch

from cnnviz.data import MEAN, STD
from cnnviz.model import ModelConfig, build_model
from cnnviz.training.config import TrainConfig

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

{params:,} trainable parameters. Needs only PyTorch: MNIST is read from its four IDX files (gzipped or not).

Train it, reading MNIST from a folder given on the command line or in $CNNVIZ_MNIST_DIR:

    python cnnviz_net.py path/to/mnist
    CNNVIZ_MNIST_DIR=path/to/mnist python cnnviz_net.py
    python cnnviz_net.py --torchvision          # or let torchvision download MNIST into ./data, if it is installed
    python cnnviz_net.py path/to/mnist --limit 1000    # a quick check on the first 1,000 images of each set

Load a checkpoint downloaded from cnnviz's Train page (a dict with the weights under "state_dict"):

    from cnnviz_net import load_checkpoint
    model = load_checkpoint("cnnviz-mnist.pt")  # a Net in eval mode

or test it on MNIST's test images: python cnnviz_net.py path/to/mnist --checkpoint cnnviz-mnist.pt
"""
import argparse
import gzip
import math
import os
from pathlib import Path

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


def load_checkpoint(path):
    """A Net with the weights of a cnnviz checkpoint (or of a bare state_dict), in eval mode."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = Net()
    model.load_state_dict(checkpoint["state_dict"] if "state_dict" in checkpoint else checkpoint)
    return model.eval()


def read_idx(path):
    """One IDX file of unsigned bytes (MNIST's format) as a uint8 tensor of the shape its header gives."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
        raw = file.read()
    if raw[:3] != b"\\x00\\x00\\x08":
        raise ValueError(f"{{path}} is not an IDX file of unsigned bytes: it starts with {{raw[:4].hex()}}")
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(shape)


def idx_mnist(folder, train):
    """MNIST's (N, 28, 28) pixels and (N,) labels, as uint8, from its IDX files in ``folder``."""
    def find(name):
        for path in (Path(folder) / name, Path(folder) / f"{{name}}.gz"):
            if path.exists():
                return path
        raise SystemExit(f"{{name}}(.gz) is not in {{folder}}: give the folder that holds MNIST's four IDX files")

    prefix = "train" if train else "t10k"
    return read_idx(find(f"{{prefix}}-images-idx3-ubyte")), read_idx(find(f"{{prefix}}-labels-idx1-ubyte"))


def torchvision_mnist(train):
    """The same from torchvision's MNIST, downloaded into ./data."""
    try:
        from torchvision import datasets
    except ImportError:
        raise SystemExit("torchvision is not installed: give the folder of MNIST's IDX files instead "
                         "(python cnnviz_net.py path/to/mnist), or pip install torchvision") from None
    mnist = datasets.MNIST("data", train=train, download=True)
    return mnist.data, mnist.targets


def normalised(pixels, labels, count=None):
    """The first ``count`` (all if None) images as normalised (N, 1, 28, 28) floats, and their (N,) int64 labels."""
    return ((pixels[:count].float() / 255 - MEAN) / STD)[:, None], labels[:count].long()


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
def correct(model, images, labels, *, batch_size=1000):
    """How many images ``model`` classifies correctly."""
    model.eval()
    return sum((model(images[start:start + batch_size]).argmax(1) == labels[start:start + batch_size]).sum().item()
               for start in range(0, len(images), batch_size))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the CNN exported from cnnviz on MNIST.")
    parser.add_argument("mnist_dir", nargs="?", default=os.environ.get("CNNVIZ_MNIST_DIR"),
                        help="the folder of MNIST's IDX files (default: $CNNVIZ_MNIST_DIR)")
    parser.add_argument("--torchvision", action="store_true", help="download MNIST with torchvision instead")
    parser.add_argument("--subset", type=int, default={subset}, help="train on the first N training images (0 = all)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training and N test images")
    parser.add_argument("--epochs", type=int, default={epochs})
    parser.add_argument("--checkpoint", help="test this cnnviz checkpoint on the test images instead of training")
    args = parser.parse_args(argv)
    if args.torchvision:
        load = torchvision_mnist
    elif args.mnist_dir:
        load = lambda train: idx_mnist(args.mnist_dir, train)  # noqa: E731
    else:
        parser.error("say where MNIST's IDX files are: python cnnviz_net.py path/to/mnist, or set "
                     "CNNVIZ_MNIST_DIR (or --torchvision to download them)")
    test_images, test_labels = normalised(*load(False), args.limit or None)
    if args.checkpoint:
        model, name = load_checkpoint(args.checkpoint), f"{{args.checkpoint}}: "
    else:
        images, labels = normalised(*load(True), args.limit or args.subset or None)
        torch.manual_seed({seed})  # the same starting weights on every run
        model, name = train(Net(), images, labels, epochs=args.epochs), ""
    right = correct(model, test_images, test_labels)
    print(f"{{name}}test accuracy {{right / len(test_labels):.2%}} ({{right}} of {{len(test_labels)}})")


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
