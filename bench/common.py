"""Shared by the benchmark scripts: where and when a figure was measured."""
import datetime
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine() -> str:
    import torch

    return (f"{datetime.date.today().isoformat()} · {platform.machine()} · {os.cpu_count()} cores · "
            f"Python {platform.python_version()} · torch {torch.__version__} · {torch.get_num_threads()} torch threads")
