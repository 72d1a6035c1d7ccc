"""MNIST loading: the bundled files are canonical, and bad files give messages that say how to fix them."""
import gzip
import struct

import numpy as np
import pytest
import torch

from cnnviz import data
from cnnviz.data import DataError, load_mnist, read_idx


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_sizes_and_first_labels(mnist):
    assert mnist.train_images.shape == (60000, 1, 28, 28)
    assert mnist.test_images.shape == (10000, 1, 28, 28)
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_class_counts(mnist):
    counts = torch.bincount(mnist.train_labels, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_normalisation_and_display_pixels(mnist):
    assert mnist.test_pixels.dtype == np.uint8 and mnist.test_pixels.max() == 255
    restored = mnist.test_images[0, 0] * data.STD + data.MEAN
    np.testing.assert_allclose(restored.numpy(), mnist.test_pixels[0] / 255.0, atol=1e-6)
    assert abs(float(mnist.train_images.mean())) < 0.01  # the normalisation constants fit the data


def test_cached_per_folder(mnist):
    assert load_mnist() is mnist


def write_idx(path, array, *, gz=True):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def fake_mnist(folder, n_train=20, n_test=10):
    rng = np.random.default_rng(0)
    write_idx(folder / data.FILES["train_images"], rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(folder / data.FILES["train_labels"], rng.integers(0, 10, n_train))
    write_idx(folder / data.FILES["test_images"], rng.integers(0, 256, (n_test, 28, 28)))
    write_idx(folder / data.FILES["test_labels"], rng.integers(0, 10, n_test))


def test_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b", array, gz=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "b"), array)


def test_env_var_points_at_other_idx_files(tmp_path, monkeypatch):
    fake_mnist(tmp_path)
    monkeypatch.setenv(data.ENV_DIR, str(tmp_path))
    loaded = load_mnist()
    assert loaded.train_images.shape == (20, 1, 28, 28) and loaded.source == str(tmp_path.resolve())


def test_missing_file_names_it_and_the_fix(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / data.FILES["test_labels"]).unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is missing.*build_mnist_assets.py"):
        load_mnist(tmp_path)


def test_bad_magic_and_truncation(tmp_path):
    (tmp_path / "x").write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="bad magic number 12340801"):
        read_idx(tmp_path / "x")
    write_idx(tmp_path / "y", np.zeros((4, 28, 28)), gz=False)
    (tmp_path / "y").write_bytes((tmp_path / "y").read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(tmp_path / "y")
    (tmp_path / "z.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot be read"):
        read_idx(tmp_path / "z.gz")


def test_manifest_mismatch(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / data.MANIFEST).write_text(f"{'0' * 64}  {data.FILES['train_images']}\n")
    with pytest.raises(DataError, match="does not match its SHA-256"):
        load_mnist(tmp_path)


def test_mismatched_lengths(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / data.FILES["test_labels"], np.zeros(3))
    with pytest.raises(DataError, match="do not match"):
        load_mnist(tmp_path)


def test_bundled_manifest_matches_bundled_files():
    data._verify_manifest(data.DEFAULT_DIR)  # raises on any mismatch
    assert len((data.DEFAULT_DIR / data.MANIFEST).read_text().split()) == 8


def test_first_loads_at_once_read_the_files_once(tmp_path, monkeypatch):
    """Two students' first Starts on a fresh server (or a Start during the Train page's preload) share one load."""
    import threading
    import time

    fake_mnist(tmp_path)
    reads, callers = [], []

    class CountedLock:
        """data._LOADING, counting the calls that reached it."""

        def __init__(self, lock):
            self.lock = lock

        def __enter__(self):
            callers.append(threading.current_thread())
            return self.lock.__enter__()

        def __exit__(self, *exc):
            return self.lock.__exit__(*exc)

    def held_read(path):
        reads.append(path)
        deadline = time.monotonic() + 60
        while len(callers) < 2:  # the load stays in flight until the other call has arrived
            assert time.monotonic() < deadline, "the second call never came"
            time.sleep(0.01)
        return read_idx(path)

    monkeypatch.setattr(data, "_LOADING", CountedLock(data._LOADING))
    monkeypatch.setattr(data, "read_idx", held_read)
    together, loaded = threading.Barrier(2), []

    def first_start():
        together.wait()
        loaded.append(load_mnist(tmp_path))

    threads = [threading.Thread(target=first_start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) == len(data.FILES) and loaded[0] is loaded[1]
    assert data.is_loaded(tmp_path)


def test_a_preload_starts_once_and_loads_in_the_background(tmp_path, monkeypatch):
    """Every run of the Train page asks for a preload; only the first starts one, and the set ends up loaded."""
    import threading
    import time

    fake_mnist(tmp_path)
    reads, release = [], threading.Event()

    def held_read(path):
        reads.append(path)
        release.wait(10)  # the load stays in flight while the page asks again
        return read_idx(path)

    monkeypatch.setattr(data, "read_idx", held_read)
    data.preload(tmp_path)
    data.preload(tmp_path)
    assert not data.is_loaded(tmp_path)
    release.set()
    deadline = time.monotonic() + 60
    while not data.is_loaded(tmp_path):
        assert time.monotonic() < deadline, "the preload never finished"
        time.sleep(0.01)
    assert len(reads) == len(data.FILES)  # one load, not two
    data.preload(tmp_path)  # loaded: nothing more to read
    assert len(reads) == len(data.FILES)
