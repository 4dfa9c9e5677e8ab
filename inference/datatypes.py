"""KServe v2 / Triton tensor datatypes and the tensor description shared by all engines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from common.exceptions import ModelRepositoryError

# KServe v2 datatype -> (numpy dtype, ONNX elem type). Strings (BYTES) are not served.
DATATYPES: dict[str, tuple[np.dtype, int]] = {
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
ONNX_TO_DATATYPE = {elem: name for name, (_, elem) in DATATYPES.items()}
_NUMPY_TO_DATATYPE = {np_dtype: name for name, (np_dtype, _) in DATATYPES.items()}


def numpy_dtype(datatype: str) -> np.dtype:
    """Numpy dtype of a KServe v2 datatype name such as ``"FP32"``."""
    try:
        return DATATYPES[datatype][0]
    except KeyError:
        raise ModelRepositoryError(
            f"datatype {datatype!r} is not supported; choose one of {sorted(DATATYPES)}"
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
    """One model input or output as clients see it: name, datatype, dims without the batch
    dim (-1 = any). ``reshape`` (Triton's ``reshape``) is the shape the model itself takes
    or gives, without the batch dim; None when it equals ``dims``."""

    name: str
    datatype: str
    dims: tuple[int, ...]
    reshape: tuple[int, ...] | None = None

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of this tensor."""
        return numpy_dtype(self.datatype)

    @property
    def model_dims(self) -> tuple[int, ...]:
        """The dims the model graph has (``reshape`` if set, else ``dims``)."""
        return self.dims if self.reshape is None else self.reshape

    def as_kserve(self, batched: bool) -> dict[str, Any]:
        """KServe v2 tensor metadata (batch dim as -1 when the model is batched)."""
        shape = ([-1] if batched else []) + list(self.dims)
        return {"name": self.name, "datatype": self.datatype, "shape": shape}
