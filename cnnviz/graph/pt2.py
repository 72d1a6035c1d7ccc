"""Reading an uploaded ``.pt2`` (``torch.export.save``) without ``torch.export.load``.

``torch.export.load`` is not safe for a file from a browser, in four places of torch 2.13's own code:
- the sample inputs (``data/sample_inputs/<model>.pt``) are loaded with ``weights_only=True`` and, when that fails,
  again with ``weights_only=False`` (``_export/serde/serialize.py: deserialize_torch_artifact``): a crafted pickle
  runs its ``__reduce__``;
- weights and constants marked ``use_pickle`` are loaded with ``weights_only=False``, and "opaque" constants with
  ``pickle.loads`` (``export/pt2_archive/_package.py``);
- the graph JSON's ``guards_code`` strings are compiled with ``exec`` when ``.module()`` is called
  (``export/_unlift.py: _convert_guards_code_to_fn``), and its symbolic shapes (``as_expr``, range constraints) go
  through ``sympy.sympify``, which evaluates Python;
- a node's target is resolved by ``getattr`` from the ``torch`` module down (``deserialize_operator``), so
  ``torch.os.system`` is a valid target, called with the graph's own string arguments when the graph runs.

So this module reads the archive's members itself: the graph JSON with ``json`` and the weights as raw bytes, their
declared sizes checked against the limits before anything is allocated. Every pickle member is refused or never
read (the sample inputs are not read at all: cnnviz makes its own zero image), ``guards_code`` is dropped, any
symbolic expression is refused, every node target must be a known ATen operator (``open.ALLOWED_ATEN``), and only
then does torch's own ``ExportedProgramDeserializer`` build the program from the checked parts.
"""
from __future__ import annotations

import io
import json
import math
import re
import zipfile
from typing import Any

import torch
from torch._export.serde import schema
from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE, ExportedProgramDeserializer, _dict_to_dataclass

from cnnviz.graph.open import ALLOWED_ATEN, Limits, ModelFileError

_DTYPES = {torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.bool}
# Keys of the graph JSON that carry a symbolic expression (sympify), a subgraph, a custom object or an operator
# value: none of them appears in a static-shaped CNN, and each is a way into code the deserializer runs.
_FORBIDDEN_KEYS = frozenset({"as_expr", "expr_str", "as_graph", "as_custom_obj", "as_operator", "as_sym_int",
                             "as_sym_ints", "as_sym_float", "as_sym_floats", "as_sym_bool", "as_sym_bools",
                             "as_complex"})
_TARGET = re.compile(r"torch\.ops\.aten\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)")
_NAME = re.compile(r"[A-Za-z0-9_.]{1,200}")  # weight names and node names: they become Python attribute paths
_KEPT_METADATA = ("stack_trace", "nn_module_stack")  # node metadata passed on; the rest is dropped unread


def read_pt2(data: bytes, limits: Limits) -> torch.export.ExportedProgram:
    """The exported program in a ``.pt2`` archive, read without unpickling or executing anything from it.

    Raises:
        ModelFileError: not a ``.pt2``, damaged, over a limit, or using something outside a static ATen graph.
    """
    archive = _Archive(data, limits)
    graph_bytes = archive.sizes[f"{archive.root}/models/model.json"]
    if graph_bytes > limits.max_graph_bytes:
        raise ModelFileError("error.open.pt2_graph_too_large", kilobytes=graph_bytes / 2**10,
                             maximum=limits.max_graph_bytes / 2**10)
    program_json = archive.json("models/model.json")
    try:
        _scrub_program(program_json, limits)
    except (TypeError, AttributeError, KeyError) as error:  # a JSON tree whose parts have the wrong types
        raise ModelFileError("error.open.pt2_damaged", kind=type(error).__name__) from None
    except ModelFileError as error:
        if error.key == "error.open.operator":
            error.supported_part = _supported_part(program_json, error.values["node"], archive, limits)
        raise
    return _deserialize(program_json, archive)


def _deserialize(program_json: dict[str, Any], archive: _Archive) -> torch.export.ExportedProgram:
    """torch's own deserializer, given the checked JSON and the tensors read from raw bytes, and no sample inputs."""
    state_dict = archive.tensors("data/weights/model_weights_config.json", "data/weights/")
    constants = archive.tensors("data/constants/model_constants_config.json", "data/constants/")
    try:
        serialized = _dict_to_dataclass(schema.ExportedProgram, program_json)
        return ExportedProgramDeserializer().deserialize(serialized, state_dict, constants, None)
    except ModelFileError:
        raise
    except Exception as error:  # a graph that does not fit its own weights, or a schema torch refuses
        raise ModelFileError("error.open.pt2_damaged", kind=type(error).__name__) from None


