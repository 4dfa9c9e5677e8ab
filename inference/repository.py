"""Model repository in NVIDIA Triton's layout: ``<repo>/<model>/config.pbtxt`` and
``<repo>/<model>/<version>/model.onnx``.

:func:`write_model` writes an ONNX model and generates its ``config.pbtxt`` from the graph;
:func:`load_repository` reads a folder and validates every model (ONNX checker, config
against graph, required metadata), so the same folder serves from our server or Triton.
The config is parsed with Triton's own ``ModelConfig`` protobuf shipped in tritonclient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from common.exceptions import ModelNotFoundError, ModelRepositoryError
from inference.metadata import read_metadata, validate_metadata

PLATFORM = "onnxruntime_onnx"
MODEL_FILENAME = "model.onnx"
CONFIG_FILENAME = "config.pbtxt"

# KServe v2 datatype -> (numpy dtype, ONNX elem type). Strings (BYTES) are not served.
_DATATYPES: dict[str, tuple[np.dtype, int]] = {
    "FP32": (np.dtype(np.float32), onnx.TensorProto.FLOAT),
    "FP64": (np.dtype(np.float64), onnx.TensorProto.DOUBLE),
    "FP16": (np.dtype(np.float16), onnx.TensorProto.FLOAT16),
    "INT64": (np.dtype(np.int64), onnx.TensorProto.INT64),
    "INT32": (np.dtype(np.int32), onnx.TensorProto.INT32),
    "INT16": (np.dtype(np.int16), onnx.TensorProto.INT16),
    "INT8": (np.dtype(np.int8), onnx.TensorProto.INT8),
    "UINT8": (np.dtype(np.uint8), onnx.TensorProto.UINT8),
    "BOOL": (np.dtype(np.bool_), onnx.TensorProto.BOOL),
}
_ONNX_TO_DATATYPE = {elem: name for name, (_, elem) in _DATATYPES.items()}
_NUMPY_TO_DATATYPE = {np_dtype: name for name, (np_dtype, _) in _DATATYPES.items()}


def numpy_dtype(datatype: str) -> np.dtype:
    """Numpy dtype of a KServe v2 datatype name such as ``"FP32"``."""
    try:
        return _DATATYPES[datatype][0]
    except KeyError:
        raise ModelRepositoryError(
            f"datatype {datatype!r} is not supported; choose one of {sorted(_DATATYPES)}"
        ) from None


def datatype_of(dtype: np.dtype | type) -> str:
    """KServe v2 datatype name of a numpy dtype; raises ModelRepositoryError if unsupported."""
    try:
        return _NUMPY_TO_DATATYPE[np.dtype(dtype)]
    except KeyError:
        raise ModelRepositoryError(
            f"numpy dtype {np.dtype(dtype)} has no KServe v2 datatype; "
            f"use one of {sorted(str(d) for d in _NUMPY_TO_DATATYPE)}"
        ) from None


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: name, KServe datatype, dims without the batch dim (-1 = any)."""

    name: str
    datatype: str
    dims: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of this tensor."""
        return numpy_dtype(self.datatype)

    def as_kserve(self, batched: bool) -> dict[str, Any]:
        """KServe v2 tensor metadata (batch dim as -1 when the model is batched)."""
        shape = ([-1] if batched else []) + list(self.dims)
        return {"name": self.name, "datatype": self.datatype, "shape": shape}


@dataclass
class ModelEntry:
    """A validated model of the repository (all its versions share one config)."""

    name: str
    config: mc.ModelConfig
    versions: dict[int, Path]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def max_batch_size(self) -> int:
        """Largest batch the model accepts in one request (0: not batched)."""
        return int(self.config.max_batch_size)

    @property
    def max_queue_delay_us(self) -> int:
        """Dynamic batching delay in microseconds (0 when dynamic batching is off)."""
        if not self.config.HasField("dynamic_batching"):
            return 0
        return int(self.config.dynamic_batching.max_queue_delay_microseconds)

    @property
    def dynamic_batching(self) -> bool:
        """Whether the config enables dynamic batching."""
        return self.config.HasField("dynamic_batching")

    def kserve_metadata(self) -> dict[str, Any]:
        """KServe v2 model metadata (shapes include the batch dim as -1 for batched models)."""
        batched = self.max_batch_size > 0
        return {
            "name": self.name,
            "versions": [str(v) for v in sorted(self.versions)],
            "platform": self.config.platform or PLATFORM,
            "inputs": [s.as_kserve(batched) for s in self.inputs],
            "outputs": [s.as_kserve(batched) for s in self.outputs],
        }

    @property
    def latest_version(self) -> int:
        """The highest version number (Triton's default version policy: latest 1)."""
        return max(self.versions)

    def path(self, version: int | str | None = None) -> Path:
        """Path of ``model.onnx`` for ``version`` (latest when None or empty)."""
        if version in (None, ""):
            return self.versions[self.latest_version]
        try:
            return self.versions[int(version)]
        except (KeyError, ValueError):
            raise ModelNotFoundError(
                f"model {self.name!r} has no version {version!r}; "
                f"available: {sorted(self.versions)}"
            ) from None


@dataclass
class Repository:
    """All validated models found in a repository folder."""

    root: Path
    models: dict[str, ModelEntry]

    def get(self, name: str) -> ModelEntry:
        """The model ``name``; raises ModelNotFoundError listing the served models."""
        try:
            return self.models[name]
        except KeyError:
            raise ModelNotFoundError(
                f"model {name!r} is not in repository {str(self.root)!r}; "
                f"served models: {sorted(self.models)}"
            ) from None

    def names(self) -> list[str]:
        """Sorted model names."""
        return sorted(self.models)


def _graph_tensors(values: Any, skip: set[str], model: str) -> list[tuple[str, str, list[int]]]:
    """(name, datatype, dims) of graph inputs/outputs; dynamic dims are -1."""
    out = []
    for value in values:
        if value.name in skip:
            continue
        ttype = value.type.tensor_type
        if ttype.elem_type not in _ONNX_TO_DATATYPE:
            raise ModelRepositoryError(
                f"model {model!r}: tensor {value.name!r} has ONNX element type "
                f"{onnx.TensorProto.DataType.Name(ttype.elem_type)}, which is not supported"
            )
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in ttype.shape.dim]
        out.append((value.name, _ONNX_TO_DATATYPE[ttype.elem_type], dims))
    return out


