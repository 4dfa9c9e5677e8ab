"""Reading a model folder's ``config.pbtxt`` the way NVIDIA Triton does.

* The config is optional for ONNX models: missing inputs, outputs and ``max_batch_size``
  are completed from the graph (Triton's auto-complete). A model whose every input and
  output has a dynamic first dim is batched with ``default_max_batch_size`` (Triton's
  ``default-max-batch-size``, 4) and gets dynamic batching; a tensor with only the batch
  dim (onnxmltools' ``label``, shape [N]) becomes ``dims: [1]`` with ``reshape: []``.
* A config may list a subset of the graph's outputs, and ``reshape`` inputs and outputs.
* ``version_policy``: latest N (default: latest 1), all, or specific versions.
* ``pytorch_libtorch`` TorchScript models need a config (TorchScript has no types).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from common.exceptions import ModelRepositoryError
from inference.datatypes import DATATYPES, ONNX_TO_DATATYPE, TensorSpec

ONNX_PLATFORM = "onnxruntime_onnx"
TORCH_PLATFORM = "pytorch_libtorch"
CONFIG_FILENAME = "config.pbtxt"
#: Platform -> (backend name, default model file name), as in Triton.
PLATFORMS = {ONNX_PLATFORM: ("onnxruntime", "model.onnx"), TORCH_PLATFORM: ("pytorch", "model.pt")}
#: Triton's default ``default-max-batch-size`` for auto-completed batched models.
DEFAULT_MAX_BATCH_SIZE = 4


def parse_config(model_dir: Path) -> tuple[mc.ModelConfig, bool]:
    """The folder's config (empty when there is no config.pbtxt) and whether the text
    sets ``max_batch_size`` (proto3 cannot tell 0 from unset; Triton can)."""
    name, path = model_dir.name, model_dir / CONFIG_FILENAME
    config = mc.ModelConfig()
    if not path.is_file():
        return config, False
    text = path.read_text()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise ModelRepositoryError(
            f"model {name!r}: {CONFIG_FILENAME} does not parse: {err}"
        ) from err
    if config.name and config.name != name:
        raise ModelRepositoryError(
            f"model {name!r}: config.pbtxt names it {config.name!r}; the folder name and the "
            "config name must agree"
        )
    return config, "max_batch_size" in text


def resolve_platform(config: mc.ModelConfig, model_dir: Path, versions: list[Path]) -> str:
    """The platform from ``platform``/``backend``, else from the model file present."""
    name = model_dir.name
    for platform, (backend, _) in PLATFORMS.items():
        if config.platform == platform or (not config.platform and config.backend == backend):
            return platform
    if config.platform or config.backend:
        raise ModelRepositoryError(
            f"model {name!r}: platform {config.platform or config.backend!r} is not served; "
            f"use one of {sorted(PLATFORMS)}"
        )
    for platform, (_, filename) in PLATFORMS.items():
        if any((v / (config.default_model_filename or filename)).is_file() for v in versions):
            return platform
    raise ModelRepositoryError(
        f"model {name!r}: no platform in config and no model.onnx or model.pt in its version "
        "folders; add a config.pbtxt with 'platform'"
    )


def select_versions(config: mc.ModelConfig, available: list[int], name: str) -> list[int]:
    """Versions served under ``version_policy`` (Triton's default: the latest one)."""
    policy = config.version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return sorted(available)
    if kind == "specific":
        wanted = sorted(int(v) for v in policy.specific.versions)
        missing = [v for v in wanted if v not in available]
        if missing:
            raise ModelRepositoryError(
                f"model {name!r}: version_policy asks for versions {missing}, which have no "
                f"folder; present: {sorted(available)}"
            )
        return wanted
    count = policy.latest.num_versions if kind == "latest" else 1
    if count < 1:
        raise ModelRepositoryError(f"model {name!r}: version_policy latest needs num_versions >= 1")
    return sorted(available)[-count:]


def graph_tensors(values: Any, skip: set[str]) -> dict[str, tuple[str | None, list[int]]]:
    """{name: (datatype or None when not a servable tensor, dims with -1 dynamic)}."""
    out: dict[str, tuple[str | None, list[int]]] = {}
    for value in values:
        if value.name in skip:
            continue
        ttype = value.type.tensor_type if value.type.HasField("tensor_type") else None
        if ttype is None or ttype.elem_type not in ONNX_TO_DATATYPE:
            out[value.name] = (None, [])
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in ttype.shape.dim]
        out[value.name] = (ONNX_TO_DATATYPE[ttype.elem_type], dims)
    return out


