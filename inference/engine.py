"""ONNX Runtime session wrapper: provider choice, input validation, feeding the real inputs.

ONNX Runtime falls back to the CPU provider with only a log message when CUDA cannot be
loaded, so :attr:`Engine.provider` reports what ``session.get_providers()`` really gave and
``strict_device`` turns a fallback into an error instead of a warning. On CUDA the session
runs through I/O binding (inputs copied once from host arrays, outputs bound to host
memory), which saves ONNX Runtime's per-run staging copies; ``io_binding=True`` forces that
path on CPU too, so it is tested without a GPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from common.exceptions import InferenceError, ModelInputError
from inference.datatypes import TensorSpec

_ORT_TYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int16)": "INT16",
    "tensor(int8)": "INT8",
    "tensor(uint8)": "UINT8",
    "tensor(bool)": "BOOL",
}
_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class DeviceFallbackWarning(UserWarning):
    """ONNX Runtime did not give the requested execution provider and runs on CPU."""


def _spec(arg: ort.NodeArg) -> TensorSpec:
    """TensorSpec of a session input/output (dims include the batch dim)."""
    datatype = _ORT_TYPES.get(arg.type)
    if datatype is None:
        raise InferenceError(f"ONNX tensor {arg.name!r} has unsupported type {arg.type}")
    dims = tuple(d if isinstance(d, int) and d > 0 else -1 for d in arg.shape)
    return TensorSpec(arg.name, datatype, dims)


class Engine:
    """One ONNX model loaded in an ONNX Runtime session.

    ``device`` is "cpu" or "cuda"; when CUDA is asked but the session only got the CPU
    provider, a DeviceFallbackWarning is issued, or InferenceError raised if
    ``strict_device``. ``input_specs`` / ``output_specs`` include the batch dim as -1.
    ``allow_spinning`` lets idle ONNX Runtime threads busy-wait (lower latency on a
    dedicated machine, wasted CPU on a shared one). ``outputs`` limits the served outputs
    (a config listing a subset; default: every numeric tensor output). ``batched`` False
    (``max_batch_size: 0``) lets inputs differ in their first dim. ``io_binding`` None
    uses I/O binding on CUDA only.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        device: str = "cpu",
        strict_device: bool = False,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        allow_spinning: bool = False,
        outputs: Sequence[str] | None = None,
        batched: bool = True,
        io_binding: bool | None = None,
    ) -> None:
        if device not in _PROVIDERS:
            raise InferenceError(f"device {device!r} is not known; choose 'cpu' or 'cuda'")
        self.path = Path(path)
        self.name = name or self.path.parent.parent.name
        self.device = device
        options = ort.SessionOptions()
        # 0 lets ONNX Runtime choose; workers sharing a node should set small numbers.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.log_severity_level = 3
        # Idle ORT threads spin by default; where workers and servers share cores that
        # spinning takes CPU from the thread doing the work (measured in the benchmark).
        spin = "1" if allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        providers = ["CPUExecutionProvider"]
        # Asking for a provider this build lacks only makes ORT warn; we report it below.
        if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as err:  # ORT raises its own untyped errors
            raise InferenceError(
                f"model {self.name!r}: ONNX Runtime cannot load it: {err}"
            ) from err
        self.providers: list[str] = list(self.session.get_providers())
        self.provider: str = self.providers[0]
        if self.provider != _PROVIDERS[device]:
            msg = (
                f"model {self.name!r}: asked for {_PROVIDERS[device]} but ONNX Runtime gave "
                f"{self.providers} (is onnxruntime-gpu installed and a GPU visible?)"
            )
            if strict_device:
                raise InferenceError(msg)
            warnings.warn(msg, DeviceFallbackWarning, stacklevel=2)
        self.batched = batched
        self.io_binding = self.provider == _PROVIDERS["cuda"] if io_binding is None else io_binding
        self.input_specs = [_spec(a) for a in self.session.get_inputs()]
        graph_outputs = {a.name: a for a in self.session.get_outputs()}
        if outputs is None:
            # Non-tensor outputs (ZipMap's sequence of maps) are not served unless asked.
            outputs = [n for n, a in graph_outputs.items() if a.type in _ORT_TYPES]
        unknown = [n for n in outputs if n not in graph_outputs]
        if unknown:
            raise InferenceError(
                f"model {self.name!r}: outputs {unknown} are not in the graph {list(graph_outputs)}"
            )
        self.output_specs = [_spec(graph_outputs[n]) for n in outputs]
        self.input_names = [s.name for s in self.input_specs]
        self.output_names = [s.name for s in self.output_specs]

    def validate(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check names, dtype, rank and dims; return the feed in session order (see
        :func:`validate_feed`)."""
        return validate_feed(self.name, self.input_specs, inputs, self.batched)

    def run_feed(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run an already validated feed (see :meth:`validate`); return all served outputs."""
        if self.io_binding:
            return self._run_bound(feed)
        try:
            results = self.session.run(self.output_names, dict(feed))
        except Exception as err:  # ORT raises its own untyped errors at run time
            raise InferenceError(f"model {self.name!r}: ONNX Runtime run failed: {err}") from err
        return dict(zip(self.output_names, results, strict=True))

    def _run_bound(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        binding = self.session.io_binding()
        try:
            for name, array in feed.items():
                binding.bind_cpu_input(name, np.ascontiguousarray(array))
            for name in self.output_names:
                binding.bind_output(name, "cpu")
            self.session.run_with_iobinding(binding)
            results = binding.copy_outputs_to_cpu()
        except Exception as err:  # ORT raises its own untyped errors at run time
            raise InferenceError(f"model {self.name!r}: ONNX Runtime run failed: {err}") from err
        return dict(zip(self.output_names, results, strict=True))

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Validate ``inputs`` and run the session; return the requested outputs (all if None)."""
        names = list(outputs) if outputs else self.output_names
        unknown = [n for n in names if n not in self.output_names]
        if unknown:
            raise ModelInputError(
                f"model {self.name!r}: unknown outputs {unknown}; it has {self.output_names}"
            )
        results = self.run_feed(self.validate(inputs))
        return {n: results[n] for n in names}


def validate_feed(
    model: str, specs: Sequence[TensorSpec], inputs: Mapping[str, np.ndarray], batched: bool
) -> dict[str, np.ndarray]:
    """Check names, dtype, rank and dims of ``inputs`` against ``specs`` (dims with the batch
    dim, -1 = any); return the feed in spec order.

    Only the inputs the specs list are fed (exporters may drop unused inputs). Batched
    models' inputs must share the batch (first) dim, which is not checked against the spec.
    """
    names = [s.name for s in specs]
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ModelInputError(f"model {model!r}: missing inputs {missing}; it takes {names}")
    feed: dict[str, np.ndarray] = {}
    batch = None
    for spec in specs:
        array = inputs[spec.name]
        if not isinstance(array, np.ndarray):
            raise ModelInputError(
                f"model {model!r}, input {spec.name!r}: expected a numpy array, "
                f"got {type(array).__name__}"
            )
        if array.dtype != spec.dtype:
            raise ModelInputError(
                f"model {model!r}, input {spec.name!r}: expected dtype {spec.dtype} "
                f"({spec.datatype}), got {array.dtype}"
            )
        skip = 1 if batched else 0
        if array.ndim != len(spec.dims) or any(
            d != -1 and d != s for d, s in zip(spec.dims[skip:], array.shape[skip:], strict=True)
        ):
            raise ModelInputError(
                f"model {model!r}, input {spec.name!r}: expected shape {list(spec.dims)} "
                f"(-1 = any), got {list(array.shape)}"
            )
        if batched and batch is not None and array.shape[0] != batch:
            raise ModelInputError(
                f"model {model!r}, input {spec.name!r}: batch size {array.shape[0]} "
                f"differs from the other inputs' {batch}"
            )
        batch = array.shape[0] if array.ndim else None
        feed[spec.name] = np.ascontiguousarray(array)
    return feed
