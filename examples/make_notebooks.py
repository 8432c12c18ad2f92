"""Build the examples' notebooks (NN_name.ipynb) from their `# %%` scripts.

The scripts are the source: each `# %%` cell becomes a notebook cell, and
`# %% [markdown]` cells become text. The notebooks are written without
outputs, with fixed cell ids, so that building twice gives the same file.

    python examples/make_notebooks.py           write every notebook that differs
    python examples/make_notebooks.py --check   exit 1 and name the notebooks that differ

Needs jupytext and nbformat (``pip install -e ".[notebook]"``).
tests/test_notebooks.py runs the check and executes the notebooks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
SCRIPTS = sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))


def notebook_text(script: Path) -> str:
    """The .ipynb text built from ``script``."""
    import jupytext
    import nbformat

    notebook = jupytext.read(script)
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"
        cell.metadata = {}
    text: str = nbformat.writes(notebook)
    return text + "\n"


def stale() -> list[Path]:
    """The notebooks that are missing or differ from what their script builds."""
    return [
        script.with_suffix(".ipynb")
        for script in SCRIPTS
        if not script.with_suffix(".ipynb").exists()
        or script.with_suffix(".ipynb").read_text(encoding="utf-8") != notebook_text(script)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only say which notebooks are out of step (exit 1 if any)")
    args = parser.parse_args(argv)
    differ = stale()
    if args.check:
        for path in differ:
            print(f"{path.name} is out of step with {path.with_suffix('.py').name}: "
                  f"run python examples/make_notebooks.py")
        return 1 if differ else 0
    for path in differ:
        path.write_text(notebook_text(path.with_suffix(".py")), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