def _supported_part(program_json: dict[str, Any], node_name: str, archive: _Archive,
                    limits: Limits) -> torch.export.ExportedProgram | None:
    """The program cut just before the node ``node_name``, its output the first tensor that node reads: what a page
    can still show of a graph with an unsupported operator. The cut graph goes through every check again."""
    try:
        graph_module = program_json["graph_module"]
        graph = graph_module["graph"]
        nodes = graph["nodes"]
        index = next(i for i, node in enumerate(nodes) if node.get("name") == node_name)
        made = {spec["user_input"]["arg"]["as_tensor"]["name"] for spec in graph_module["signature"]["input_specs"]
                if "user_input" in spec}
        made |= {out["as_tensor"]["name"] for node in nodes[:index] for out in node["outputs"] if "as_tensor" in out}
        feed = next(arg["arg"]["as_tensor"]["name"] for arg in nodes[index]["inputs"]
                    if "as_tensor" in arg["arg"] and arg["arg"]["as_tensor"]["name"] in made)
        graph["nodes"] = nodes[:index]
        graph["outputs"] = [{"as_tensor": {"name": feed}}]
        graph_module["signature"]["output_specs"] = [{"user_output": {"arg": {"as_tensor": {"name": feed}}}}]
        _scrub_program(program_json, limits)
        return _deserialize(program_json, archive)
    except Exception:  # no tensor feeds the node, or the part breaks a rule: the message alone is the answer
        return None


def _scrub_program(program_json: dict[str, Any], limits: Limits) -> None:
    """Check a program's JSON for anything outside a static graph of allowed ATen operators, and drop what torch
    would execute or resolve by name (guards_code, node and module metadata) before the deserializer sees it."""
    _check_json(program_json)
    graph_module = program_json.get("graph_module", {})
    program_json["guards_code"] = []  # Python source, compiled by .module(): the input shape is checked by us
    graph_module["metadata"] = {}
    graph = graph_module.get("graph", {})
    if program_json.get("range_constraints"):
        raise ModelFileError("error.open.pt2_dynamic")
    nodes = graph.get("nodes", [])
    # BatchNorm updating its statistics as it runs: num_batches_tracked.add_(1) in the graph, or a mutated buffer.
    if (any(str(node.get("target", "")).startswith("torch.ops.aten.add_.") for node in nodes)
            or any("buffer_mutation" in spec for spec in graph_module.get("signature", {}).get("output_specs", []))):
        raise ModelFileError("error.open.pt2_train_mode")
    if len(nodes) > limits.max_nodes:
        raise ModelFileError("error.open.too_many_nodes", count=len(nodes), maximum=limits.max_nodes)
    for node in nodes:
        node["metadata"] = {key: node.get("metadata", {}).get(key, "") for key in _KEPT_METADATA
                            if node.get("metadata", {}).get(key)}
        name = str(node.get("name", ""))
        target = str(node.get("target", ""))
        match = _TARGET.fullmatch(target)
        if not _NAME.fullmatch(name) or not (target == "_operator.getitem" or match and match[1] in ALLOWED_ATEN):
            raise ModelFileError("error.open.operator", op=target[:80], node=name[:80])
    for key in ("sym_int_values", "sym_bool_values", "sym_float_values", "custom_obj_values"):
        if graph.get(key):
            raise ModelFileError("error.open.pt2_dynamic")
    for spec in graph_module.get("signature", {}).get("input_specs", []):
        kind = next(iter(spec), "")
        if kind not in ("parameter", "buffer", "tensor_constant", "user_input"):
            raise ModelFileError("error.open.pt2_input_kind", kind=str(kind)[:40])


