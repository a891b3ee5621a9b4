"""The errors a user can cause, in one place: the CLI and the dashboard catch exactly these.

Each is raised with a message that names the problem and the fix. The CLI prints it as one
line and exits 2; the app shows it as one ``st.error`` and stays up. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "BuildError",
    "BundleError",
    "ChecksumError",
    "ConfigError",
    "DataError",
    "ModelLoadError",
    "TrainError",
    "USER_ERRORS",
    "UnsafePathError",
    "VectorError",
]


class DataError(ValueError):
    """The input data cannot be used as given; the message says why and how to fix it."""


class ChecksumError(DataError):
    """A copied or downloaded file does not have the checksum it must have."""


class ConfigError(ValueError):
    """A build configuration is invalid; the message names the field and the fix."""


class BuildError(ValueError):
    """A bundle cannot be built as asked; the message names the problem and the fix."""


class TrainError(ValueError):
    """A training run cannot start as configured; the message says what to change."""


class BundleError(ValueError):
    """A bundle is missing, incomplete or corrupted; the message names the file and the fix."""


class VectorError(ValueError):
    """A task vector cannot be built, read or applied; the message says how to fix it."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says why and what to do."""


class UnsafePathError(ValueError):
    """A user-supplied name would escape the folder it must stay in."""


#: What the CLI and the app catch and show as one message. ``FileNotFoundError`` and
#: ``PermissionError`` come from paths a user gave (a config, a data file, a bundle).
USER_ERRORS: tuple[type[BaseException], ...] = (
    DataError,
    ConfigError,
    BuildError,
    TrainError,
    BundleError,
    VectorError,
    ModelLoadError,
    UnsafePathError,
    FileNotFoundError,
    PermissionError,
)
