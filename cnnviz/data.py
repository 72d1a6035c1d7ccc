"""MNIST from the bundled IDX files, loaded once per process and shared read-only by every session.

The files are read with numpy (no pickle). ``CNNVIZ_MNIST_DIR`` points the loader at other IDX
files of the same layout, such as Fashion-MNIST.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnviz.errors import Text, UserError

TRAIN_SIZE = 60_000  # images in MNIST's training set: a run's length is known before the set is loaded
ENV_DIR = "CNNVIZ_MNIST_DIR"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "assets" / "mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
MANIFEST = "SHA256SUMS"
REBUILD_HINT = Text("error.data.rebuild_hint")  # "Run `python scripts/build_mnist_assets.py` to rebuild ..."
# The usual MNIST normalisation: pixel mean and standard deviation of the training set.
MEAN, STD = 0.1307, 0.3081
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DataError(UserError):
    """The data files are missing or damaged; the message names the file and the fix (a ValueError)."""


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays as tensors. Treat them as read-only: every session shares them."""

    train_images: torch.Tensor  # (60000, 1, 28, 28) float32, normalised with MEAN and STD
    train_labels: torch.Tensor  # (60000,) int64
    test_images: torch.Tensor  # (10000, 1, 28, 28) float32, normalised
    test_labels: torch.Tensor  # (10000,) int64
    test_pixels: np.ndarray  # (10000, 28, 28) uint8, for display
    source: str  # the folder the files came from


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array.

    Args:
        path: the file.

    Returns:
        The array with the shape its header declares.

    Raises:
        DataError: the file is missing, not IDX, or shorter or longer than its header says.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except FileNotFoundError as error:
        raise DataError("error.data.missing", name=path.name, folder=path.parent, hint=REBUILD_HINT) from error
    except (OSError, EOFError) as error:
        raise DataError("error.data.unreadable", name=path.name, error=str(error), hint=REBUILD_HINT) from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError("error.data.not_idx", name=path.name, magic=raw[:4].hex(), hint=REBUILD_HINT)
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError("error.data.bad_header", name=path.name, hint=REBUILD_HINT)
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError("error.data.wrong_length", name=path.name, size=len(raw), shape=shape, expected=expected,
                        hint=REBUILD_HINT)
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _verify_manifest(folder: Path) -> None:
    manifest = folder / MANIFEST
    if not manifest.exists():
        return  # foreign IDX folders (e.g. Fashion-MNIST) need not carry our manifest
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split()
        path = folder / name
        if not path.exists():
            raise DataError("error.data.missing", name=name, folder=folder, hint=REBUILD_HINT)
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise DataError("error.data.corrupt", name=name, manifest=MANIFEST, hint=REBUILD_HINT)


def mnist_dir(directory: str | Path | None = None) -> Path:
    """The folder to load from: the argument, else $CNNVIZ_MNIST_DIR, else the bundled assets/mnist."""
    return Path(directory or os.environ.get(ENV_DIR) or DEFAULT_DIR).resolve()


_LOADED: dict[Path, Mnist] = {}  # by folder, least recently used first; each holds ~220 MB
_KEEP = 2  # folders kept loaded (the bundled set, and one a test or a course points at)
# One load at a time: two students' first Starts on a fresh server would otherwise both read and normalise the set
# (two copies, twice the CPU), and a preload (``preload``) would race the first Start.
_LOADING = threading.Lock()
_PRELOADING: set[Path] = set()  # folders a background load is reading now
_PRELOADING_LOCK = threading.Lock()
_LOG = logging.getLogger(__name__)


def load_mnist(directory: str | Path | None = None) -> Mnist:
    """Load MNIST (or any IDX data of that layout), cached per folder for the whole process. A call while another
    loads the same folder waits for that load instead of making a second copy."""
    folder = mnist_dir(directory)
    with _LOADING:
        data = _LOADED.pop(folder, None) or _load(folder)
        if len(_LOADED) >= _KEEP:
            del _LOADED[next(iter(_LOADED))]  # the least recently used
        _LOADED[folder] = data  # now the most recently used
        return data


def is_loaded(directory: str | Path | None = None) -> bool:
    """Whether ``load_mnist(directory)`` would answer at once."""
    return mnist_dir(directory) in _LOADED


def preload(directory: str | Path | None = None) -> None:
    """Start ``load_mnist(directory)`` in a background thread, unless the folder is loaded or being loaded: a page
    calls it on every run while a student sets up a run, so the first Start need not read and normalise the set
    (2.2 s of the server's CPU on 2 cores). A Start during the load waits for it. Missing or damaged files are only
    logged here: the Start that needs them says so."""
    folder = mnist_dir(directory)
    with _PRELOADING_LOCK:
        if folder in _LOADED or folder in _PRELOADING:
            return
        _PRELOADING.add(folder)

    def load() -> None:
        try:
            load_mnist(folder)
        except DataError:
            _LOG.warning("MNIST could not be preloaded from %s", folder, exc_info=True)
        finally:
            with _PRELOADING_LOCK:
                _PRELOADING.discard(folder)

    threading.Thread(target=load, name="cnnviz-mnist-preload", daemon=True).start()


def _load(folder: Path) -> Mnist:
    _verify_manifest(folder)
    arrays = {key: read_idx(folder / name) for key, name in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError("error.data.mismatch", split=Text(f"error.data.split.{split}"), images=images.shape,
                            labels=labels.shape)
    # In shared memory from the start: a training worker process then maps these tensors instead of copying 220 MB,
    # and torch never has to move them there later, while other sessions may be reading them.
    return Mnist(
        train_images=_normalise(arrays["train_images"]).share_memory_(),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)).share_memory_(),
        test_images=_normalise(arrays["test_images"]).share_memory_(),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)).share_memory_(),
        test_pixels=arrays["test_images"].copy(),
        source=str(folder),
    )


def _normalise(pixels: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(pixels.astype(np.float32) / 255.0)[:, None]  # (N, 1, H, W)
    return (x - MEAN) / STD

