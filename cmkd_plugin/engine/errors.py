"""Domain exceptions. Every message says what went wrong *and what to change*."""


class CmkdError(Exception):
    """Base class of every error the engine reports to the user."""

    kind = "error"


class InputError(CmkdError):
    """A user-supplied input (raster, vector, parameter, path) cannot be used as given."""

    kind = "input"


class EngineSetupError(CmkdError):
    """The engine Python lacks a package or cannot run."""

    kind = "setup"


class ModelFileError(CmkdError):
    """A model file is missing, truncated, of the wrong kind or unsafe."""

    kind = "model"


class CancelledError(CmkdError):
    """The run was cancelled by the user; outputs were not written."""

    kind = "cancelled"

    def __init__(self, message: str = "Cancelled by the user; no output was written.") -> None:
        super().__init__(message)
