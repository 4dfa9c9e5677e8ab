"""Model repository in NVIDIA Triton's layout: ``<repo>/<model>/[config.pbtxt]`` and
``<repo>/<model>/<version>/model.onnx`` (or ``model.pt`` for ``pytorch_libtorch``).

:func:`write_model` writes an ONNX model and generates its ``config.pbtxt`` from the graph;
:func:`load_repository` reads a folder as Triton does (see :mod:`inference.model_config`:
optional config, auto-complete, reshape, output subsets, version policy) and validates
every model (ONNX checker, config against graph). Provenance metadata is recommended, not
required: a model without a complete card is served with ``documented: false``.
The config is parsed with Triton's own ``ModelConfig`` protobuf shipped in tritonclient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from common.exceptions import ModelNotFoundError, ModelRepositoryError
from inference import model_config as cfg
from inference.datatypes import TensorSpec, datatype_of, numpy_dtype
from inference.metadata import metadata_problems, read_metadata, validate_metadata

__all__ = [
    "CONFIG_FILENAME",
    "MODEL_FILENAME",
    "PLATFORM",
    "ModelEntry",
    "Repository",
    "TensorSpec",
    "datatype_of",
    "load_model_entry",
    "load_repository",
    "numpy_dtype",
    "write_model",
]

PLATFORM = cfg.ONNX_PLATFORM
MODEL_FILENAME = "model.onnx"
CONFIG_FILENAME = cfg.CONFIG_FILENAME


@dataclass
class ModelEntry:
    """A validated model of the repository (all its served versions share one config)."""

    name: str
    config: mc.ModelConfig
    versions: dict[int, Path]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    metadata: dict[str, Any] = field(default_factory=dict)
    #: What the model card lacks (empty: fully documented).
    missing_metadata: list[str] = field(default_factory=list)

    @property
    def platform(self) -> str:
        """``onnxruntime_onnx`` or ``pytorch_libtorch``."""
        return self.config.platform or PLATFORM

    @property
    def documented(self) -> bool:
        """Whether the model carries the complete provenance card of inference.metadata."""
        return not self.missing_metadata

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
        """KServe v2 model metadata (shapes include the batch dim as -1 for batched models),
        plus ``documented`` (whether the model card is complete)."""
        batched = self.max_batch_size > 0
        return {
            "name": self.name,
            "versions": [str(v) for v in sorted(self.versions)],
            "platform": self.platform,
            "inputs": [s.as_kserve(batched) for s in self.inputs],
            "outputs": [s.as_kserve(batched) for s in self.outputs],
            "documented": self.documented,
        }

    @property
    def latest_version(self) -> int:
        """The highest served version number."""
        return max(self.versions)

    def path(self, version: int | str | None = None) -> Path:
        """Path of the model file for ``version`` (latest when None or empty)."""
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
    0). Models we ship must carry the complete card (see
    :func:`inference.metadata.set_metadata`), so this refuses one without it.
    Returns the model folder ``<repo_dir>/<name>``.
    """
    validate_metadata(read_metadata(model), name)
    onnx.checker.check_model(model)
    config = mc.ModelConfig(name=name, platform=PLATFORM, max_batch_size=max_batch_size)
    for tname, (_, dims) in {**cfg.onnx_io(model)[0], **cfg.onnx_io(model)[1]}.items():
        if max_batch_size > 0 and not dims:
            raise ModelRepositoryError(
                f"model {name!r}: tensor {tname!r} is a scalar but max_batch_size > 0 "
                "needs a leading batch dim"
            )
    cfg.autocomplete_onnx(config, True, model, name)
    if dynamic_batching and max_batch_size > 0:
        config.dynamic_batching.max_queue_delay_microseconds = max_queue_delay_microseconds
    model_dir = Path(repo_dir) / name
    (model_dir / str(version)).mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(model_dir / str(version) / MODEL_FILENAME))
    (model_dir / CONFIG_FILENAME).write_text(text_format.MessageToString(config))
    return model_dir


def _check_onnx(path: Path, name: str, version: int) -> onnx.ModelProto:
    if not path.is_file():
        raise ModelRepositoryError(f"model {name!r} version {version}: {path} is missing")
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as err:
        raise ModelRepositoryError(
            f"model {name!r} version {version}: ONNX check failed: {err}"
        ) from err
    return onnx.load(str(path))


def load_model_entry(
    model_dir: Path, default_max_batch_size: int = cfg.DEFAULT_MAX_BATCH_SIZE
) -> ModelEntry:
    """Read and validate one model folder; raises ModelRepositoryError naming the problem."""
    name = model_dir.name
    config, has_mbs = cfg.parse_config(model_dir)
    folders = {int(p.name): p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()}
    if not folders:
        raise ModelRepositoryError(f"model {name!r}: no numeric version folder in {model_dir}")
    platform = cfg.resolve_platform(config, model_dir, list(folders.values()))
    filename = config.default_model_filename or cfg.PLATFORMS[platform][1]
    chosen = cfg.select_versions(config, list(folders), name)
    versions = {v: folders[v] / filename for v in chosen}
    metadata: dict[str, Any] = {}
    missing = ["metadata_props (TorchScript models carry no card)"]
    if platform == cfg.TORCH_PLATFORM:
        if not (config.input and config.output):
            raise ModelRepositoryError(
                f"model {name!r}: a pytorch_libtorch model needs a config.pbtxt listing its "
                "inputs and outputs (TorchScript files do not record types)"
            )
        config.platform = platform
        for version, path in versions.items():
            if not path.is_file():
                raise ModelRepositoryError(f"model {name!r} version {version}: {path} is missing")
    else:
        protos = {v: _check_onnx(p, name, v) for v, p in versions.items()}
        cfg.autocomplete_onnx(config, has_mbs, protos[max(protos)], name, default_max_batch_size)
        batched = config.max_batch_size > 0
        for proto in protos.values():
            graph_in, graph_out = cfg.onnx_io(proto)
            inputs, outputs = (cfg.config_specs(t, name) for t in (config.input, config.output))
            cfg.check_against_graph(name, "input", inputs, graph_in, batched)
            cfg.check_against_graph(name, "output", outputs, graph_out, batched)
            metadata = read_metadata(proto)
            missing = metadata_problems(metadata)
    return ModelEntry(
        name,
        config,
        versions,
        cfg.config_specs(config.input, name),
        cfg.config_specs(config.output, name),
        metadata,
        missing,
    )


def load_repository(
    path: str | Path, default_max_batch_size: int = cfg.DEFAULT_MAX_BATCH_SIZE
) -> Repository:
    """Load and validate every model folder under ``path`` (see :func:`load_model_entry`)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelRepositoryError(
            f"model repository {str(root)!r} is not a folder; pass the folder holding "
            "<model>/<version>/model.onnx (and optionally <model>/config.pbtxt)"
        )
    models = {
        d.name: load_model_entry(d, default_max_batch_size)
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith((".", "_"))
    }
    return Repository(root, models)
