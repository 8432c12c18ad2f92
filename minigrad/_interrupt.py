"""Ctrl-C during training, held until the step under way has finished.

A KeyboardInterrupt raised in the middle of a step would leave it torn:
BatchNorm's statistics a batch ahead of the weights, some layers updated by
the optimizer and others not, a moment buffer half written. While
:func:`minigrad.fit` trains, the first Ctrl-C only sets a flag, which fit
reads after each step; it then stops at that step boundary and returns. A
second Ctrl-C raises KeyboardInterrupt at once, as usual. Signal handlers
belong to the main thread, so elsewhere nothing changes.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class DeferredInterrupt:
    """A context manager whose ``requested`` turns True at the first SIGINT inside it."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is signal.default_int_handler:  # leave a custom handler alone
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
                self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