def onnx_io(model: onnx.ModelProto) -> tuple[dict, dict]:
    """Graph inputs (initializers left out) and outputs, see :func:`graph_tensors`."""
    initializers = {init.name for init in model.graph.initializer}
    return graph_tensors(model.graph.input, initializers), graph_tensors(model.graph.output, set())


def _add_tensor(
    target: Any, name: str, datatype: str | None, dims: list[int], batched: bool, model: str
) -> None:
    if datatype is None:
        raise ModelRepositoryError(
            f"model {model!r}: graph tensor {name!r} is not a numeric tensor (a ZipMap "
            "sequence of maps?); convert without it (onnxmltools: zipmap=False) or leave it "
            "out of the config's outputs"
        )
    tensor = target.add(name=name, data_type=mc.DataType.Value("TYPE_" + datatype))
    own = dims[1:] if batched else dims
    if batched and not own:
        tensor.dims.append(1)
        tensor.reshape.SetInParent()  # batch-only tensor: clients see [N, 1], the model [N]
    else:
        tensor.dims.extend(own)


def autocomplete_onnx(
    config: mc.ModelConfig,
    has_mbs: bool,
    graph: onnx.ModelProto,
    name: str,
    default_max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
) -> None:
    """Fill what the config leaves out from the graph, in place (Triton's auto-complete)."""
    inputs, outputs = onnx_io(graph)
    config.name, config.platform = name, ONNX_PLATFORM
    if not has_mbs:
        dims = [d for _, d in inputs.values()] + [d for t, d in outputs.values() if t]
        batchable = bool(dims) and all(d and d[0] == -1 for d in dims)
        config.max_batch_size = default_max_batch_size if batchable else 0
        if batchable and default_max_batch_size > 1 and not config.HasField("sequence_batching"):
            config.dynamic_batching.SetInParent()
    batched = config.max_batch_size > 0
    if not config.input:
        for tname, (datatype, dims) in inputs.items():
            _add_tensor(config.input, tname, datatype, dims, batched, name)
    if not config.output:
        for tname, (datatype, dims) in outputs.items():
            _add_tensor(config.output, tname, datatype, dims, batched, name)


def config_specs(tensors: Any, name: str) -> list[TensorSpec]:
    """Config inputs or outputs as TensorSpecs (``reshape`` kept when given)."""
    specs = []
    for tensor in tensors:
        type_name = mc.DataType.Name(tensor.data_type)
        datatype = type_name.removeprefix("TYPE_")
        if datatype not in DATATYPES:
            raise ModelRepositoryError(
                f"model {name!r}: tensor {tensor.name!r} has unsupported type {type_name}"
            )
        reshape = (
            tuple(int(d) for d in tensor.reshape.shape) if tensor.HasField("reshape") else None
        )
        specs.append(TensorSpec(tensor.name, datatype, tuple(int(d) for d in tensor.dims), reshape))
    return specs


def check_against_graph(
    name: str, kind: str, specs: list[TensorSpec], graph: dict, batched: bool
) -> None:
    """Config tensors must be graph tensors of the same datatype and (model-side) dims.

    Inputs must be exactly the graph's; outputs may be a subset.
    """
    unknown = sorted(s.name for s in specs if s.name not in graph)
    left_out = sorted(set(graph) - {s.name for s in specs}) if kind == "input" else []
    if unknown or left_out:
        raise ModelRepositoryError(
            f"model {name!r}: config {kind}s {sorted(s.name for s in specs)} differ from the "
            f"ONNX graph {kind}s {sorted(graph)}"
        )
    for spec in specs:
        datatype, dims = graph[spec.name]
        if datatype != spec.datatype:
            raise ModelRepositoryError(
                f"model {name!r}: {kind} {spec.name!r} is {spec.datatype} in config.pbtxt but "
                f"{datatype or 'not a numeric tensor'} in the ONNX graph"
            )
        graph_dims = dims[1:] if batched else dims
        want = spec.model_dims
        ok = len(graph_dims) == len(want) and all(
            c == -1 or g == -1 or c == g for c, g in zip(want, graph_dims, strict=True)
        )
        if not ok:
            where = "reshape" if spec.reshape is not None else "dims"
            raise ModelRepositoryError(
                f"model {name!r}: {kind} {spec.name!r} has {where} {list(want)} in config.pbtxt "
                f"but {graph_dims} (without batch dim) in the ONNX graph"
            )
