"""The project's own exception types: one line, naming the file and the problem."""

from __future__ import annotations

from os import PathLike


class DcptError(Exception):
    """Base error whose message is fit to show a user as-is (one line, no traceback).

    Parameters
    ----------
    message
        What went wrong, in one sentence.
    path
        The file or folder concerned, if any; it is put in front of the message.
    """

    def __init__(self, message: str, path: str | PathLike[str] | None = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = " ".join(str(message).split())  # force a single line
        super().__init__(f"{self.path}: {self.reason}" if self.path else self.reason)


class ReadError(DcptError):
    """A file or folder could not be read as a medical image."""


class WriteError(DcptError):
    """An output could not be written (exists, not writable, disk full...)."""


class GeometryError(DcptError):
    """Spacing, orientation or slice positions are inconsistent or invalid."""


class WeightsError(DcptError):
    """A weights file is missing, unsafe, tampered with or does not match its config."""


class OutOfScopeError(DcptError):
    """A readable input that no model here restores (a radiograph, a nuclear-medicine
    image): a batch skips it rather than counting it as a failure."""


class ConfigError(DcptError):
    """A configuration value is unknown or out of range."""
