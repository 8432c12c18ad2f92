"""The few PyTorch modules that torch.nn lacks: merges, the residual block, a graph.

Imported only by :mod:`minigrad.export.torch` once PyTorch is known to be installed. They
live in a module of their own (not inside a function) so that ``torch.save`` can pickle
them. Tensors are batch-first here, so minigrad's axis ``k`` is dimension ``k + 1``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Add(nn.Module):
    """``A = X_1 + X_2 + ...`` (minigrad's ``Add``)."""

    def forward(self, *xs: Any) -> Any:
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total


class Multiply(nn.Module):
    """``A = X_1 * X_2 * ...``, elementwise (minigrad's ``Multiply``)."""

    def forward(self, *xs: Any) -> Any:
        product = xs[0]
        for x in xs[1:]:
            product = product * x
        return product


class Concat(nn.Module):
    """Join the inputs along ``dim`` (minigrad's ``Concat`` along axis ``dim - 1``)."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: Any) -> Any:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GlobalAvgPool2d(nn.Module):
    """The mean of each channel over the image: ``(m, c, h, w) -> (m, c)`` (GlobalAvgPool2D)."""

    def forward(self, x: Any) -> Any:
        return x.mean(dim=(2, 3))


class Residual(nn.Module):
    """``A = X + block(X)`` (minigrad's ``Residual``)."""

    def __init__(self, block: Any) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Any) -> Any:
        return x + self.block(x)


class GraphModule(nn.Module):
    """A minigrad Graph as a PyTorch module: the same nodes, run in the same order.

    ``layers[i]`` is the module of the i-th distinct layer (a shared layer is one module,
    so its weights stay shared); ``program`` lists, for each node that applies a layer,
    ``(layer index, input value indices)``; the graph's inputs are values ``0..n_in-1`` and
    each step appends one value. ``forward(*inputs)`` returns one tensor, or a tuple when
    the graph has several outputs.
    """

    def __init__(
        self,
        layers: list[Any],
        program: list[tuple[int, tuple[int, ...]]],
        input_names: list[str],
        output_values: list[int],
        output_names: list[str],
        node_names: list[str],
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.program = program
        self.input_names = input_names
        self.output_values = output_values
        self.output_names = output_names
        self.node_names = node_names

    def forward(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_names):
            raise TypeError(
                f"GraphModule: expected {len(self.input_names)} inputs "
                f"({', '.join(self.input_names)}), got {len(inputs)}"
            )
        values = list(inputs)
        for layer_index, args in self.program:
            values.append(self.layers[layer_index](*(values[i] for i in args)))
        outputs = tuple(values[i] for i in self.output_values)
        return outputs[0] if len(outputs) == 1 else outputs
