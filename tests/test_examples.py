"""Every script in examples/ runs, small and seeded, and prints what it promises.

Each example is run as a script in a fresh interpreter (cwd a tmp folder,
matplotlib on the Agg backend) with ``MINIGRAD_EXAMPLE_SCALE`` turning its
epochs down, and its output is checked for the numbers that make its point.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import notebooks
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))


def example_env(tmp_path: Path, scale: float) -> dict[str, str]:
    return dict(os.environ, MINIGRAD_EXAMPLE_SCALE=str(scale), MPLBACKEND="Agg",
                MINIGRAD_EXAMPLE_OUT=str(tmp_path / "out"), PYTHONHASHSEED="0")


def run_example(
    script: Path, tmp_path: Path, scale: float, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    env = example_env(tmp_path, scale)
    code = f"{prelude}\nimport runpy\nrunpy.run_path({str(script)!r}, run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def number(pattern: str, text: str) -> float:
    """The first number captured by ``pattern`` (percentages as fractions)."""
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in the output:\n{text}"
    value = found.group(1)
    return float(value.rstrip("%")) / 100 if value.endswith("%") else float(value)


def pictures(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "out").glob("*.png"))


def check_01(out: str, tmp_path: Path) -> None:
    assert "the two versions agree" in out
    assert number(r"largest difference: cost ([0-9.e+-]+)", out) < 1e-10
    assert number(r"training accuracy: by hand ([0-9.]+%)", out) > 0.8
    assert "dZ1 = dA1 * (1 - A1^2)" in out  # the equations, printed by explain()


def check_02(out: str, tmp_path: Path) -> None:
    assert number(r"no hidden layer\s+accuracy\s+([0-9.]+%)", out) < 0.6
    assert number(r" 4 hidden units\s+accuracy\s+([0-9.]+%)", out) > 0.8
    assert number(r"best: \d+ hidden units?, accuracy ([0-9.]+%)", out) > 0.85
    assert len(pictures(tmp_path)) == 8


def check_03(out: str, tmp_path: Path) -> None:
    assert re.search(r"^Mish: gradcheck passed", out, re.M)
    assert re.search(r"^BrokenMish: gradcheck FAILED", out, re.M)
    assert out.count("BrokenMish(): dZ wrong") == 1
    assert "layer 1 (BrokenMish()): dZ1 wrong at 32 of 32 entries" in out
    assert "as a consequence of the above, not a further error" in out
    assert number(r"training accuracy ([0-9.]+%)", out) > 0.7
    assert "dZ1 = dA1 * (tanh(softplus(Z1)) + Z1 * sigmoid(Z1)" in out
    assert [p.name for p in pictures(tmp_path)] == ["broken_mish.png", "mish.png"]


def check_04(out: str, tmp_path: Path) -> None:
    if "skipped" in out:  # scikit-learn is an optional extra
        pytest.skip("scikit-learn is not installed")
    accuracy = number(r"test accuracy ([0-9.]+%)", out)
    assert accuracy > 0.85
    right = re.search(r": (\d+) of (\d+) held-out images read right", out)
    assert right, out
    assert int(right.group(1)) / int(right.group(2)) == pytest.approx(accuracy, abs=6e-4)
    assert "stopped at epoch" not in out
    assert "confusion matrix" in out
    assert [p.name for p in pictures(tmp_path)] == ["digits_training.png"]


def check_05(out: str, tmp_path: Path) -> None:
    line = number(r"straight line ([0-9.]+)", out)
    net = number(r"net ([0-9.]+) \(noise", out)
    assert net < 0.05 < line
    assert len(pictures(tmp_path)) == 3


def check_06(out: str, tmp_path: Path) -> None:
    assert number(r"dropout \+ batch norm\s+training accuracy [0-9.]+%, test accuracy "
                  r"([0-9.]+%)", out) > 0.8
    assert "training mode, two forward passes equal: False" in out
    assert re.search(r"eval mode \(predict\), two passes equal:\s+True", out)
    assert re.search(r"still in training mode after predict:\s+True", out)
    assert len(pictures(tmp_path)) == 1


def check_07(out: str, tmp_path: Path) -> None:
    if "skipped" in out.splitlines()[0]:  # scikit-learn is an optional extra
        pytest.skip("scikit-learn is not installed")
    assert "digits: X (1, 8, 8, 1797)" in out  # images, examples on the last axis
    assert re.search(r"^gradcheck passed", out, re.M)
    assert number(r"test accuracy ([0-9.]+%): \d+ of \d+ test images misclassified", out) > 0.9
    assert [p.name for p in pictures(tmp_path)] == ["cnn_filters.png", "cnn_misclassified.png"]


def check_08(out: str, tmp_path: Path) -> None:
    if "skipped" in out:  # scikit-learn is an optional extra
        pytest.skip("scikit-learn is not installed")
    grad_skips = number(r"with skips\s+\|\|dW1\|\| at the start ([0-9.e+-]+)", out)
    grad_plain = number(r"without skips\s+\|\|dW1\|\| at the start ([0-9.e+-]+)", out)
    assert grad_skips > 2 * grad_plain
    skips = number(r"with skips\s+after \d+ epochs: .*test accuracy ([0-9.]+%)", out)
    plain = number(r"without skips\s+after \d+ epochs: .*test accuracy ([0-9.]+%)", out)
    assert skips > 0.85 and skips > plain
    assert [p.name for p in pictures(tmp_path)] == ["residual_training.png"]


def check_09(out: str, tmp_path: Path) -> None:
    if "skipped" in out:
        pytest.skip("scikit-learn is not installed")
    assert number(r"test accuracy on pairs of unseen images ([0-9.]+%)", out) > 0.8
    assert "changes the answer by at most 0.0e+00" in out
    assert "(shared) 2,080" in out  # the summary marks the encoder's second use
    assert "one encoder: 6 parameter arrays" in out


CHECKS: dict[str, tuple[float, Callable[[str, Path], None]]] = {
    "01_notes_net_by_hand.py": (0.05, check_01),
    "02_planar_hidden_sweep.py": (0.1, check_02),
    "03_new_activation.py": (0.1, check_03),
    "04_deep_digits.py": (0.1, check_04),
    "05_regression.py": (0.1, check_05),
    "06_dropout_batchnorm.py": (0.2, check_06),
    "07_cnn_digits.py": (0.2, check_07),
    "08_residual_digits.py": (0.1, check_08),
    "09_two_inputs.py": (0.1, check_09),
}


def test_every_example_is_checked() -> None:
    assert [s.name for s in SCRIPTS] == sorted(CHECKS)


@pytest.fixture(scope="module")
def kernel() -> Iterator[notebooks.Kernel | None]:
    """One Jupyter kernel for all the examples' notebooks (None without the tools)."""
    if not notebooks.available():
        yield None
        return
    shared = notebooks.Kernel({"MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"})
    yield shared
    shared.close()


