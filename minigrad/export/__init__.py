"""Leaving minigrad well: ONNX for deployment, PyTorch for GPUs, both batch-first.

* :func:`to_onnx` writes a standard ONNX model that ONNX Runtime (or any ONNX consumer)
  runs; ``pip install 'minigrad[onnx]'``.
* :func:`to_torch` gives a ``torch.nn.Module`` with the same weights, to train on in
  PyTorch (a GPU, ``DistributedDataParallel``); :func:`from_torch` comes back from an
  ``nn.Sequential``; ``pip install 'minigrad[torch]'``.

Importing this package needs neither onnx nor torch; each function imports its package
when called, and says which extra to install when it is missing. A layer of your own
converts through :func:`register_onnx`, :func:`register_torch` and
:func:`register_from_torch`. See docs/interop.md.
"""

from minigrad.export._images import register_image_layers
from minigrad.export.onnx import (
    DEFAULT_OPSET,
    ONNX_CONVERTERS,
    OnnxBuilder,
    register_onnx,
    to_onnx,
)
from minigrad.export.torch import (
    TORCH_CONVERTERS,
    from_torch,
    register_from_torch,
    register_torch,
    to_torch,
)

# Conv2D, the pooling layers and Flatten, where this minigrad has them
register_image_layers(ONNX_CONVERTERS, TORCH_CONVERTERS)

__all__ = [
    "DEFAULT_OPSET", "OnnxBuilder", "from_torch", "register_from_torch", "register_onnx",
    "register_torch", "to_onnx", "to_torch",
]
