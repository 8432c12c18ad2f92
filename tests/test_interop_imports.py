"""import minigrad, and even minigrad.export, loads none of the optional packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_importing_loads_no_optional_package() -> None:
    code = (
        "import sys, minigrad as mg; mg.export; "
        "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'sklearn') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_the_lazy_modules_are_listed() -> None:
    import minigrad as mg

    assert {"export", "sklearn", "from_torch", "ExportError"} <= set(mg.__all__)
    assert mg.export.to_onnx.__module__ == "minigrad.export.onnx"
