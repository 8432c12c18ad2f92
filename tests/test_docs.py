"""Every ```python block in docs/ and the README runs, in order, one namespace per page.

A block that imports an optional package that is not installed (PyTorch is not in the test
extra) is skipped, with the blocks after it, and the skip says which package.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
IMPORT = re.compile(r"^\s*(?:import|from)\s+(\w+)", re.M)
OPTIONAL = ("onnx", "onnxruntime", "sklearn", "torch")


def missing_packages(source: str) -> list[str]:
    """The optional packages ``source`` imports that are not installed."""
    return sorted({name for name in IMPORT.findall(source)
                   if name in OPTIONAL and importlib.util.find_spec(name) is None})


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)], ids=lambda p: p.name)
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numpy")
    monkeypatch.chdir(tmp_path)  # pages may write files (plots, saved models)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, source in enumerate(_blocks(page), start=1):
        missing = missing_packages(source)
        if missing:
            pytest.skip(f"{page.name} block {number} and those after it need "
                        f"{', '.join(missing)}, which is not installed")
        code = compile(source, f"{page.name} block {number}", "exec")
        exec(code, namespace)
