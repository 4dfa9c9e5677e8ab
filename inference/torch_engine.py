"""TorchScript (``platform: pytorch_libtorch``) models run with torch, as Triton's libtorch
backend runs them.

Naming follows that backend: config inputs called ``<name>__<index>`` (``INPUT__0``) are
passed to ``forward`` by index; otherwise their names must be ``forward``'s argument names.
Outputs called ``<name>__<index>`` take that element of the returned tuple; otherwise the
config's output order is the tuple's order. TorchScript files carry no types, so the
config's datatypes and dims are checked on every request and every result.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from common.exceptions import InferenceError, ModelRepositoryError
from inference.datatypes import TensorSpec
from inference.engine import DeviceFallbackWarning, validate_feed

_INDEXED = re.compile(r"^.+__(\d+)$")


def _indices(names: Sequence[str]) -> list[int] | None:
    """Indices of ``<name>__<index>`` names, or None unless every name has that form."""
    found = [_INDEXED.match(n) for n in names]
    if not names or not all(found):
        return None
    return [int(m.group(1)) for m in found if m]


def _with_batch(specs: Sequence[TensorSpec], batched: bool) -> list[TensorSpec]:
    """Model-side specs with the batch dim (-1) in front when batched."""
    lead = (-1,) if batched else ()
    return [TensorSpec(s.name, s.datatype, lead + s.model_dims) for s in specs]


class TorchEngine:
    """A TorchScript model with the Engine interface (``validate``, ``run_feed``, ``run``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        batched: bool = True,
        device: str = "cpu",
        strict_device: bool = False,
    ) -> None:
        self.path, self.name, self.batched = Path(path), name, batched
        if device == "cuda" and not torch.cuda.is_available():
            msg = f"model {name!r}: asked for CUDA but torch sees no GPU; running on CPU"
            if strict_device:
                raise InferenceError(msg)
            warnings.warn(msg, DeviceFallbackWarning, stacklevel=2)
            device = "cpu"
        self.device = torch.device(device)
        self.provider = f"torch-{self.device.type}"
        self.providers = [self.provider]
        try:
            self.module = torch.jit.load(str(self.path), map_location=self.device).eval()
        except (RuntimeError, ValueError) as err:
            raise ModelRepositoryError(
                f"model {name!r}: {self.path} is not a TorchScript file torch can load: {err}"
            ) from err
        self.input_specs = _with_batch(inputs, batched)
        self.output_specs = _with_batch(outputs, batched)
        self.input_names = [s.name for s in self.input_specs]
        self.output_names = [s.name for s in self.output_specs]
        self._arg_order = self._input_order()
        self._out_index = _indices(self.output_names) or list(range(len(self.output_names)))

    def _input_order(self) -> list[str]:
        """Config input names in the order ``forward`` takes them."""
        indices = _indices(self.input_names)
        if indices is not None:
            if sorted(indices) != list(range(len(indices))):
                raise ModelRepositoryError(
                    f"model {self.name!r}: input indices {sorted(indices)} must be 0..n-1"
                )
            return [n for _, n in sorted(zip(indices, self.input_names, strict=True))]
        args = [a.name for a in self.module.forward.schema.arguments[1:]]  # [0] is self
        if sorted(args) != sorted(self.input_names):
            raise ModelRepositoryError(
                f"model {self.name!r}: config inputs {self.input_names} are neither "
                f"<name>__<index> names nor forward's arguments {args}"
            )
        return args

    def validate(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check names, dtype and dims against the config; return the feed."""
        return validate_feed(self.name, self.input_specs, inputs, self.batched)

    def run_feed(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a validated feed; return the configured outputs as numpy arrays."""
        # Request buffers are read-only views; torch wants memory it may write to.
        arrays = [feed[n] if feed[n].flags.writeable else feed[n].copy() for n in self._arg_order]
        args = [torch.from_numpy(a).to(self.device) for a in arrays]
        try:
            with torch.inference_mode():
                result = self.module(*args)
        except RuntimeError as err:
            raise InferenceError(f"model {self.name!r}: TorchScript run failed: {err}") from err
        results = list(result) if isinstance(result, tuple | list) else [result]
        out = {}
        for spec, index in zip(self.output_specs, self._out_index, strict=True):
            if index >= len(results) or not isinstance(results[index], torch.Tensor):
                raise InferenceError(
                    f"model {self.name!r}: output {spec.name!r} wants element {index} of the "
                    f"result, which holds {len(results)} values"
                )
            array = results[index].detach().cpu().numpy()
            if array.dtype != spec.dtype:
                raise InferenceError(
                    f"model {self.name!r}: output {spec.name!r} is {array.dtype}, the config "
                    f"says {spec.datatype}; fix the config's data_type"
                )
            out[spec.name] = array
        return out

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Validate ``inputs`` and run; return the requested outputs (all if None)."""
        results = self.run_feed(self.validate(inputs))
        return {n: results[n] for n in (outputs or self.output_names)}
