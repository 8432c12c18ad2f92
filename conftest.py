"""pytest at the repository root: what not to import when collecting doctests.

``--doctest-modules`` imports every module of the package. The two that subclass an optional
package's classes (PyTorch's ``nn.Module``, scikit-learn's ``BaseEstimator``) cannot be
imported without it, so they are left out when it is missing; their tests skip on their own.
"""

from __future__ import annotations

import importlib.util


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


collect_ignore: list[str] = []
if _missing("torch"):
    collect_ignore.append("minigrad/export/_torch_modules.py")
if _missing("sklearn"):
    collect_ignore.append("minigrad/sklearn.py")
