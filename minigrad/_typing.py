"""Type aliases shared across minigrad."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[np.floating[Any]]
"""A floating-point numpy array: float64 by default, float32 when asked."""

DTypeLike: TypeAlias = npt.DTypeLike
