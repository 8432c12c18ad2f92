"""The package's namespace: `mg.<TAB>` and dir(mg) offer the library, and nothing else."""

from __future__ import annotations

import subprocess
import sys

import minigrad as mg


def test_dir_offers_the_public_names_and_no_helpers() -> None:
    public = [name for name in dir(mg) if not name.startswith("_")]
    assert public == sorted(n for n in mg.__all__ if not n.startswith("_"))
    for helper in ("importlib", "ModuleType", "TYPE_CHECKING"):
        assert helper not in dir(mg)
        assert not hasattr(mg, helper)
    assert "__version__" in dir(mg) and "__name__" in dir(mg)


def test_every_public_name_resolves() -> None:
    for name in mg.__all__:
        assert getattr(mg, name) is not None, name


def test_lazy_modules_are_listed_before_they_load_and_still_load_on_first_use() -> None:
    code = ("import sys, minigrad as mg\n"
            "assert 'minigrad.plot' not in sys.modules\n"
            "assert {'data', 'datasets', 'plot'} <= set(dir(mg))\n"
            "print(mg.datasets.__name__, mg.plot.__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["minigrad.datasets", "minigrad.plot"]
