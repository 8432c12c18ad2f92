"""Keep the printed output shown in the docs equal to what the code prints.

In a page, a ```text block that follows the marker line ``<!-- output -->`` is
the output of the ```python block before it. This script runs each page's
python blocks in order (one namespace per page, in a temporary folder, as
tests/test_docs.py does) and compares:

    python docs/sync_outputs.py           rewrite every marked block that differs
    python docs/sync_outputs.py --check   exit 1 and name the blocks that differ

``tests/test_docs_generated.py`` runs the check, so an output shown in the
docs cannot drift from the code.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- output -->"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.S | re.M)


IMPORT = re.compile(r"^\s*(?:import|from)\s+(\w+)", re.M)
OPTIONAL = ("onnx", "onnxruntime", "sklearn", "torch")


def _missing_packages(source: str) -> list[str]:
    """The optional packages ``source`` imports that are not installed (no torch in CI)."""
    import importlib.util

    return [name for name in IMPORT.findall(source)
            if name in OPTIONAL and importlib.util.find_spec(name) is None]


def pages() -> list[Path]:
    return sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def _clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


# a gradient check's error is rounding noise: its digits follow the CPU's BLAS kernels
ROUNDING = re.compile(r"(max relative error) (\d\.\de[-+]\d+)")


def _same(shown: str, printed: str) -> bool:
    """The shown output is the printed one, up to the digits of a gradient check's error
    (equal when each such figure is within a factor of 10 of the printed one)."""
    shown, printed = _clean(shown), _clean(printed)
    if shown == printed:
        return True
    a, b = ROUNDING.findall(shown), ROUNDING.findall(printed)
    if ROUNDING.sub(r"\1 _", shown) != ROUNDING.sub(r"\1 _", printed):
        return False  # the figures are then as many in each
    return all(0.1 <= float(x) / float(y) <= 10
               for (_, x), (_, y) in zip(a, b, strict=True) if float(y) > 0)


def outputs(page: Path) -> list[tuple[int, int, str, str]]:
    """``(start, end, shown, printed)`` of every marked block: the span of its content."""
    text = page.read_text(encoding="utf-8")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    printed = ""
    found = []
    previous_end = 0
    last_marker = text.rfind(MARKER)
    with tempfile.TemporaryDirectory() as folder, _cwd(Path(folder)):
        for number, block in enumerate(FENCE.finditer(text), start=1):
            language, body = block.group(1), block.group(2)
            if language == "python" and block.start() > last_marker:
                break  # no output shown below: tests/test_docs.py runs the rest
            between = text[previous_end:block.start()].strip()
            previous_end = block.end()
            if language == "python" and _missing_packages(body):
                break  # as tests/test_docs.py skips: the rest of the page needs it
            if language == "python":
                buffer = io.StringIO()
                with contextlib.redirect_stdout(buffer):
                    exec(compile(body, f"{page.name} block {number}", "exec"), namespace)
                printed = buffer.getvalue()
            elif language == "text" and between.endswith(MARKER):
                found.append((block.start(2), block.end(2), body, printed))
    return found


@contextlib.contextmanager
def _cwd(folder: Path):  # type: ignore[no-untyped-def]
    old, backend = Path.cwd(), os.environ.get("MPLBACKEND")
    os.chdir(folder)
    os.environ["MPLBACKEND"] = "Agg"
    try:
        yield
    finally:
        os.chdir(old)
        if backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = backend


def stale(page: Path) -> list[str]:
    """A description of each marked block of ``page`` whose text differs from the output."""
    problems = []
    text = page.read_text(encoding="utf-8")
    for start, _, shown, printed in outputs(page):
        if not _same(shown, printed):
            line = text.count("\n", 0, start) + 1
            problems.append(f"{page.relative_to(ROOT)}:{line}: the output shown is not what the "
                            f"code prints:\n--- shown\n{_clean(shown)}\n--- printed\n"
                            f"{_clean(printed)}")
    return problems


def update(page: Path) -> bool:
    """Rewrite the marked blocks of ``page`` with the real output; True if it changed."""
    text = page.read_text(encoding="utf-8")
    new = text
    for start, end, shown, printed in reversed(outputs(page)):
        if not _same(shown, printed):
            new = new[:start] + _clean(printed) + "\n" + new[end:]
    if new != text:
        page.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report blocks that differ")
    args = parser.parse_args(argv)
    if args.check:
        problems = [problem for page in pages() for problem in stale(page)]
        for problem in problems:
            print(problem, end="\n\n")
        if problems:
            print("run: python docs/sync_outputs.py")
        return 1 if problems else 0
    for page in pages():
        if update(page):
            print(f"updated {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
