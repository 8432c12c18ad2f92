"""The examples are also notebooks, in step with their scripts; minigrad's objects show well
in Jupyter (summary() as a table, History as a table and a plot, gradcheck as a report).

The examples' notebooks are executed by tests/test_examples.py (once each, in one kernel).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import notebooks
import pytest

import minigrad as mg
from minigrad._notebook import HISTORY_ROWS, Summary, history_html

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import make_notebooks  # noqa: E402

needs_tools = pytest.mark.skipif(not notebooks.available(), reason=notebooks.MISSING_REASON)


# -- the examples' notebooks ------------------------------------------------------------


def test_every_example_has_a_notebook() -> None:
    scripts = sorted(p.stem for p in (ROOT / "examples").glob("[0-9][0-9]_*.py"))
    assert scripts == sorted(p.stem for p in (ROOT / "examples").glob("*.ipynb"))
    assert len(scripts) >= 6


@needs_tools
def test_the_notebooks_are_in_step_with_their_scripts() -> None:
    assert make_notebooks.stale() == [], "run python examples/make_notebooks.py"


@needs_tools
def test_a_changed_script_makes_its_notebook_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "01_x.py"
    script.write_text("# %% [markdown]\n# # Title\n\n# %%\nprint(1)\n", encoding="utf-8")
    monkeypatch.setattr(make_notebooks, "SCRIPTS", [script])
    assert make_notebooks.main([]) == 0
    assert make_notebooks.stale() == []
    script.write_text("# %% [markdown]\n# # Title\n\n# %%\nprint(2)\n", encoding="utf-8")
    assert make_notebooks.stale() == [script.with_suffix(".ipynb")]
    assert make_notebooks.main(["--check"]) == 1


# -- how objects show, without a kernel -------------------------------------------------------


def _net() -> mg.Sequential:
    return mg.Sequential([mg.Dense(2, 4, rng=0), mg.Tanh(), mg.Dense(4, 1, rng=1), mg.Sigmoid()])


def test_summary_is_the_printed_text_and_renders_as_a_table() -> None:
    printed: list[str] = []
    summary = _net().summary(2, print_fn=printed.append)
    assert isinstance(summary, Summary) and isinstance(summary, str)
    assert printed == [summary]
    html = summary._repr_html_()
    assert html.startswith("<table><thead><tr><th style=\"text-align:right\">#</th>")
    assert ('<td style="text-align:left">Dense(n_in=2, n_out=4)</td>'
            '<td style="text-align:left">(4, m)</td><td style="text-align:right">12</td>') in html
    assert html.endswith("<p>Total parameters: 17</p>")


def _history(epochs: int) -> mg.History:
    history = mg.History()
    for epoch in range(epochs):
        history.append({"loss": 1.0 / (epoch + 1), "accuracy": epoch / epochs, "time": 0.1})
    return history


def test_history_shows_its_first_and_last_epochs_and_its_curves() -> None:
    html = _history(30)._repr_html_()
    assert html.startswith("<p><b>History</b>: 30 epochs</p><table>")
    assert "<th" in html and ">time<" not in html  # seconds are not a curve
    first_cells = re.findall(r'<tr><td style="text-align:right">(\d+)</td>', html)
    epochs = [int(cell) for cell in first_cells]
    assert epochs == [1, 2, 3, 4, 5, 26, 27, 28, 29, 30]
    assert len(epochs) == HISTORY_ROWS
    assert ">...</td>" in html
    if importlib.util.find_spec("matplotlib") is not None:
        assert '<img alt="training curves" src="data:image/png;base64,' in html


def test_history_without_matplotlib_is_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    html = history_html(_history(3).logs, [1, 2, 3], "")
    assert "<img" not in html and ">...<" not in html
    assert html.count("<tr><td") == 3


def test_history_says_how_training_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the table is enough here
    history = _history(2)
    history.stop_reason = "restored the best weights (epoch 1)"
    assert history._repr_html_().startswith(
        "<p><b>History</b>: 2 epochs; restored the best weights (epoch 1)</p><table>")


# -- how objects show, in a real kernel -------------------------------------------------------

CELLS = [
    # 0: summary() as the cell's last expression: one table, shown once
    "import numpy as np, minigrad as mg\n"
    "net = mg.Sequential([mg.Dense(2, 4, rng=0), mg.Tanh(), mg.Dense(4, 1, rng=1), "
    "mg.Sigmoid()])\n"
    "net.summary(2)",
    # 1: summary() in the middle of a cell: shown where it is called
    "table = net.summary(2)\nprint('after the table')",
    # 2: the summary again, in a later cell
    "table",
    # 3: a History
    "X, Y = mg.datasets.xor()\n"
    "history = mg.fit(net, X, Y, loss='bce', optimizer=mg.optim.SGD(net.parameters(), lr=0.5), "
    "epochs=5, verbose=False)\n"
    "history",
    # 4: a gradcheck report
    "class Wrong(mg.Tanh):\n"
    "    def g_prime(self, Z, A):\n"
    "        return 1 - A\n"
    "mg.gradcheck(mg.Sequential([mg.Dense(2, 3, rng=0), Wrong()]), np.eye(2))",
]


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    if not notebooks.available():
        pytest.skip(notebooks.MISSING_REASON)
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebooks.execute(notebook, tmp_path_factory.mktemp("notebook"), {"MPLBACKEND": "Agg"})
    cells: list[Any] = notebook.cells
    return cells


def test_summary_shows_once_as_a_table_in_a_notebook(shown: list[Any]) -> None:
    for cell in shown[:3]:
        assert notebooks.outputs(cell, "execute_result") == []
        (display,) = notebooks.outputs(cell, "display_data")
        assert display.data["text/html"].startswith("<table>")
        assert "Total parameters: 17" in display.data["text/html"]
        assert display.data["text/plain"].splitlines()[0].startswith("#  Layer")
    (printed,) = notebooks.outputs(shown[1], "stream")
    assert printed.text == "after the table\n"  # the table itself is not printed as text


def test_history_shows_as_a_table_and_a_plot_in_a_notebook(shown: list[Any]) -> None:
    (result,) = notebooks.outputs(shown[3], "execute_result")
    assert result.data["text/html"].startswith("<p><b>History</b>: 5 epochs</p><table>")
    assert '<img alt="training curves"' in result.data["text/html"]
    assert result.data["text/plain"].startswith("History(epochs=5, loss=")


def test_a_gradcheck_report_shows_as_a_table_in_a_notebook(shown: list[Any]) -> None:
    (result,) = notebooks.outputs(shown[4], "execute_result")
    html = result.data["text/html"]
    assert html.startswith('<p><b style="color:#cf222e">gradcheck FAILED</b>')
    assert "<td>layer 1 (Wrong())</td><td>dZ1</td>" in html
    assert result.data["text/plain"].startswith("gradcheck FAILED: max relative error")
    assert "  layer 1 (Wrong()): dZ1 wrong at " in result.data["text/plain"]


def test_no_cell_failed(shown: list[Any]) -> None:
    for cell in shown:
        assert notebooks.outputs(cell, "error") == [], cell.source
