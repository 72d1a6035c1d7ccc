"""A run's pieces as bytes for a shared store (cnnviz.training.shared): records and errors as JSON, the final
evaluation and the weights as ``torch.save`` bytes that load with ``weights_only=True``.

Nothing here is a pickle: a store that several machines read must not run code it reads back.
"""
from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import torch

from cnnviz.errors import Join, Text, UserError
from cnnviz.training.loop import EvalResult, Metrics


def _value_to_json(value: Any) -> Any:
    """A message value as JSON: translatable values keep their key, so every reader words them in its language."""
    if isinstance(value, UserError):
        return {"$error": value.key, "values": _values_to_json(value.values)}
    if isinstance(value, Text):
        return {"$text": value.key, "values": _values_to_json(value.values)}
    if isinstance(value, Join):
        return {"$join": [_value_to_json(part) for part in value.parts]}
    if isinstance(value, (list, tuple)):
        return [_value_to_json(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # a number type of numpy's, a path: its text is what the message shows


def _values_to_json(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _value_to_json(value) for name, value in values.items()}


def _value_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        values = {name: _value_from_json(item) for name, item in value.get("values", {}).items()}
        if "$error" in value:
            return UserError(value["$error"], **values)
        if "$text" in value:
            return Text(value["$text"], **values)
        if "$join" in value:
            return Join(_value_from_json(part) for part in value["$join"])
    if isinstance(value, list):
        return [_value_from_json(item) for item in value]
    return value


def error_to_json(error: UserError | None) -> str:
    """``""`` for no error; else its catalog key and values (a subclass is read back as a plain UserError)."""
    return json.dumps(_value_to_json(error)) if error is not None else ""


def error_from_json(text: str | bytes) -> UserError | None:
    return _value_from_json(json.loads(text)) if text else None


def metrics_to_json(record: Metrics) -> str:
    """One record, without its evaluation (that travels on its own, ``evaluation_bytes``)."""
    fields = record.to_dict()
    fields["error"] = _value_to_json(record.error)
    return json.dumps(fields, allow_nan=True)


def metrics_from_json(text: str | bytes) -> Metrics:
    fields = json.loads(text)
    fields["error"] = _value_from_json(fields.get("error"))
    return Metrics(**fields)


def evaluation_bytes(result: EvalResult) -> bytes:
    buffer = io.BytesIO()
    torch.save({"loss": torch.tensor(result.loss, dtype=torch.float64),
                "accuracy": torch.tensor(result.accuracy, dtype=torch.float64),
                "predictions": torch.from_numpy(np.ascontiguousarray(result.predictions)),
                "probabilities": torch.from_numpy(np.ascontiguousarray(result.probabilities))}, buffer)
    return buffer.getvalue()


def evaluation_from_bytes(data: bytes) -> EvalResult:
    saved = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    return EvalResult(float(saved["loss"]), float(saved["accuracy"]), saved["predictions"].cpu().numpy(),
                      saved["probabilities"].cpu().numpy())
