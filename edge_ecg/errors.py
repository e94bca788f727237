"""One error hierarchy for the whole SDK.

Every problem a user can cause (a bad file, a bad setting, a model that does not fit the device)
raises a subclass of :class:`EdgeECGError` whose message names the offending value and what was
expected. Code catches ``EdgeECGError`` to handle all of them; nothing here wraps programming
errors (those stay ``TypeError`` and friends).
"""

from __future__ import annotations


class EdgeECGError(Exception):
    """Root of every error edge-ecg raises on bad input."""


class ConfigError(EdgeECGError, ValueError):
    """An argument, option or config file has an illegal or unknown value."""


class RecordError(EdgeECGError):
    """A recording (WFDB, CinC .mat, OpenSignals text) is missing, malformed or truncated."""


class LabelError(EdgeECGError):
    """A dataset holds a label code that the label map does not know."""


class SignalError(EdgeECGError, ValueError):
    """Samples are unusable: NaN/inf, wrong shape, wrong sampling rate."""


class ModelError(EdgeECGError):
    """A model file is missing, truncated, corrupted or not what its manifest says."""


class ChecksumError(ModelError):
    """The SHA-256 of a model file does not match the one in its manifest (tampering or corruption)."""


class ManifestError(ModelError):
    """A manifest is missing, malformed, or inconsistent with the model's tensors."""


class DeviceMismatchError(EdgeECGError):
    """The device's stream (rate, leads) cannot feed the model the manifest describes."""


class ProtocolError(EdgeECGError):
    """A frame or text line could not be encoded (decoding never raises: it counts)."""


class DeviceError(EdgeECGError):
    """A serial port cannot be opened or used."""


class PortNotFoundError(DeviceError):
    """The serial port path or URL does not exist."""


class PortBusyError(DeviceError):
    """The serial port exists but is held by another process."""


class CheckpointError(EdgeECGError):
    """A training checkpoint is missing, unsafe (pickle) or does not match its config."""


class MissingDependencyError(EdgeECGError, ImportError):
    """An optional extra (train, export, tflite, plot) is needed but not installed."""


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError(
            f"{module!r} is needed for this step but is not installed; "
            f"install it with: pip install 'edge-ecg[{extra}]'"
        ) from exc