def _graph_io(model: onnx.ModelProto, name: str) -> tuple[list, list]:
    initializers = {init.name for init in model.graph.initializer}
    return (
        _graph_tensors(model.graph.input, initializers, name),
        _graph_tensors(model.graph.output, set(), name),
    )


def write_model(
    repo_dir: str | Path,
    name: str,
    model: onnx.ModelProto,
    *,
    max_batch_size: int,
    version: int = 1,
    dynamic_batching: bool = True,
    max_queue_delay_microseconds: int = 100,
) -> Path:
    """Write ``model`` as ``<repo_dir>/<name>/<version>/model.onnx`` with a generated config.

    The config lists every graph input and output with its Triton type and its dims
    without the batch dim (the first graph dim is the batch dim when ``max_batch_size`` >
    0). The model must already carry the required metadata (see
    :func:`inference.metadata.set_metadata`). Returns the model folder ``<repo_dir>/<name>``.
    """
    validate_metadata(read_metadata(model), name)
    onnx.checker.check_model(model)
    inputs, outputs = _graph_io(model, name)
    config = mc.ModelConfig(name=name, platform=PLATFORM, max_batch_size=max_batch_size)
    for target, tensors in ((config.input, inputs), (config.output, outputs)):
        for tname, datatype, dims in tensors:
            if max_batch_size > 0:
                if not dims:
                    raise ModelRepositoryError(
                        f"model {name!r}: tensor {tname!r} is a scalar but max_batch_size > 0 "
                        "needs a leading batch dim"
                    )
                dims = dims[1:]
            target.add(name=tname, data_type=mc.DataType.Value("TYPE_" + datatype), dims=dims)
    if dynamic_batching and max_batch_size > 0:
        config.dynamic_batching.max_queue_delay_microseconds = max_queue_delay_microseconds
    model_dir = Path(repo_dir) / name
    (model_dir / str(version)).mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(model_dir / str(version) / MODEL_FILENAME))
    (model_dir / CONFIG_FILENAME).write_text(text_format.MessageToString(config))
    return model_dir


