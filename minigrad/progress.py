"""Progress output for :func:`minigrad.fit`: one updating line in a terminal, plain lines in logs.

Each report gives the epoch, the loss and metrics, the elapsed time and the
training speed in examples per second:

    Epoch 3/10 - loss 0.2345 - accuracy 0.9500 - val_loss 0.3012 - 1.2s - 33,000 examples/s

In a terminal the line updates in place, drawn by tqdm when it is installed
(``pip install minigrad[progress]``) and by a plain fallback otherwise.
Elsewhere (a log file, a pipe, a notebook capture) each epoch is one line;
long runs print about 50 of them. ``fit(..., verbose=False)`` prints nothing.
"""

from __future__ import annotations

import importlib
import math
import sys
import time
from typing import Any, TextIO

from minigrad.callbacks import Callback, TrainState

MAX_LINES = 50
"""Plain mode prints every epoch up to this many, then about this many in all."""


def format_number(value: float) -> str:
    """Four decimals for ordinary values, scientific notation for tiny or huge ones.

    >>> format_number(0.123456), format_number(1.5e-7), format_number(float("nan"))
    ('0.1235', '1.500e-07', 'nan')
    """
    if not math.isfinite(value) or value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4f}"
    return f"{value:.3e}"


def format_seconds(seconds: float) -> str:
    """``1.23s``, ``2m05s`` or ``1h02m``.

    >>> format_seconds(1.234), format_seconds(125.0), format_seconds(3725.0)
    ('1.23s', '2m05s', '1h02m')
    """
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def epoch_line(state: TrainState, elapsed: float) -> str:
    """The report for the epoch just finished (``state.logs``)."""
    parts = [f"Epoch {state.epoch + 1}/{state.epochs}"]
    parts += [f"{name} {format_number(value)}" for name, value in state.logs.items()
              if name not in ("lr", "time")]
    parts.append(format_seconds(elapsed))
    if state.train_time > 0:
        parts.append(f"{state.n_examples / state.train_time:,.0f} examples/s")
    return " - ".join(parts)


def _tqdm() -> Any:
    """tqdm's class where installed, else None."""
    try:
        return importlib.import_module("tqdm").tqdm
    except ImportError:
        return None


class ProgressLogger(Callback):
    """The callback behind ``verbose=True``.

    Args:
        file: where to write; sys.stdout (looked up when training starts) by default.
        bar: True for one updating line, False for plain lines; by default
            an updating line exactly when ``file`` is a terminal.
        use_tqdm: draw the updating line with tqdm when it is installed (default).
        max_lines: in plain mode, print every epoch up to this many, then about
            this many in all (the first and the last among them).
    """

    def __init__(
        self,
        file: TextIO | None = None,
        *,
        bar: bool | None = None,
        use_tqdm: bool = True,
        max_lines: int = MAX_LINES,
    ) -> None:
        if isinstance(max_lines, bool) or not isinstance(max_lines, int) or max_lines < 1:
            raise ValueError(f"ProgressLogger: max_lines must be a positive int, got {max_lines!r}")
        self.file = file
        self.bar = bar
        self.use_tqdm = use_tqdm
        self.max_lines = max_lines
        self._out: TextIO = sys.stdout
        self._tqdm: Any = None
        self._start = 0.0
        self._last_draw = 0.0
        self._width = 0
        self._every = 1
        self._updating = False

    def on_train_begin(self, state: TrainState) -> None:
        self._out = self.file if self.file is not None else sys.stdout
        is_tty = bool(getattr(self._out, "isatty", lambda: False)())
        self._updating = is_tty if self.bar is None else self.bar
        self._every = max(1, math.ceil(state.epochs / self.max_lines))
        self._start = time.perf_counter()
        self._last_draw = -math.inf  # draw the first report at once
        self._width = 0
        tqdm = _tqdm() if self._updating and self.use_tqdm else None
        self._tqdm = None
        if tqdm is not None:
            self._tqdm = tqdm(
                total=state.epochs * state.n_batches, file=self._out, unit="batch",
                desc=f"Epoch 1/{state.epochs}", dynamic_ncols=True, mininterval=0.1, leave=True,
            )

    def on_batch_end(self, state: TrainState) -> None:
        if self._tqdm is not None:
            self._tqdm.update(1)
        elif self._updating and state.n_batches > 1:
            now = time.perf_counter()
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                done = state.batch + 1
                filled = 20 * done // state.n_batches
                self._draw(
                    f"Epoch {state.epoch + 1}/{state.epochs} [{'=' * filled:<20}] "
                    f"{done}/{state.n_batches} - loss {format_number(state.batch_loss)} - "
                    f"{format_seconds(now - self._start)}"
                )

    def on_epoch_end(self, state: TrainState) -> None:
        now = time.perf_counter()
        elapsed = now - self._start
        last = state.epoch + 1 == state.epochs or state.stop_requested
        if self._tqdm is not None:
            self._tqdm.set_description_str(f"Epoch {state.epoch + 1}/{state.epochs}", False)
            shown = {k: format_number(v) for k, v in state.logs.items() if k not in ("lr", "time")}
            if state.train_time > 0:
                shown["examples/s"] = f"{state.n_examples / state.train_time:,.0f}"
            self._tqdm.set_postfix(shown, refresh=last)
        elif self._updating:
            if last or now - self._last_draw >= 0.1:
                self._last_draw = now
                self._draw(epoch_line(state, elapsed))
        elif state.epoch == 0 or last or (state.epoch + 1) % self._every == 0:
            print(epoch_line(state, elapsed), file=self._out, flush=True)

    def on_train_end(self, state: TrainState) -> None:
        self.close()
        elapsed = time.perf_counter() - self._start
        n_epochs = len(state.history.epochs)
        summary = f"Trained {n_epochs} epoch{'s' if n_epochs != 1 else ''} in " + format_seconds(
            elapsed
        )
        if state.stop_requested:  # by a callback, before the last epoch asked for
            summary += f"; stopped early: {state.stop_reason}"
        elif state.stop_reason:  # all epochs ran; a note such as restoring the best weights
            summary += f"; {state.stop_reason}"
        print(summary, file=self._out, flush=True)

    def close(self) -> None:
        """End the updating line (fit calls this also when training fails)."""
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        elif self._updating and self._width:
            self._out.write("\n")
            self._out.flush()
            self._width = 0

    def _draw(self, line: str) -> None:
        padding = " " * max(0, self._width - len(line))
        self._out.write("\r" + line + padding)
        self._out.flush()
        self._width = len(line)
