"""The exceptions minigrad raises.

Every error a user can trigger with bad input is a subclass of ``ValueError``
(``DTypeError`` is also a ``TypeError``), raised before any state changes.
"""

from __future__ import annotations


class InputError(ValueError):
    """An argument has the wrong shape, dtype or value."""


class ShapeError(InputError):
    """An array has the wrong rank or shape for the layer or loss it was given to."""


class DTypeError(InputError, TypeError):
    """An array holds values minigrad cannot compute with (objects, strings, bools, complex)."""


class StateError(RuntimeError):
    """A method was called out of order, such as ``backward`` before ``forward``."""


class ModelFileError(ValueError):
    """A model file cannot be saved or loaded: not a minigrad file, damaged, or inconsistent.

    The message gives the reason; nothing is half-loaded or half-written. A message
    is never longer than ``MAX_MESSAGE`` characters (a hostile file's contents are
    cut, not printed whole).
    """

    MAX_MESSAGE = 2000

    def __init__(self, message: str = "") -> None:
        if len(message) > self.MAX_MESSAGE:
            cut = len(message) - self.MAX_MESSAGE
            message = f"{message[: self.MAX_MESSAGE]} ... ({cut:,} more characters not shown)"
        super().__init__(message)


class DivergenceError(ValueError, FloatingPointError):
    """Training produced a NaN or infinite loss or gradient.

    Raised by :func:`minigrad.fit` before the bad step is applied, so the model
    keeps its last finite weights. ``epoch`` and ``batch`` count from 1, as printed;
    ``history`` holds the epochs completed before it (a :class:`minigrad.History`).
    """

    def __init__(
        self, message: str, *, epoch: int = 0, batch: int = 0, layer: str | None = None
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.layer = layer
        self.history: object = None


class ExportError(ValueError):
    """A model cannot be converted to or from ONNX or PyTorch.

    The message names the layer (or the PyTorch submodule) that has no
    conversion, and how to add one (:mod:`minigrad.export`).
    """
