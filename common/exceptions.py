"""The one exceptions module of fourtops.

Every failure a user can cause has its own documented class. Messages name the bad
value, where it came from, and what is allowed or what to do next.
"""

from __future__ import annotations


class FourTopsError(Exception):
    """Base class of every error raised on purpose by fourtops."""


# --- configuration --------------------------------------------------------------------
class ConfigError(FourTopsError):
    """The analysis configuration is invalid (unknown key, wrong type, bad value)."""


# --- input data -----------------------------------------------------------------------
class InputFileError(FourTopsError):
    """An input ROOT file is missing, unreadable, corrupt, or lacks a required tree/branch."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"input file {self.path!r}: {reason}. Fix or remove it from the fileset, "
            "or run with --skip-bad-files to skip it and list it in the summary."
        )


class SchemaCompatibilityError(FourTopsError):
    """A readable input file whose NanoAOD schema fourtops cannot handle (a gap in our code).

    Not the file's fault: the message names the branch, the file and the flavour detected,
    so the gap can be fixed in the compatibility layer (or worked around in the config).
    """

    def __init__(self, path: str, flavour: str, branch: str, detail: str) -> None:
        self.path, self.flavour, self.branch = str(path), flavour, branch
        super().__init__(
            f"compatibility gap, not a broken file: fourtops cannot handle branch {branch!r} "
            f"of input file {self.path!r} (detected flavour: {flavour}): {detail}"
        )


class GeneratorError(FourTopsError):
    """The synthetic NanoAOD generator was asked for something it cannot make."""


class IncompleteRunError(FourTopsError):
    """Processing did not cover every requested chunk; outputs were not written as complete."""


# --- corrections ----------------------------------------------------------------------
class CorrectionError(FourTopsError):
    """A correction payload is missing, lacks a requested correction, or got invalid input."""


# --- inference ------------------------------------------------------------------------
class InferenceError(FourTopsError):
    """Base class of inference failures (model repository, engine, server, client)."""


class ModelRepositoryError(InferenceError):
    """A model repository entry is malformed (layout, config.pbtxt, ONNX check, metadata)."""


class ModelNotFoundError(InferenceError):
    """The requested model (or version) is not in the repository / not served."""


class ModelInputError(InferenceError):
    """Inputs do not match the model: missing or extra names, wrong dtype or shape."""


class ServerUnavailableError(InferenceError):
    """The inference server could not be reached after all retries."""


class ServerBusyError(ServerUnavailableError):
    """A model's request queue is full (server side; HTTP 503 / gRPC UNAVAILABLE).

    ``retry_after_s`` is the wait the server suggests before sending the request again.
    """

    def __init__(self, message: str, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class RequestTimeoutError(InferenceError):
    """A request waited in the server's queue longer than its timeout (HTTP 504 / gRPC
    DEADLINE_EXCEEDED); the server is overloaded for this rate, retry later or send less."""


# --- background estimate, fit, export ------------------------------------------------
class BackgroundEstimateError(FourTopsError):
    """The ABCDnn background estimate cannot be made (empty region, bad inputs)."""


class FitError(FourTopsError):
    """The statistical model or fit failed or was given inconsistent inputs."""


class ExportError(FourTopsError):
    """The publication outputs (HEPData submission, bundle) cannot be made from a run: a
    stage output they need is missing, or the submission does not validate."""
