"""Torch work from a new thread per call (as Streamlit runs each rerun) against the same work on a long-lived thread
(``cnnviz.torch_threads``), alternating, in one run. The work: the Kernel Lab's convolution of a 1024x683 RGB image
with a 7x7 filter and its three channels' partial maps.

    python bench/torch_threads.py [--calls 24]
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np

from common import machine
from cnnviz import torch_threads
from cnnviz.conv import kernels, pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between calls")
    args = parser.parse_args()
    image = np.random.default_rng(0).random((683, 1024, 3), dtype=np.float32)
    kernel = kernels.rgb_kernel(kernels.gaussian_kernel(1.0), kernels.grayscale_weights())
    cfg = pipeline.LabConfig(colour="rgb", working_size=1024)

    def timed() -> float:
        started = time.perf_counter()
        pipeline.convolve(image, kernel, cfg)
        return 1000 * (time.perf_counter() - started)

    fresh, pooled = [], []
    for _ in range(args.calls):
        thread = threading.Thread(target=lambda: fresh.append(timed()))
        thread.start()
        thread.join()
        time.sleep(args.pause)  # between reruns a page waits for the student
        pooled.append(torch_threads.run(timed))
        time.sleep(args.pause)
    print(f"torch threads benchmark · {machine()}")
    for name, times in (("new thread per call", fresh), ("long-lived thread", pooled)):
        print(f"  {name:20s} median {statistics.median(times):6.1f} ms  max {max(times):6.1f} ms")
    print(f"  ratio of medians (long-lived / new thread): {statistics.median(pooled) / statistics.median(fresh):.2f}")


if __name__ == "__main__":
    main()
