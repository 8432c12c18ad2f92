"""Running a notebook in a fresh Jupyter kernel, for the tests (nbclient, nbformat, ipykernel).

``available()`` says whether the optional notebook tools are installed
(``pip install -e ".[notebook]"``; the ``test`` extra has them too).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

TOOLS = ("jupytext", "nbclient", "nbformat", "ipykernel")
MISSING_REASON = ('the notebook tools (jupytext, nbclient, nbformat, ipykernel) are not '
                  'installed: pip install -e ".[notebook]"')


def available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in TOOLS)


class Kernel:
    """One Python kernel that runs several notebooks in turn, each from a clean namespace.

    Starting a kernel takes seconds; the examples share one. Before each
    notebook, a first cell clears the namespace (``%reset -f``), moves to the
    notebook's folder and sets its environment variables.
    """

    def __init__(self, env: dict[str, str]) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env={**os.environ, **env})

    def run(self, notebook: Any, cwd: Path, env: dict[str, str], timeout: int = 120) -> Any:
        """Run every cell of ``notebook`` (an nbformat node); returns it, with its outputs."""
        import nbformat
        from nbclient import NotebookClient

        setup = (f"%reset -f\nimport os\nos.chdir({str(cwd)!r})\n"
                 f"os.environ.update({env!r})")
        notebook.cells.insert(0, nbformat.v4.new_code_cell(setup))
        client = NotebookClient(notebook, km=self.manager, timeout=timeout)
        try:
            client.execute()
        finally:
            del notebook.cells[0]
            if client.kc is not None:  # the client's channels are ours to close, not the kernel
                client.kc.stop_channels()
        return notebook

    def close(self) -> None:
        self.manager.shutdown_kernel(now=True)


def execute(notebook: Any, cwd: Path, env: dict[str, str], timeout: int = 120) -> Any:
    """Run ``notebook`` in a kernel of its own."""
    kernel = Kernel({})
    try:
        return kernel.run(notebook, cwd, env, timeout)
    finally:
        kernel.close()


def stdout(notebook: Any) -> str:
    """What the notebook's cells printed, in order."""
    return "".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stdout"
    )


def outputs(cell: Any, kind: str) -> list[Any]:
    """A cell's outputs of one type ("display_data", "execute_result", "stream", "error")."""
    return [output for output in cell.get("outputs", []) if output.output_type == kind]