class _Archive:
    """The members of a ``.pt2`` zip, read by name under its root folder, each within the limits."""

    def __init__(self, data: bytes, limits: Limits) -> None:
        self.limits = limits
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            entries = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise ModelFileError("error.open.pt2_not_zip", kind=type(error).__name__) from None
        if len(entries) > limits.max_archive_members:
            raise ModelFileError("error.open.pt2_members", count=len(entries), maximum=limits.max_archive_members)
        # A deflated member of zeros unpacks at 1000:1: the unpacked sizes from the zip's directory are capped too.
        unpacked = sum(entry.file_size for entry in entries)
        if unpacked > limits.max_file_bytes:
            raise ModelFileError("error.open.file_too_large", megabytes=unpacked / 2**20,
                                 maximum=limits.max_file_bytes / 2**20)
        roots = {entry.filename.split("/", 1)[0] for entry in entries}
        self.root = next(iter(roots)) if len(roots) == 1 else ""
        self.sizes = {entry.filename: entry.file_size for entry in entries}
        if self.read("archive_format", missing_ok=True) != b"pt2":
            raise ModelFileError("error.open.pt2_not_zip", kind="archive_format")
        models = [name for name in self.sizes if name.startswith(f"{self.root}/models/") and name.endswith(".json")]
        if models != [f"{self.root}/models/model.json"]:
            raise ModelFileError("error.open.pt2_models", count=len(models))
        if f"{self.root}/data/weights/model.pt" in self.sizes:  # the legacy format: weights in one pickle
            raise ModelFileError("error.open.pt2_pickled", member="data/weights/model.pt")

    def read(self, name: str, missing_ok: bool = False) -> bytes | None:
        path = f"{self.root}/{name}"
        if path not in self.sizes:
            if missing_ok:
                return None
            raise ModelFileError("error.open.pt2_missing", member=name[:80])
        try:
            return self.zip.read(path)  # at most the size in the directory: zipfile stops there and checks the CRC
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as error:
            raise ModelFileError("error.open.pt2_damaged", kind=type(error).__name__) from None

    def json(self, name: str) -> dict[str, Any]:
        try:
            value = json.loads(self.read(name))
        except (ValueError, RecursionError) as error:
            raise ModelFileError("error.open.pt2_damaged", kind=type(error).__name__) from None
        if not isinstance(value, dict):
            raise ModelFileError("error.open.pt2_damaged", kind=type(value).__name__)
        return value

    def tensors(self, config_name: str, folder: str) -> dict[str, torch.Tensor]:
        """The tensors a payload config names, from their raw bytes; sizes and bounds checked before allocating."""
        config = self.json(config_name).get("config", {})
        if not isinstance(config, dict):
            raise ModelFileError("error.open.pt2_damaged", kind="config")
        _check_json(config)
        tensors: dict[str, torch.Tensor] = {}
        storages: dict[str, torch.Tensor] = {}
        total = 0
        for fqn, meta in config.items():
            if not _NAME.fullmatch(str(fqn)) or not isinstance(meta, dict):
                raise ModelFileError("error.open.pt2_damaged", kind=f"name {str(fqn)[:40]!r}")
            path = str(meta.get("path_name", ""))
            if meta.get("use_pickle") or not re.fullmatch(r"(weight|tensor)_[0-9]+", path):
                raise ModelFileError("error.open.pt2_pickled", member=folder + path[:60])
            tensor_meta = meta.get("tensor_meta") or {}
            try:
                dtype = _SERIALIZE_TO_TORCH_DTYPE[schema.ScalarType(tensor_meta["dtype"])]
                sizes = [int(size["as_int"]) for size in tensor_meta["sizes"]]
                strides = [int(stride["as_int"]) for stride in tensor_meta["strides"]]
                offset = int(tensor_meta["storage_offset"]["as_int"])
            except (KeyError, TypeError, ValueError) as error:
                raise ModelFileError("error.open.pt2_damaged", kind=f"{fqn[:40]}: {type(error).__name__}") from None
            if dtype not in _DTYPES:
                raise ModelFileError("error.open.pt2_dtype", name=fqn[:60], dtype=str(dtype))
            numbers = [*sizes, *strides, offset]
            if len(sizes) != len(strides) or len(sizes) > 8 or min(numbers, default=0) < 0 or max(numbers) >= 2**40:
                raise ModelFileError("error.open.pt2_damaged", kind=f"{fqn[:40]}: sizes")
            count = math.prod(sizes)
            total += count
            if count > self.limits.max_params or total > self.limits.max_params:
                raise ModelFileError("error.open.too_many_params", count=max(count, total),
                                     maximum=self.limits.max_params)
            if path not in storages:
                raw = self.read(folder + path)
                if len(raw) % dtype.itemsize:
                    raise ModelFileError("error.open.pt2_damaged", kind=f"{fqn[:40]}: bytes")
                storages[path] = (torch.frombuffer(bytearray(raw), dtype=dtype) if raw
                                  else torch.empty(0, dtype=dtype))
            storage = storages[path]
            # The last element an (offset, sizes, strides) view reaches must lie inside the bytes the file holds.
            last = offset + sum((size - 1) * stride for size, stride in zip(sizes, strides)) if count else -1
            if last >= storage.numel():
                raise ModelFileError("error.open.pt2_damaged", kind=f"{fqn[:40]}: {storage.numel()} elements stored")
            tensor = torch.as_strided(storage, sizes, strides, offset)
            tensors[fqn] = torch.nn.Parameter(tensor, requires_grad=False) if meta.get("is_param") else tensor
        return tensors


def _check_json(value: Any) -> None:
    """Refuse a JSON tree holding any of ``_FORBIDDEN_KEYS``, walked with a stack (it may nest deeply)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if key in _FORBIDDEN_KEYS and child is not None:
                    raise ModelFileError("error.open.pt2_dynamic")
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
