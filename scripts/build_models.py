"""Train the demo models on the bundled MNIST and export each as assets/models/<name>.pt2 and <name>.onnx.

Three small networks, one per kind of graph the "your own network" pages read: cnnviz's default net (a chain), a
residual net (two basic blocks, one with a 1x1 projection shortcut) and an Inception-style net (1x1, 3x3 and 5x5
paths concatenated). Each trains for one pass over part of the training set, seeded, in well under a minute on a
laptop CPU; the test accuracy of each is printed. Inputs are MNIST digits normalised with cnnviz.data's MEAN and
STD, shape (1, 1, 28, 28); outputs are the ten digits' logits (labels.txt names them).

    python scripts/build_models.py             # writes assets/models/
    python scripts/build_models.py --dry-run   # a few batches, into a temporary folder: checks the script runs
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnviz.data import MEAN, STD, load_mnist  # noqa: E402
from cnnviz.model import build_model, preset  # noqa: E402

OUT = ROOT / "assets" / "models"
INPUT_SHAPE = (1, 1, 28, 28)  # one normalised MNIST digit


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet's basic block: conv-BN-ReLU, conv-BN, plus the shortcut, then ReLU. The shortcut is the identity, or a
    1x1 convolution with BatchNorm where the block changes the shape (stride or channels)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.conv2 = conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3)
        self.shortcut = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))


class ResNet(nn.Module):
    """stem (3x3 conv, 28 -> 14 by max pool), an identity block at 14x14, a projection block down to 7x7, global
    average pool, linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.block1 = BasicBlock(16, 16)
        self.block2 = BasicBlock(16, 32, stride=2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block2(self.block1(self.stem(x))))  # (N, 10) logits


class Inception(nn.Module):
    """An Inception-style block: 1x1, 3x3 and 5x5 convolutions side by side, concatenated along the channels."""

    def __init__(self, cin: int, widths: tuple[int, int, int]):
        super().__init__()
        self.paths = nn.ModuleList(nn.Sequential(nn.Conv2d(cin, width, k, padding=k // 2), nn.ReLU())
                                   for width, k in zip(widths, (1, 3, 5)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([path(x) for path in self.paths], dim=1)


class InceptionNet(nn.Module):
    """stem (3x3 conv, pool to 14x14), the Inception block, pool to 7x7, flatten, linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.mixed = Inception(16, (8, 16, 8))
        self.head = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mixed(self.stem(x)))  # (N, 10) logits


MODELS = {
    "default": lambda: build_model(preset("default")),  # cnnviz's default net, as the Train page builds it
    "resnet": ResNet,
    "inception": InceptionNet,
}


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, lr: float,
          generator: torch.Generator) -> None:
    """One pass over ``images`` in a seeded order, Adam."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.randperm(len(images), generator=generator)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        optimizer.zero_grad()
        F.cross_entropy(model(images[batch]), labels[batch]).backward()
        optimizer.step()
    model.eval()


@torch.no_grad()
def test(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy on ``images``."""
    model.eval()
    correct = sum((model(images[i:i + 1000]).argmax(1) == labels[i:i + 1000]).sum().item()
                  for i in range(0, len(images), 1000))
    return correct / len(images)


def export(model: nn.Module, folder: Path, name: str) -> tuple[int, int]:
    """Write ``<name>.pt2`` and ``<name>.onnx``; return their sizes in bytes."""
    example = torch.zeros(INPUT_SHAPE)
    program = torch.export.export(model, (example,))
    for node in program.graph.nodes:  # the paths of this machine's files, in every node: of no use to a reader
        node.meta.pop("stack_trace", None)
    pt2 = io.BytesIO()
    torch.export.save(program, pt2)
    onnx = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is legacy; it needs no onnxscript
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), onnx, dynamo=False, input_names=["image"], output_names=["logits"])
    (folder / f"{name}.pt2").write_bytes(pt2.getvalue())
    (folder / f"{name}.onnx").write_bytes(onnx.getvalue())
    return len(pt2.getvalue()), len(onnx.getvalue())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="one seed for weights and batch order")
    parser.add_argument("--train-images", type=int, default=30_000, help="training images, one pass")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--out", type=Path, default=None, help=f"folder to write (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--dry-run", action="store_true",
                        help="a few batches, into a temporary folder unless --out is given")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.train_images = 4 * args.batch_size
        args.out = args.out or Path(tempfile.mkdtemp(prefix="cnnviz-models-"))
    args.out = args.out or OUT

    mnist = load_mnist()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "labels.txt").write_text("".join(f"{digit}\n" for digit in range(10)))
    print(f"inputs: 1x28x28 MNIST digits, normalised (x - {MEAN}) / {STD}; writing to {args.out}")
    for index, (name, make) in enumerate(MODELS.items()):
        torch.manual_seed(args.seed + index)
        model = make()
        generator = torch.Generator().manual_seed(args.seed + index)
        start = time.perf_counter()
        train(model, mnist.train_images[:args.train_images], mnist.train_labels[:args.train_images],
              batch_size=args.batch_size, lr=args.lr, generator=generator)
        seconds = time.perf_counter() - start
        accuracy = test(model, mnist.test_images, mnist.test_labels)
        pt2, onnx = export(model, args.out, name)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:10s} {params:7,d} parameters  trained in {seconds:5.1f} s  test accuracy {accuracy:.2%}  "
              f".pt2 {pt2 / 1024:6.1f} KB  .onnx {onnx / 1024:6.1f} KB")


if __name__ == "__main__":
    main()
