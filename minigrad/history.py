"""History: what :func:`minigrad.fit` records, one value per epoch for each name."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from html import escape

from attrs import define, field

from minigrad._notebook import table_html
from minigrad.errors import InputError


@define(eq=False, repr=False)
class History(Mapping[str, list[float]]):
    """Per-epoch values by name: ``history["loss"][i]`` is epoch i's (from 0) loss.

    Names: ``"loss"``, each metric (``"accuracy"``), their ``"val_"`` forms
    with validation data, ``"lr"`` (the learning rate the epoch used) and
    ``"time"`` (the epoch's seconds). ``epochs`` numbers them from 1.
    """

    logs: dict[str, list[float]] = field(factory=dict)
    epochs: list[int] = field(factory=list)
    stop_reason: str = ""

    def __getitem__(self, name: str) -> list[float]:
        try:
            return self.logs[name]
        except KeyError:
            raise KeyError(f"History has no {name!r}; it holds {', '.join(self.logs)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.logs)

    def __len__(self) -> int:
        return len(self.logs)

    def append(self, epoch_logs: Mapping[str, float], epoch: int | None = None) -> None:
        """Record one epoch (numbered from 1; by default the one after the last)."""
        self.epochs.append(epoch if epoch is not None else len(self.epochs) + 1)
        for name, value in epoch_logs.items():
            self.logs.setdefault(name, []).append(value)

    def recorder(self, names: Sequence[str]) -> Callable[[Sequence[float], int], None]:
        """``record(values, epoch)``: appends one epoch's values of ``names``, in that order.

        The names' lists are found (or made) once, at the first record, and no
        dict is built per epoch: what :func:`minigrad.fit` uses, since a tiny
        net's full-batch epoch feels either (about 1 us of a 35 us epoch,
        ``benchmarks/bench.py``, planar). Until then the History is unchanged.
        """
        n = len(names)
        appends: list[Callable[[float], None]] = []  # each column's bound append

        def record(values: Sequence[float], epoch: int) -> None:
            if len(values) != n:
                raise InputError(f"History: {n} names ({', '.join(names)}) but "
                                 f"{len(values)} values")
            if not appends:
                appends.extend(self.logs.setdefault(name, []).append for name in names)
            self.epochs.append(epoch)
            # lengths checked above; a keyword would send zip() down its slow constructor
            for append, value in zip(appends, values):  # noqa: B905
                append(value)

        return record

    @property
    def lr(self) -> list[float]:
        return self.logs.get("lr", [])

    @property
    def epoch_times(self) -> list[float]:
        return self.logs.get("time", [])

    @property
    def stopped_early(self) -> bool:
        return bool(self.stop_reason)

    def best(self, name: str, mode: str = "auto") -> tuple[int, float]:
        """(epoch counting from 1, value) of the best ``name``: highest for accuracies."""
        values = self[name]
        if not values:
            raise InputError(f"History: no epochs recorded for {name!r}")
        maximize = mode == "max" or (mode == "auto" and "acc" in name)
        pick = max if maximize else min
        i = pick(range(len(values)), key=lambda k: values[k])
        return i + 1, values[i]

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.logs.items() if k != "time" and v)
        return f"History(epochs={len(self.epochs)}{', ' + last if last else ''})"

    def _repr_html_(self) -> str:
        """Jupyter's display: the first and last epochs as a table, and the curves."""
        return history_html(self.logs, self.epochs, self.stop_reason)


HISTORY_ROWS = 10
"""A History shown in a notebook lists its first and last epochs, this many in all."""


def history_html(history: Mapping[str, Sequence[float]], epochs: Sequence[int],
                 stop_reason: str) -> str:
    """A History as a small table (first and last epochs), with its curves when it can draw."""
    names = [name for name in history if name != "time"]
    n = len(epochs)
    if n <= HISTORY_ROWS:
        shown = list(range(n))
    else:
        shown = [*range(HISTORY_ROWS // 2), -1, *range(n - HISTORY_ROWS // 2, n)]
    rows = []
    for i in shown:
        if i < 0:
            rows.append(["...", *("" for _ in names)])
        else:
            rows.append([str(epochs[i]), *(_number(history[name][i]) for name in names)])
    parts = [f"<p><b>History</b>: {n} epoch{'s' if n != 1 else ''}"
             + (f"; {escape(stop_reason)}" if stop_reason else "") + "</p>"]
    if n:
        parts.append(table_html(["epoch", *names], rows, right=set(range(len(names) + 1))))
        picture = _curves_png(history)
        if picture:
            parts.append(f'<img alt="training curves" src="data:image/png;base64,{picture}"/>')
    return "".join(parts)


def _number(value: float) -> str:
    if not math.isfinite(value) or value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4f}"
    return f"{value:.3e}"


def _curves_png(history: Mapping[str, Sequence[float]]) -> str:
    """The training curves as base64 PNG, or "" without matplotlib (or nothing to draw)."""
    from minigrad import plot
    from minigrad.errors import InputError

    try:
        figure = plot.training_curves(history, dpi=72)
    except ImportError:  # matplotlib is an optional extra: the table is enough
        return ""
    except InputError:  # only times and learning rates: no curve to draw
        return ""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
