"""How minigrad's objects show in Jupyter: HTML tables, and a plot when matplotlib is there.

Jupyter asks an object for ``_repr_html_`` (and IPython's text display for
``_repr_pretty_``); nothing here imports IPython or matplotlib unless it is
already part of the session, so scripts pay nothing and need nothing new.

* :class:`Summary` is what ``Sequential.summary()`` returns: the text table
  (a ``str``), shown as an HTML table in a notebook;
* :func:`history_html` renders a ``History``: the first and last epochs as a
  table, and the training curves as a picture when matplotlib is installed.
"""

from __future__ import annotations

import base64
import importlib
import io
import math
import sys
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

HISTORY_ROWS = 10
"""A History shows this many epochs in its table: the first few and the last."""


def in_ipython() -> bool:
    """Whether this runs under IPython (a notebook's kernel or the IPython shell)."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None


def table_html(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """An HTML table; the columns in ``right`` (numbers) are right-aligned."""

    def cell(tag: str, column: int, text: str) -> str:
        style = ' style="text-align:right"' if column in right else ' style="text-align:left"'
        return f"<{tag}{style}>{escape(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Summary(str):
    """``Sequential.summary()``'s table: a ``str`` that a notebook shows as an HTML table.

    In a notebook ``summary()`` shows the table itself (so that it appears
    wherever the call sits in the cell); shown again as the cell's result, it
    would appear twice, so it is not, in that same cell.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    footer: str
    shown_in: int | None

    def __new__(
        cls,
        text: str,
        header: Sequence[str] = (),
        rows: Sequence[Sequence[str]] = (),
        footer: str = "",
    ) -> Summary:  # the defaults let copy and pickle rebuild it from the text alone
        summary = super().__new__(cls, text)
        summary.header = tuple(header)
        summary.rows = tuple(tuple(row) for row in rows)
        summary.footer = footer
        summary.shown_in = None
        return summary

    def _repr_html_(self) -> str:
        table = table_html(self.header, self.rows, right={0, 3})
        return f"{table}<p>{escape(self.footer)}</p>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def show(self) -> None:
        """Show the table now (in a notebook, as HTML) and remember the cell it went to."""
        display: Any = importlib.import_module("IPython.display").display
        display({"text/plain": str(self), "text/html": self._repr_html_()}, raw=True)
        self.shown_in = _execution_count()

    def _ipython_display_(self) -> None:
        if self.shown_in is not None and self.shown_in == _execution_count():
            return  # summary() showed it a moment ago, in this very cell
        self.show()


def _execution_count() -> int | None:
    shell = importlib.import_module("IPython").get_ipython()
    count = getattr(shell, "execution_count", None)
    return count if isinstance(count, int) else None


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