def run_notebook(script: Path, tmp_path: Path, scale: float, kernel: notebooks.Kernel) -> str:
    """Execute the script's notebook in a Jupyter kernel; returns what its cells printed."""
    import nbformat

    notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    env = {key: value for key, value in example_env(tmp_path, scale).items()
           if key.startswith("MINIGRAD_")}
    kernel.run(notebook, tmp_path, env)
    for cell in notebook.cells:
        assert not notebooks.outputs(cell, "error"), f"{script.name}: {cell.source}"
        for stream in notebooks.outputs(cell, "stream"):
            assert stream.name == "stdout", f"{script.name} wrote to stderr: {stream.text}"
    return str(notebooks.stdout(notebook))


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_runs_and_makes_its_point(
    name: str, tmp_path: Path, kernel: notebooks.Kernel | None
) -> None:
    """Each example runs once: as its notebook where Jupyter's tools are installed (the
    notebook is the script's cells: tests/test_notebooks.py checks they are in step),
    else as the script."""
    pytest.importorskip("matplotlib")
    scale, check = CHECKS[name]
    if kernel is not None:
        out = run_notebook(EXAMPLES / name, tmp_path, scale, kernel)
    else:
        out = run_example(EXAMPLES / name, tmp_path, scale).stdout
    check(out, tmp_path)
    for png in pictures(tmp_path):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_digits_example_skips_cleanly_without_scikit_learn(tmp_path: Path) -> None:
    # a module set to None in sys.modules cannot be imported: as if not installed
    result = run_example(EXAMPLES / "04_deep_digits.py", tmp_path, 0.1,
                         prelude="import sys; sys.modules['sklearn'] = None")
    assert result.stdout.startswith("skipped: this example needs scikit-learn")
    assert 'pip install "minigrad[datasets]"' in result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_is_a_notebook_of_cells(script: Path) -> None:
    """Each `# %%` cell compiles on its own, and the size knob is read."""
    source = script.read_text(encoding="utf-8")
    assert source.startswith("# %% [markdown]\n# # ")
    cells = re.split(r"^# %%.*$", source, flags=re.M)[1:]
    assert len(cells) >= 4
    for number_, cell in enumerate(cells):
        compile(cell, f"{script.name} cell {number_}", "exec")
    assert 'os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1")' in source