def _parse_config(path: Path, name: str) -> mc.ModelConfig:
    if not path.is_file():
        raise ModelRepositoryError(f"model {name!r}: {CONFIG_FILENAME} is missing in {path.parent}")
    config = mc.ModelConfig()
    try:
        text_format.Parse(path.read_text(), config)
    except text_format.ParseError as err:
        raise ModelRepositoryError(
            f"model {name!r}: {CONFIG_FILENAME} does not parse: {err}"
        ) from err
    if config.name and config.name != name:
        raise ModelRepositoryError(
            f"model {name!r}: config.pbtxt names it {config.name!r}; the folder name and the "
            "config name must agree"
        )
    if config.platform != PLATFORM and config.backend != "onnxruntime":
        raise ModelRepositoryError(
            f"model {name!r}: platform {config.platform!r} is not served; use {PLATFORM!r}"
        )
    return config


def _config_specs(tensors: Any, name: str) -> list[TensorSpec]:
    specs = []
    for tensor in tensors:
        type_name = mc.DataType.Name(tensor.data_type)
        datatype = type_name.removeprefix("TYPE_")
        if datatype not in _DATATYPES:
            raise ModelRepositoryError(
                f"model {name!r}: tensor {tensor.name!r} has unsupported type {type_name}"
            )
        specs.append(TensorSpec(tensor.name, datatype, tuple(int(d) for d in tensor.dims)))
    return specs


def _check_against_graph(
    name: str, kind: str, specs: list[TensorSpec], graph: list, batched: bool
) -> None:
    """Config tensors must match the graph's by name, datatype and non-batch dims."""
    by_name = {g[0]: g for g in graph}
    if sorted(by_name) != sorted(s.name for s in specs):
        raise ModelRepositoryError(
            f"model {name!r}: config {kind}s {sorted(s.name for s in specs)} differ from the "
            f"ONNX graph {kind}s {sorted(by_name)}"
        )
    for spec in specs:
        _, datatype, dims = by_name[spec.name]
        if datatype != spec.datatype:
            raise ModelRepositoryError(
                f"model {name!r}: {kind} {spec.name!r} is {spec.datatype} in config.pbtxt but "
                f"{datatype} in the ONNX graph"
            )
        graph_dims = dims[1:] if batched else dims
        ok = len(graph_dims) == len(spec.dims) and all(
            c == -1 or g == -1 or c == g for c, g in zip(spec.dims, graph_dims, strict=True)
        )
        if not ok:
            raise ModelRepositoryError(
                f"model {name!r}: {kind} {spec.name!r} has dims {list(spec.dims)} in config.pbtxt "
                f"but {graph_dims} (without batch dim) in the ONNX graph"
            )


def load_model_entry(model_dir: Path) -> ModelEntry:
    """Read and validate one model folder; raises ModelRepositoryError naming the problem."""
    name = model_dir.name
    config = _parse_config(model_dir / CONFIG_FILENAME, name)
    filename = config.default_model_filename or MODEL_FILENAME
    versions = {
        int(p.name): p / filename for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()
    }
    if not versions:
        raise ModelRepositoryError(f"model {name!r}: no numeric version folder in {model_dir}")
    inputs = _config_specs(config.input, name)
    outputs = _config_specs(config.output, name)
    metadata: dict[str, Any] = {}
    for version in sorted(versions):
        path = versions[version]
        if not path.is_file():
            raise ModelRepositoryError(f"model {name!r} version {version}: {path} is missing")
        try:
            onnx.checker.check_model(str(path))
        except onnx.checker.ValidationError as err:
            raise ModelRepositoryError(
                f"model {name!r} version {version}: ONNX check failed: {err}"
            ) from err
        proto = onnx.load(str(path))
        graph_in, graph_out = _graph_io(proto, name)
        batched = config.max_batch_size > 0
        _check_against_graph(name, "input", inputs, graph_in, batched)
        _check_against_graph(name, "output", outputs, graph_out, batched)
        metadata = read_metadata(proto)
        validate_metadata(metadata, f"{name}/{version}")
    return ModelEntry(name, config, versions, inputs, outputs, metadata)


def load_repository(path: str | Path) -> Repository:
    """Load and validate every model folder under ``path`` (see :func:`load_model_entry`)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelRepositoryError(
            f"model repository {str(root)!r} is not a folder; pass the folder holding "
            "<model>/config.pbtxt and <model>/<version>/model.onnx"
        )
    models = {
        d.name: load_model_entry(d)
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith((".", "_"))
    }
    return Repository(root, models)
