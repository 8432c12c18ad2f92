"""minigrad: a small, clear neural-network framework on numpy.

Every layer has ``forward`` and ``backward``; a Sequential chains them, so
backpropagation is the chain rule marched back through the list. Examples
are columns: X has shape (n_x, m), Z = W A_prev + b, A = g(Z).
"""

# underscore names: `mg.<TAB>` and dir(mg) offer only the library
import importlib as _importlib
from types import ModuleType as _ModuleType
from typing import TYPE_CHECKING as _TYPE_CHECKING

from minigrad import callbacks, functional, init, losses, metrics, optim
from minigrad._rng import seed
from minigrad.activations import (
    ELU,
    GELU,
    SELU,
    Activation,
    HardTanh,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
)
from minigrad.batchnorm import BatchNorm
from minigrad.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TrainState,
)
from minigrad.dense import Dense
from minigrad.dropout import Dropout
from minigrad.errors import (
    DivergenceError,
    DTypeError,
    InputError,
    ModelFileError,
    ShapeError,
    StateError,
)
from minigrad.gradcheck import GradCheckEntry, GradCheckResult, gradcheck
from minigrad.graph import Graph
from minigrad.io import load, load_checkpoint, save
from minigrad.layer import Input, Layer, Node, Parameter
from minigrad.merge import Add, Concat, Merge, Multiply
from minigrad.registry import register
from minigrad.residual import Residual
from minigrad.sequential import Sequential
from minigrad.train import History, evaluate, fit

Swish = SiLU

from minigrad._version import __version__  # noqa: E402

__all__ = [
    "ELU", "GELU", "SELU", "Activation", "DTypeError", "Dense", "GradCheckEntry",
    "GradCheckResult", "HardTanh", "Identity", "InputError", "Layer", "LeakyReLU", "ModelFileError",
    "Parameter",
    "ReLU", "Sequential", "ShapeError", "SiLU", "Sigmoid", "Softmax", "Softplus", "Softsign",
    "StateError", "Swish", "Tanh", "__version__", "functional", "gradcheck", "init", "load",
    "load_checkpoint", "losses", "register", "save", "seed",
]
__all__ += [  # the layer graph
    "Add", "Concat", "Graph", "Input", "Merge", "Multiply", "Node", "Residual",
]
__all__ += [  # training (issue 3)
    "BatchNorm", "Callback", "DivergenceError", "Dropout", "EarlyStopping", "History",
    "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "TrainState", "callbacks",
    "evaluate", "fit", "metrics", "optim",
]

# The learner's tools load on first use (mg.datasets, mg.data, mg.plot), so that
# `import minigrad` stays quick; mg.plot needs matplotlib only when it draws.
_LAZY_MODULES: tuple[str, ...] = ("data", "datasets", "plot")

if _TYPE_CHECKING:
    from minigrad import data as data
    from minigrad import datasets as datasets
    from minigrad import plot as plot


def __getattr__(name: str) -> _ModuleType:
    if name in _LAZY_MODULES:
        module = _importlib.import_module(f"minigrad.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}")


__all__ += list(_LAZY_MODULES)

# -- interop (issue 11) ---------------------------------------------------------------------
# mg.export (ONNX, PyTorch) and mg.sklearn load on first use like the modules above; neither
# needs its optional package to be imported, only to be used.
from minigrad.errors import ExportError  # noqa: E402

_LAZY_MODULES += ("export", "sklearn")

if _TYPE_CHECKING:
    from minigrad import export as export
    from minigrad import sklearn as sklearn


def from_torch(module: object) -> Layer:
    """A minigrad model from a PyTorch ``nn.Sequential``: see :func:`minigrad.export.from_torch`."""
    from minigrad.export.torch import from_torch as convert

    return convert(module)


__all__ += ["ExportError", "export", "from_torch", "sklearn"]


def __dir__() -> list[str]:
    """The public names (the lazy modules among them, loaded or not) and the dunders."""
    return sorted({*__all__, *(n for n in globals() if n.startswith("__") and n.endswith("__"))})


# -- convolutional nets (issue 10) ----------------------------------------------
from minigrad.conv import Conv2D  # noqa: E402
from minigrad.flatten import Flatten  # noqa: E402
from minigrad.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D  # noqa: E402

__all__ += ["AvgPool2D", "Conv2D", "Flatten", "GlobalAvgPool2D", "MaxPool2D"]
