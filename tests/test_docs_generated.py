"""The generated parts of the docs are current: docs/api.md and the printed outputs shown.

When one of these fails after a change to a docstring, an error message or
explain(), regenerate and commit:

    python docs/gen_api.py        # docs/api.md from the docstrings
    python docs/sync_outputs.py   # the <!-- output --> blocks of README.md and docs/*.md
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def this_checkout() -> dict[str, str]:
    """The environment for a script run in a fresh interpreter, importing this checkout's
    minigrad (an installed one, from another checkout, may differ)."""
    path = [str(DOCS.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def test_api_reference_is_current() -> None:
    gen_api = load("gen_api")
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == gen_api.render(), "docs/api.md is out of date: run python docs/gen_api.py"


def test_api_reference_covers_every_export() -> None:
    assert load("gen_api").undocumented() == []


def test_api_reference_has_no_python_blocks() -> None:
    # docstring examples are shown, not run, by tests/test_docs.py (doctests run them)
    assert "```python" not in (DOCS / "api.md").read_text(encoding="utf-8")


def test_outputs_shown_in_the_docs_are_what_the_code_prints() -> None:
    # a fresh interpreter: the pages register layer classes, which this one may hold already
    result = subprocess.run([sys.executable, str(DOCS / "sync_outputs.py"), "--check"],
                            capture_output=True, text=True, timeout=300, env=this_checkout())
    assert result.returncode == 0, result.stdout + result.stderr


def test_output_check_notices_a_wrong_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = load("sync_outputs")
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(1 + 1)\n```\n\n<!-- output -->\n```text\n3\n```\n",
                    encoding="utf-8")
    monkeypatch.setattr(sync, "ROOT", tmp_path)
    assert "the output shown is not what the code prints" in sync.stale(page)[0]
    assert sync.update(page)
    assert "```text\n2\n```" in page.read_text(encoding="utf-8")
    assert sync.stale(page) == []


def test_output_check_allows_only_a_gradient_check_s_rounding_digits() -> None:
    same = load("sync_outputs")._same
    line = "gradcheck passed: max relative error {} (tolerance 1e-07) over 449 entries"
    assert same(line.format("6.4e-10"), line.format("6.1e-10"))  # another CPU's BLAS
    assert not same(line.format("6.4e-10"), line.format("3.0e-06"))  # a real change
    assert not same(line.format("6.4e-10"), line.format("6.4e-10").replace("449", "448"))


# -- the README's promises ---------------------------------------------------------------

ROOT = DOCS.parent
DEMO_COMMAND = ("python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[plot]' "
                "&& minigrad demo")
TEST_COMMAND = ("python3 -m venv .venv-test && . .venv-test/bin/activate "
                "&& pip install -e '.[test]' && python -m pytest")


def test_readme_gives_the_two_setup_commands_that_ci_runs() -> None:
    import tomllib

    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert DEMO_COMMAND in readme and TEST_COMMAND in readme
    assert "about two minutes" in "\n".join(readme)  # what the tests take
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m venv" in ci
    assert "pip install --quiet -e '.[test]'" in ci and "\npython -m pytest\n" in ci
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert {"plot", "test"} <= set(project["optional-dependencies"])
    assert project["scripts"]["minigrad"] == "minigrad.cli:main"


PAGES_OF_OTHERS = {"performance.md"}
"""Pages that other work adds; a link to one is fine before it exists."""


def test_links_and_pictures_in_the_docs_exist() -> None:
    import re

    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#")[0]
            if not path or "://" in path or Path(path).name in PAGES_OF_OTHERS:
                continue
            assert (page.parent / path).exists(), f"{page.name} links to missing {target}"


def test_make_images_draws_every_picture(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = subprocess.run(
        [sys.executable, str(DOCS / "make_images.py"), "--out", str(tmp_path), "--epochs", "50"],
        capture_output=True, text=True, timeout=120, env={**this_checkout(), "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    drawn = sorted(p.name for p in tmp_path.glob("*.png"))
    assert drawn == sorted(p.name for p in (DOCS / "images").glob("*.png"))
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
