"""Checkpoints: a model's weights with both configs and its metrics, saved as a ``.pt`` file and loaded back safely.

Loading is for untrusted uploads: the archive's uncompressed sizes are capped before anything is unpacked, only the
expected keys are accepted, and torch unpickles with ``weights_only=True``.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnnviz.errors import Join, Text, UserError
from cnnviz.model import LIMITS, ModelConfig, build_model
from cnnviz.training.config import TrainConfig

CHECKPOINT_FORMAT = "cnnviz-checkpoint-v1"
CHECKPOINT_KEYS = ("format", "state_dict", "model_config", "train_config", "metrics")  # what save_checkpoint writes


class CheckpointError(UserError):
    """A file that is not a usable cnnviz checkpoint; the message says why (a ValueError)."""


def save_checkpoint(model: nn.Module, model_cfg: ModelConfig, train_cfg: TrainConfig | None = None, *,
                    metrics: dict[str, Any] | None = None) -> bytes:
    """The state_dict plus both configs and final metrics, as the bytes of a ``.pt`` file."""
    buffer = io.BytesIO()
    torch.save({
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": model_cfg.to_dict(),
        "train_config": train_cfg.to_dict() if train_cfg else None,
        "metrics": metrics or {},
    }, buffer)
    return buffer.getvalue()


def load_checkpoint(data: bytes) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """Rebuild a model from ``save_checkpoint`` bytes, safely (weights only, on the CPU).

    Nothing is unpacked before the archive's uncompressed sizes pass the caps (``cnnviz.model.LIMITS``), and
    nothing is built before the config does.

    Returns:
        (model in eval mode, its ModelConfig, the whole checkpoint dict without the state_dict).

    Raises:
        CheckpointError: not a torch file, not a cnnviz checkpoint, over a cap, or weights that do not fit the config.
    """
    _check_archive(data)
    try:
        payload = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as error:  # torch raises many types for foreign bytes
        raise CheckpointError("error.checkpoint.not_torch", kind=type(error).__name__) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("error.checkpoint.no_marker")
    unknown = sorted(str(key)[:40] for key in payload if key not in CHECKPOINT_KEYS)
    info = {k: v for k, v in payload.items() if k != "state_dict"}
    if unknown or not _plain_settings(info):
        raise CheckpointError("error.checkpoint.unknown_keys", names=", ".join(unknown[:4]) or "metrics")
    try:
        cfg = ModelConfig.from_dict(payload["model_config"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError("error.checkpoint.bad_config", reason=error if isinstance(error, UserError) else str(error)) from None
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError("error.checkpoint.no_weights")
    with torch.device("meta"):  # the expected names and shapes, before any weight is allocated
        expected = build_model(cfg).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(str(k)[:40] for k in set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state)
                   if not isinstance(state[k], torch.Tensor) or tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = [Text(f"error.checkpoint.{kind}", names=", ".join(names[:4]))
                 for kind, names in (("missing", missing), ("unexpected", unexpected), ("wrong_shape", wrong)) if names]
        raise CheckpointError("error.checkpoint.weights_mismatch", parts=Join(parts))
    model = build_model(cfg)
    model.load_state_dict(state)
    model.eval()
    return model, cfg, info


def _check_archive(data: bytes) -> None:
    """Refuse bytes that are not a zip archive (what ``torch.save`` writes), or whose entries would unpack to more
    than the caps: the sizes come from the archive's directory, before anything is decompressed."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise CheckpointError("error.checkpoint.not_torch", kind=type(error).__name__) from None
    total = sum(entry.file_size for entry in entries)
    if total > LIMITS.max_checkpoint_bytes:
        raise CheckpointError("error.checkpoint.too_large", megabytes=total / 2**20,
                              maximum=LIMITS.max_checkpoint_bytes / 2**20)
    pickled = sum(entry.file_size for entry in entries if entry.filename.endswith(".pkl"))
    if pickled > LIMITS.max_checkpoint_pickle_bytes:
        raise CheckpointError("error.checkpoint.settings_too_large", kilobytes=pickled / 2**10,
                              maximum=LIMITS.max_checkpoint_pickle_bytes / 2**10)


def _plain_settings(value: Any, most_depth: int = 32) -> bool:
    """Whether a checkpoint's settings are plain values, nested at most ``most_depth`` deep, with no tensor (only its
    state_dict may hold any). A loop, not recursion: a 1 MB pickle can nest lists a hundred thousand deep."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, torch.Tensor) or depth > most_depth:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
    return True



@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint a user uploaded, loaded (``load_checkpoint``) and kept for the session's pages."""

    file_id: str  # the upload it came from
    name: str  # its file name
    model: nn.Module  # in eval mode, on the CPU
    config: ModelConfig
    info: dict  # the checkpoint without its weights: configs and metrics
