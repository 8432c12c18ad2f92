"""How minigrad's objects show in Jupyter: HTML tables, and a plot when matplotlib is there.

Jupyter asks an object for ``_repr_html_`` (and IPython's text display for
``_repr_pretty_``); nothing here imports IPython or matplotlib unless it is
already part of the session, so scripts pay nothing and need nothing new.

* :class:`Summary` is what ``Sequential.summary()`` returns: the text table
  (a ``str``), shown as an HTML table in a notebook;
* :func:`table_html` is the HTML table that ``History`` shows too.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from html import escape
from typing import Any

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


def show_summary(
    lines: list[str], header: Sequence[str], rows: Sequence[Sequence[str]], print_fn: Any
) -> Summary:
    """A summary table as text, shown by ``print_fn`` (as HTML in a notebook with the default
    ``print``; not at all with None) and returned."""
    text = Summary("\n".join(lines), header, rows, lines[-1])
    if print_fn is print and in_ipython():
        text.show()
    elif print_fn is not None:
        print_fn(text)
    return text


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
