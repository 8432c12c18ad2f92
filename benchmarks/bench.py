"""Training speed and memory: minigrad next to hand-written numpy, PyTorch and the GEMM bound.

    python benchmarks/bench.py               # everything, at the default threads and at 1
    python benchmarks/bench.py --quick       # the same, short rounds (smoke test)
    python benchmarks/bench.py --config planar mnist-b128-f32 --threads default
    python benchmarks/bench.py --config scaling --plot   # the scaling section only
    python benchmarks/bench.py --plot        # also draw docs/performance.png and
                                             # docs/performance-scaling.png (matplotlib)

Every implementation trains the same net from the same initial weights on the
same batches, in one process. They take turns: round r runs each of them for
the same number of steps (the order rotates every round), so a noisy machine
slows them all alike. Reported per step: the median, min and max over the
rounds; the median over rounds of the ratio to hand-written numpy in the same
round, and the middle half (IQR) of those per-round ratios. After timing, the
final weights of each implementation are compared with numpy's. A target whose
table ran while the machine was busy (numpy's median more than BUSY = 1.25 times
its minimum) says so beside its verdict. A table that ran busy, or whose target
ratios spread wider than SPREAD = 0.10 (the IQR), or that ran slowed (a fixed
512 x 512 product timed before and after it took more than SLOW = 1.3 times the
fastest such probe of the run at that thread setting: a table slowed from start
to finish looks quiet by the other two tests), is run again, up to --repeats
times (2): the last attempt is reported, and the earlier ones are named beside
it with their ratios. Which attempt is kept depends only on the machine's noise,
never on whether a target holds.

Threads: every configuration runs twice, at "default" (numpy's BLAS as a user
gets it, PyTorch given the same number of threads) and at 1 (threadpoolctl
limits every BLAS/OpenMP pool; torch.set_num_threads(1)). The header names the
pools and their threads.

Implementations:
  numpy      the net by hand, in the notes' style: Z = W A + b, A = g(Z), the cost
             every step, dZ = A - Y, dW = (1/m) dZ A^T, W = W - lr dW.
  minigrad   the documented manual loop: model.forward, loss.forward,
             model.backward(loss.backward(), input_grad=False), opt.step().
  mg logits  (planar only) the same without the Sigmoid layer, with
             BinaryCrossEntropy(from_logits=True).
  mg plain   the natural manual loop, model.backward(loss.backward()), which
             also computes the data's gradient W1^T dZ1 that training never uses.
  mg Graph   (784-256-128-10 at batch 32 and 128, float32) the minigrad loop on
             the same chain built as an mg.Graph (target: within 1.05 of Sequential).
  mg.fit     mg.fit(..., shuffle=False) called once per round on that round's
             batches, so its one-off input checks count in full.
  torch      PyTorch CPU, nn.Sequential + torch.optim.SGD, idiomatic fused losses
             (BCEWithLogitsLoss, cross_entropy), the same number of threads.
  GEMM       only the matrix products of one step: W A forward, dZ A^T and W^T dZ
             backward (not W^T dZ for the first layer, which no one needs).

Nets: the notes' planar 2-4-1; 784-256-128-10 at batch 32, 128, 1024 in float32
and float64; ten Dense(64) layers; a residual MLP as an mg.Graph (784-256, three
blocks H + ReLU(W H + b), 10 classes). Scaling: one training step as width
(64..2048), depth (2..32 Dense layers) and batch (1..4096) grow, numpy, minigrad,
PyTorch and GEMM. LeNet-5 (benchmarks/lenet.py, when the conv layers are there):
minigrad / PyTorch at batch 64 and 256.

Memory (--no-memory skips it): tracemalloc (which sees numpy's allocations)
follows epochs over all 60,000 examples (batch 128, no shuffling) of numpy,
minigrad and mg.fit, from the moment each builds its weights: traced memory
after every epoch (no growth after the first) and the peak (within 1.5x of
numpy's). The data set itself exists before and is not counted. A float32
model is then searched for any array that is not float32 (weights, gradients,
caches, the loss's dA, the optimizer's buffers).
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the same nets with minigrad, hand-written numpy, PyTorch and "
        "the GEMM-only bound, interleaved in one process; print medians and ratios."
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps (~1 min)")
    parser.add_argument("--config", nargs="+", metavar="NAME",
                        choices=[*CONFIG_NAMES, "scaling", "lenet"],
                        help=f"run only these: {', '.join(CONFIG_NAMES)}, scaling, lenet")
    parser.add_argument("--threads", nargs="+", default=["default", "1"], metavar="N",
                        help="thread settings to run, each in turn: 'default' (numpy's BLAS "
                        "and PyTorch as a user gets them) and/or a number (default: both "
                        "'default' and '1')")
    parser.add_argument("--rounds", type=int, help="rounds per configuration")
    parser.add_argument("--repeats", type=int, default=2, metavar="N",
                        help="run a table again, up to N times, while it is busy, slowed or "
                        "its target ratios spread wide (default 2; 0: never)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory checks")
    parser.add_argument("--plot", nargs="?", const="docs/performance.png", metavar="PATH",
                        help="draw the ratios with matplotlib (default docs/performance.png)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when a target does not hold")
    parser.add_argument("--no-scaling", action="store_true",
                        help="skip the scaling section (width, depth, batch)")
    parser.add_argument("--scaling-threads", default="1", metavar="N",
                        help="the thread setting of the scaling section (default 1: on a shared "
                        "machine the curves at the default threads are mostly its load)")
    parser.add_argument("--no-lenet", action="store_true",
                        help="skip the LeNet section (benchmarks/lenet.py, when present)")
    args = parser.parse_args(argv)
    for t in args.threads:
        if t != "default" and (not t.isdigit() or int(t) < 1):
            parser.error(f"--threads takes 'default' or a positive number, got {t!r}")
    return args


CONFIG_NAMES = [
    "planar",
    "mnist-b32-f32", "mnist-b32-f64", "mnist-b128-f32", "mnist-b128-f64",
    "mnist-b1024-f32", "mnist-b1024-f64",
    "deep", "resmlp-b32-f32", "resmlp-b128-f32",
]

import datetime
import gc
import json
import math
import platform
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minigrad as mg
import minigrad.layer
import minigrad.optim
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, MeanSquaredError

try:
    import threadpoolctl
except ImportError:  # optional: the `bench` extra installs it
    threadpoolctl = None

Runner = Callable[[int], None]
T = TypeVar("T")

# -- configurations ------------------------------------------------------------------


@dataclass
class Config:
    name: str
    title: str
    kind: str  # "planar", "mnist", "deep", "resmlp" or "mlp" (the scaling nets)
    sizes: list[int]
    dtype: Any
    batch: int | None  # None: full batch
    lr: float
    steps: int = 0  # per round; 0: calibrated to a round time
    rounds: int = 0


def make_configs(quick: bool) -> dict[str, Config]:
    configs = {
        "planar": Config("planar", "planar 2-4-1, tanh + sigmoid, full batch of 400, float64",
                         "planar", [2, 4, 1], np.float64, None, 1.2,
                         steps=500, rounds=10),
        "deep": Config("deep", "ten Dense(64) + ReLU, MSE, batch 32, float64", "deep",
                       [64] * 11, np.float64, 32, 0.01),
    }
    for batch in (32, 128, 1024):
        for bits, dtype in ((32, np.float32), (64, np.float64)):
            name = f"mnist-b{batch}-f{bits}"
            configs[name] = Config(
                name, f"784-256-128-10 ReLU, softmax CE, batch {batch}, float{bits}",
                "mnist", [784, 256, 128, 10], dtype, batch, 0.1)
    for batch in (32, 128):
        name = f"resmlp-b{batch}-f32"
        configs[name] = Config(
            name, f"784-256, three residual blocks A = H + ReLU(W H + b) of width 256, 10 "
            f"classes, softmax CE, batch {batch}, float32 (a Graph)",
            "resmlp", [784, 256, 256, 256, 256, 10], np.float32, batch, 0.01)
    return configs


def mlp_config(name: str, sizes: list[int], batch: int) -> Config:
    """A scaling point: ReLU hidden layers, softmax CE, float32, on the MNIST-shaped data."""
    return Config(name, f"{'-'.join(map(str, sizes))} ReLU, softmax CE, batch {batch}, float32",
                  "mlp", sizes, np.float32, batch, 0.01)


# -- data and initial weights ------------------------------------------------------


@dataclass
class Data:
    X: np.ndarray  # (n_x, m), examples as columns
    Y: np.ndarray  # (n_out, m): 0/1 targets, one-hot rows, or regression targets
    labels: np.ndarray | None = None  # (m,) class indices, for torch


_MNIST: dict[Any, Data] = {}


def mnist_like(dtype: Any) -> Data:
    """60,000 synthetic 28x28 "images" in [0, 1) labelled by a random linear teacher."""
    if dtype not in _MNIST:
        if np.float64 not in _MNIST:
            rng = np.random.default_rng(784)
            rows = rng.random((60_000, 784))  # examples as rows, then .T: columns are contiguous
            teacher = rng.standard_normal((784, 10))
            labels = np.argmax((rows - 0.5) @ teacher, axis=1)
            onehot = np.zeros((60_000, 10))
            onehot[np.arange(60_000), labels] = 1.0
            _MNIST[np.float64] = Data(rows.T, onehot.T, labels)
        base = _MNIST[np.float64]
        _MNIST[dtype] = Data(base.X.T.astype(dtype).T, base.Y.T.astype(dtype).T, base.labels)
    return _MNIST[dtype]


def planar_data() -> Data:
    X, Y = mg.datasets.planar()  # the notes' flower set: 400 points, seed 1
    return Data(np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64))


def deep_data() -> Data:
    rng = np.random.default_rng(64)
    X = rng.standard_normal((8192, 64))
    Y = np.tanh(X @ rng.standard_normal((64, 64)) / 8.0)
    return Data(X.T, Y.T)


def data_for(cfg: Config) -> Data:
    if cfg.kind == "planar":
        return planar_data()
    if cfg.kind == "deep":
        d = deep_data()
        return Data(d.X.T.astype(cfg.dtype).T, d.Y.T.astype(cfg.dtype).T)
    return mnist_like(cfg.dtype)


def initial_weights(cfg: Config) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) per layer: the notes' randn * 0.01 for planar, He for the ReLU nets."""
    rng = np.random.default_rng(2024)
    out = []
    for n_in, n_out in zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True):
        scale = 0.01 if cfg.kind == "planar" else math.sqrt(2.0 / n_in)
        W = (rng.standard_normal((n_out, n_in)) * scale).astype(cfg.dtype)
        out.append((W, np.zeros((n_out, 1), dtype=cfg.dtype)))
    return out


class Cursor:
    """Which batch comes next; every implementation walks the same sequence."""

    def __init__(self, m: int, batch: int | None) -> None:
        self.batch = batch or m
        self.n_batches = m // self.batch
        self.k = 0

    def take(self, steps: int) -> int:
        """The first batch of the next ``steps`` consecutive batches."""
        if steps > self.n_batches:
            raise ValueError(f"{steps} steps per round, but only {self.n_batches} batches")
        if self.k + steps > self.n_batches:
            self.k = 0
        first = self.k
        self.k += steps
        return first


# -- implementations ---------------------------------------------------------------


@dataclass
class Impl:
    run: Runner
    weights: Callable[[], list[np.ndarray]] = lambda: []  # the W's now, for the cross-check


def numpy_impl(cfg: Config, data: Data) -> Impl:
    params = [[W.copy(), b.copy()] for W, b in initial_weights(cfg)]
    X, Y, lr, cursor = data.X, data.Y, cfg.lr, Cursor(data.X.shape[1], cfg.batch)
    B = cursor.batch

    if cfg.kind == "planar":
        def run(steps: int) -> None:
            (W1, b1), (W2, b2) = params
            m = X.shape[1]
            for _ in range(steps):
                Z1 = np.dot(W1, X) + b1
                A1 = np.tanh(Z1)
                Z2 = np.dot(W2, A1) + b2
                A2 = 1 / (1 + np.exp(-Z2))
                cost = -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m  # noqa: F841
                dZ2 = A2 - Y
                dW2 = (1 / m) * np.dot(dZ2, A1.T)
                db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
                dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
                dW1 = (1 / m) * np.dot(dZ1, X.T)
                db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
                W1 = W1 - lr * dW1
                b1 = b1 - lr * db1
                W2 = W2 - lr * dW2
                b2 = b2 - lr * db2
            params[:] = [[W1, b1], [W2, b2]]

    elif cfg.kind == "mnist":
        def run(steps: int) -> None:
            (W1, b1), (W2, b2), (W3, b3) = params
            first = cursor.take(steps)
            for k in range(first, first + steps):
                Xb, Yb = X[:, k * B:(k + 1) * B], Y[:, k * B:(k + 1) * B]
                Z1 = np.dot(W1, Xb) + b1
                A1 = np.maximum(Z1, 0)
                Z2 = np.dot(W2, A1) + b2
                A2 = np.maximum(Z2, 0)
                Z3 = np.dot(W3, A2) + b3
                E = np.exp(Z3 - np.max(Z3, axis=0, keepdims=True))
                A3 = E / np.sum(E, axis=0, keepdims=True)
                cost = -np.sum(Yb * np.log(A3)) / B  # noqa: F841
                dZ3 = A3 - Yb
                dW3 = (1 / B) * np.dot(dZ3, A2.T)
                db3 = (1 / B) * np.sum(dZ3, axis=1, keepdims=True)
                dZ2 = np.dot(W3.T, dZ3) * (Z2 > 0)
                dW2 = (1 / B) * np.dot(dZ2, A1.T)
                db2 = (1 / B) * np.sum(dZ2, axis=1, keepdims=True)
                dZ1 = np.dot(W2.T, dZ2) * (Z1 > 0)
                dW1 = (1 / B) * np.dot(dZ1, Xb.T)
                db1 = (1 / B) * np.sum(dZ1, axis=1, keepdims=True)
                W1 = W1 - lr * dW1
                b1 = b1 - lr * db1
                W2 = W2 - lr * dW2
                b2 = b2 - lr * db2
                W3 = W3 - lr * dW3
                b3 = b3 - lr * db3
            params[:] = [[W1, b1], [W2, b2], [W3, b3]]

    elif cfg.kind == "resmlp":
        def run(steps: int) -> None:
            (W0, b0), *blocks, (W4, b4) = params
            first = cursor.take(steps)
            for k in range(first, first + steps):
                Xb, Yb = X[:, k * B:(k + 1) * B], Y[:, k * B:(k + 1) * B]
                Z0 = np.dot(W0, Xb) + b0
                H = np.maximum(Z0, 0)
                Hs, Zs = [H], []
                for W, b in blocks:  # H = H + ReLU(W H + b)
                    Z = np.dot(W, H) + b
                    H = H + np.maximum(Z, 0)
                    Zs.append(Z)
                    Hs.append(H)
                Z4 = np.dot(W4, H) + b4
                E = np.exp(Z4 - np.max(Z4, axis=0, keepdims=True))
                A4 = E / np.sum(E, axis=0, keepdims=True)
                cost = -np.sum(Yb * np.log(A4)) / B  # noqa: F841
                dZ4 = A4 - Yb
                grads = [((1 / B) * np.dot(dZ4, H.T), (1 / B) * np.sum(dZ4, axis=1, keepdims=True))]
                dH = np.dot(W4.T, dZ4)
                for i in range(len(blocks) - 1, -1, -1):
                    W, _ = blocks[i]
                    dZ = dH * (Zs[i] > 0)
                    grads.append(((1 / B) * np.dot(dZ, Hs[i].T),
                                  (1 / B) * np.sum(dZ, axis=1, keepdims=True)))
                    dH = dH + np.dot(W.T, dZ)  # the skip path's gradient plus the block's
                dZ0 = dH * (Z0 > 0)
                grads.append(((1 / B) * np.dot(dZ0, Xb.T),
                              (1 / B) * np.sum(dZ0, axis=1, keepdims=True)))
                for (W, b), (dW, db) in zip(params, reversed(grads), strict=True):
                    W -= lr * dW
                    b -= lr * db

    elif cfg.kind == "mlp":  # any depth: the notes' L-layer net, ReLU and softmax
        L = len(params)

        def run(steps: int) -> None:
            first = cursor.take(steps)
            for k in range(first, first + steps):
                A, Yb = X[:, k * B:(k + 1) * B], Y[:, k * B:(k + 1) * B]
                As, Zs = [A], []
                for i, (W, b) in enumerate(params):
                    Z = np.dot(W, A) + b
                    Zs.append(Z)
                    if i < L - 1:
                        A = np.maximum(Z, 0)
                        As.append(A)
                E = np.exp(Z - np.max(Z, axis=0, keepdims=True))
                A = E / np.sum(E, axis=0, keepdims=True)
                cost = -np.sum(Yb * np.log(A)) / B  # noqa: F841
                dZ = A - Yb
                for i in range(L - 1, -1, -1):
                    W, b = params[i]
                    dW = (1 / B) * np.dot(dZ, As[i].T)
                    db = (1 / B) * np.sum(dZ, axis=1, keepdims=True)
                    if i > 0:
                        dZ = np.dot(W.T, dZ) * (Zs[i - 1] > 0)
                    W -= lr * dW
                    b -= lr * db

    else:  # deep: L layers, so lists and a loop, as the notes' L-layer net does
        L = len(params)

        def run(steps: int) -> None:
            first = cursor.take(steps)
            for k in range(first, first + steps):
                A, Yb = X[:, k * B:(k + 1) * B], Y[:, k * B:(k + 1) * B]
                As, Zs = [A], []
                for i, (W, b) in enumerate(params):
                    Z = np.dot(W, A) + b
                    A = np.maximum(Z, 0) if i < L - 1 else Z
                    Zs.append(Z)
                    As.append(A)
                cost = np.sum((A - Yb) ** 2) / B  # noqa: F841
                dZ = 2 * (A - Yb)
                for i in range(L - 1, -1, -1):
                    W, b = params[i]
                    dW = (1 / B) * np.dot(dZ, As[i].T)
                    db = (1 / B) * np.sum(dZ, axis=1, keepdims=True)
                    if i > 0:
                        dZ = np.dot(W.T, dZ) * (Zs[i - 1] > 0)
                    params[i] = [W - lr * dW, b - lr * db]

    return Impl(run, lambda: [W for W, _ in params])


def _dense(W: np.ndarray, b: np.ndarray, dtype: Any) -> mg.Dense:
    dense = mg.Dense(W.shape[1], W.shape[0], dtype=dtype)
    dense.W[...] = W
    dense.b[...] = b
    return dense


def minigrad_model(cfg: Config, logits: bool = False, graph: bool = False) -> tuple[Any, Any]:
    """The config's net in minigrad; ``graph=True`` builds the same chain as an mg.Graph."""
    weights = initial_weights(cfg)
    if cfg.kind == "resmlp":  # a Graph: the skip connections are mg.Add nodes
        (W0, b0), *blocks, (W4, b4) = weights
        x = mg.Input(cfg.sizes[0])
        h = mg.ReLU()(_dense(W0, b0, cfg.dtype)(x))
        for W, b in blocks:
            h = mg.Add()([h, mg.ReLU()(_dense(W, b, cfg.dtype)(h))])
        out = mg.Softmax()(_dense(W4, b4, cfg.dtype)(h))
        return mg.Graph(x, out), CategoricalCrossEntropy()
    layers: list[mg.Layer] = []
    for i, (W, b) in enumerate(weights):
        layers.append(_dense(W, b, cfg.dtype))
        if i < len(weights) - 1:
            layers.append(mg.Tanh() if cfg.kind == "planar" else mg.ReLU())
    if cfg.kind == "planar":
        if not logits:
            layers.append(mg.Sigmoid())
        loss: Any = BinaryCrossEntropy(from_logits=logits)
    elif cfg.kind in ("mnist", "mlp"):
        layers.append(mg.Softmax())
        loss = CategoricalCrossEntropy()
    else:
        loss = MeanSquaredError()
    if graph:
        node = x = mg.Input(cfg.sizes[0])
        for layer in layers:
            node = layer(node)
        return mg.Graph(x, node), loss
    return mg.Sequential(layers), loss


def minigrad_impl(cfg: Config, data: Data, logits: bool = False,
                  input_grad: bool = False, graph: bool = False) -> Impl:
    model, loss = minigrad_model(cfg, logits, graph)
    opt = mg.optim.SGD(model.parameters(), lr=cfg.lr)
    X, Y, cursor = data.X, data.Y, Cursor(data.X.shape[1], cfg.batch)
    B = cursor.batch

    if cfg.batch is None:
        def run(steps: int) -> None:
            for _ in range(steps):
                A = model.forward(X)
                loss.forward(A, Y)
                model.backward(loss.backward(), input_grad=input_grad)
                opt.step()
    else:
        def run(steps: int) -> None:
            first = cursor.take(steps)
            for k in range(first, first + steps):
                Xb, Yb = X[:, k * B:(k + 1) * B], Y[:, k * B:(k + 1) * B]
                A = model.forward(Xb)
                loss.forward(A, Yb)
                model.backward(loss.backward(), input_grad=input_grad)
                opt.step()

    return Impl(run, lambda: dense_weights(model))


def fit_impl(cfg: Config, data: Data) -> Impl:
    model, loss = minigrad_model(cfg)
    opt = mg.optim.SGD(model.parameters(), lr=cfg.lr)
    X, Y, cursor = data.X, data.Y, Cursor(data.X.shape[1], cfg.batch)
    B = cursor.batch

    def run(steps: int) -> None:
        if cfg.batch is None:
            mg.fit(model, X, Y, loss=loss, optimizer=opt, epochs=steps, verbose=False)
        else:
            first = cursor.take(steps)
            cols = slice(first * B, (first + steps) * B)
            mg.fit(model, X[:, cols], Y[:, cols], loss=loss, optimizer=opt, epochs=1,
                   batch_size=B, shuffle=False, verbose=False)

    return Impl(run, lambda: dense_weights(model))


def dense_weights(model: Any) -> list[np.ndarray]:
    return [layer.W for layer in mg.layer.leaves(model) if isinstance(layer, mg.Dense)]


def torch_impl(cfg: Config, data: Data) -> Impl:
    import torch
    from torch import nn

    dtype = {np.float32: torch.float32, np.float64: torch.float64}[cfg.dtype]
    mods: list[nn.Module] = []
    weights = initial_weights(cfg)
    for i, (W, b) in enumerate(weights):
        lin = nn.Linear(W.shape[1], W.shape[0]).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b.ravel()))
        mods.append(lin)
        if i < len(weights) - 1:
            mods.append(nn.Tanh() if cfg.kind == "planar" else nn.ReLU())
    model: Any = nn.Sequential(*mods)
    if cfg.kind == "resmlp":
        class ResMLP(nn.Module):
            def __init__(self, linears: list[Any]) -> None:
                super().__init__()
                self.linears = nn.ModuleList(linears)

            def forward(self, x: Any) -> Any:
                first, *blocks, last = self.linears
                h = torch.relu(first(x))
                for lin in blocks:
                    h = h + torch.relu(lin(h))
                return last(h)

        model = ResMLP([m for m in mods if isinstance(m, nn.Linear)])
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    Xr = torch.from_numpy(np.ascontiguousarray(data.X.T))  # examples as rows, as torch wants
    cursor = Cursor(data.X.shape[1], cfg.batch)
    B = cursor.batch
    if cfg.kind == "planar":
        Yr = torch.from_numpy(np.ascontiguousarray(data.Y.T))
        lossf: Callable[..., Any] = nn.BCEWithLogitsLoss()
    elif cfg.kind in ("mnist", "mlp", "resmlp"):
        assert data.labels is not None
        Yr = torch.from_numpy(data.labels)
        lossf = nn.functional.cross_entropy
    else:
        Yr = torch.from_numpy(np.ascontiguousarray(data.Y.T))

        def lossf(out: Any, target: Any) -> Any:  # the same J as minigrad: sum over outputs
            return nn.functional.mse_loss(out, target, reduction="sum") / out.shape[0]

    def run(steps: int) -> None:
        first = cursor.take(steps) if cfg.batch is not None else 0
        for k in range(first, first + steps):
            xb, yb = (Xr, Yr) if cfg.batch is None else (Xr[k * B:(k + 1) * B],
                                                          Yr[k * B:(k + 1) * B])
            opt.zero_grad()
            lossf(model(xb), yb).backward()
            opt.step()

    def final() -> list[np.ndarray]:
        return [m.weight.detach().numpy() for m in model.modules() if isinstance(m, nn.Linear)]

    return Impl(run, final)


def gemm_impl(cfg: Config, data: Data) -> Impl:
    """Only the matrix products of one training step, into preallocated arrays."""
    rng = np.random.default_rng(0)
    X, cursor = data.X, Cursor(data.X.shape[1], cfg.batch)
    B = cursor.batch
    dt = cfg.dtype
    Ws = [W for W, _ in initial_weights(cfg)]
    Zs = [np.empty((W.shape[0], B), dt) for W in Ws]
    As = [rng.random((W.shape[0], B)).astype(dt) for W in Ws]  # next layer's A_prev
    dZs = [rng.random((W.shape[0], B)).astype(dt) for W in Ws]
    dWs = [np.empty_like(W) for W in Ws]
    dAs = [np.empty((W.shape[1], B), dt) for W in Ws]
    L = len(Ws)

    def run(steps: int) -> None:
        first = cursor.take(steps) if cfg.batch is not None else 0
        for k in range(first, first + steps):
            Xb = X if cfg.batch is None else X[:, k * B:(k + 1) * B]
            A_prev = Xb
            for i in range(L):
                np.dot(Ws[i], A_prev, out=Zs[i])
                A_prev = As[i]
            for i in range(L - 1, -1, -1):
                np.dot(dZs[i], (As[i - 1] if i else Xb).T, out=dWs[i])
                if i:
                    np.dot(Ws[i].T, dZs[i], out=dAs[i])

    return Impl(run)


def implementations(cfg: Config, data: Data, with_torch: bool,
                    scaling: bool = False) -> dict[str, Impl]:
    impls = {"numpy": numpy_impl(cfg, data), "minigrad": minigrad_impl(cfg, data)}
    if cfg.kind == "planar":
        impls["mg logits"] = minigrad_impl(cfg, data, logits=True)
    if not scaling:
        impls["mg.fit"] = fit_impl(cfg, data)
        impls["mg plain"] = minigrad_impl(cfg, data, input_grad=True)
    if cfg.kind == "mnist" and cfg.dtype == np.float32 and (cfg.batch or 0) <= 128:
        impls["mg Graph"] = minigrad_impl(cfg, data, graph=True)  # the same chain as a Graph
    if with_torch:
        impls["torch"] = torch_impl(cfg, data)
    impls["GEMM"] = gemm_impl(cfg, data)
    return impls


# -- timing ------------------------------------------------------------------------


def timed(run: Runner, steps: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        run(steps)
        return (time.perf_counter() - start) / steps
    finally:
        gc.enable()


def calibrate(cfg: Config, run: Runner, quick: bool,
              target: float | None = None) -> tuple[int, int]:
    """Steps per round (so that numpy's round takes ~0.12 s, 0.03 s quick) and rounds."""
    rounds = cfg.rounds or (3 if quick else 9)
    if cfg.steps:
        return (max(3, cfg.steps // 10) if quick else cfg.steps), rounds
    per_step = min(timed(run, 2) for _ in range(2))
    target = target or (0.03 if quick else 0.12)
    n_batches = Cursor(8192 if cfg.kind == "deep" else 60_000, cfg.batch).n_batches
    return max(3, min(n_batches, round(target / per_step))), rounds


def interleave(impls: dict[str, Impl], steps: int, rounds: int) -> dict[str, list[float]]:
    """Per-step times, one per round; every implementation runs once per round.

    Each runs ``steps`` steps per round, except one that is more than four times
    slower than numpy (PyTorch on the planar net): it runs fewer, so that a round
    of it lasts about four of numpy's, and the whole benchmark stays short.
    """
    names = list(impls)
    warm = {name: timed(impls[name].run, 2) for name in names}  # caches, lazy imports
    budget = 4 * steps * warm["numpy"]
    counts = {name: max(2, min(steps, round(budget / warm[name]))) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(impls[name].run, counts[name]))
    return times


@dataclass
class Result:
    cfg: Config
    steps: int
    rounds: int
    times: dict[str, list[float]]
    agreement: dict[str, float] = field(default_factory=dict)
    threads: str = "1"
    # the attempts run before this one and dropped as noisy: why, and their target ratios
    earlier: list[dict[str, Any]] = field(default_factory=list)
    pace: float = 1.0  # the slower probe around this table over the run's fastest (Pace)

    def median(self, name: str) -> float:
        return float(np.median(self.times[name]))

    def ratios(self, name: str, to: str = "numpy") -> np.ndarray:
        """Per round: this implementation's time over ``to``'s time in the same round."""
        return np.array(self.times[name]) / np.array(self.times[to])

    def ratio(self, name: str, to: str = "numpy") -> float:
        """Median over rounds of this round's time over ``to``'s time in the same round."""
        return float(np.median(self.ratios(name, to)))

    def spread(self, name: str, to: str = "numpy") -> tuple[float, float]:
        """The middle half of the per-round ratios (25th and 75th percentiles)."""
        lo, hi = np.percentile(self.ratios(name, to), [25, 75])
        return float(lo), float(hi)

    def busy(self) -> float:
        """numpy's median time over its minimum: near 1 on a quiet machine (1.01-1.07 in
        the runs of docs/performance.md), 1.3-2.2 when another job held the second core."""
        return self.median("numpy") / float(np.min(self.times["numpy"]))

    def noise(self) -> str | None:
        """Why this table should run again (busy, slowed, or a target ratio's IQR wider
        than SPREAD), or None when it is quiet enough to report."""
        if self.busy() > BUSY:
            return f"busy {self.busy():.2f}"
        if self.pace > SLOW:
            return f"slowed {self.pace:.2f}"
        for name, to, _, _ in target_pairs(self):
            lo, hi = self.spread(name, to)
            if hi - lo > SPREAD:
                return f"{name} / {to} IQR {lo:.2f}-{hi:.2f}"
        return None

    def attempt_note(self) -> str:
        """'' for a first attempt; otherwise which attempt this is and what the earlier gave."""
        if not self.earlier:
            return ""
        shown = "; ".join(
            f"{e['why']}, " + ", ".join(f"{k} {v:.3f}" for k, v in e["ratios"].items())
            for e in self.earlier)
        return f"attempt {len(self.earlier) + 1}, after {len(self.earlier)} noisy ({shown})"


def blas_default_threads() -> int | None:
    """The threads numpy's BLAS uses when nobody sets them (threadpoolctl), None if unknown."""
    if threadpoolctl is None:
        return None
    pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    return int(pools[0]["num_threads"]) if pools else None


@contextmanager
def thread_setting(threads: str) -> Iterator[None]:
    """'default': numpy's BLAS as a user gets it, PyTorch with as many threads (it picks
    its own otherwise); a number: every BLAS and OpenMP pool and PyTorch limited to it."""
    torch_before = TORCH.get_num_threads() if TORCH is not None else None
    n = blas_default_threads() if threads == "default" else int(threads)
    try:
        if TORCH is not None and n is not None:
            TORCH.set_num_threads(n)
        if threads == "default" or threadpoolctl is None:
            yield
        else:
            with threadpoolctl.threadpool_limits(n):
                yield
    finally:
        if TORCH is not None and torch_before is not None:
            TORCH.set_num_threads(torch_before)


class Pace:
    """How fast the machine runs now: a fixed product timed before and after each table."""

    def __init__(self) -> None:
        self.matrix = np.random.default_rng(512).random((512, 512)).astype(np.float32)
        self.fastest: dict[str, float] = {}  # by thread setting, over the whole run

    def probe(self, threads: str) -> float:
        """The median time of five 512 x 512 float32 products at the thread setting in force."""
        times = []
        for _ in range(5):
            start = time.perf_counter()
            self.matrix.dot(self.matrix)
            times.append(time.perf_counter() - start)
        t = float(np.median(times))
        self.fastest[threads] = min(t, self.fastest.get(threads, t))
        return t

    def slowdown(self, threads: str, *probes: float) -> float:
        """The slowest of these probes over the run's fastest at that setting (>= 1)."""
        return max(probes) / self.fastest[threads]

    def around(self, threads: str, run: Callable[[], T]) -> tuple[T, float]:
        """``run()``'s result and the slowdown of the probes taken before and after it."""
        with thread_setting(threads):
            before = self.probe(threads)
        got = run()
        with thread_setting(threads):
            return got, self.slowdown(threads, before, self.probe(threads))


PACE = Pace()


def run_config(cfg: Config, args: argparse.Namespace, threads: str = "1",
               scaling: bool = False) -> Result:
    data = data_for(cfg)
    with_torch = TORCH is not None and not args.no_torch
    with thread_setting(threads):
        impls = implementations(cfg, data, with_torch=with_torch, scaling=scaling)
        steps, rounds = calibrate(cfg, numpy_impl(cfg, data).run, args.quick,  # a spare copy
                                  target=(0.02 if args.quick else 0.05) if scaling else None)
        if scaling:
            rounds = 3
        if args.rounds:
            rounds = args.rounds
        earlier: list[dict[str, Any]] = []
        while True:
            times, pace = PACE.around(threads, lambda: interleave(impls, steps, rounds))
            result = Result(cfg, steps, rounds, times, threads=threads, earlier=earlier,
                            pace=pace)
            why = None if scaling else result.noise()
            if why is None or len(earlier) >= args.repeats:
                return result
            print(f"  ({cfg.name}, threads {threads}: {why}; running the table again)",
                  flush=True)
            earlier = [*earlier, {"why": why, "ratios": {
                f"{name} / {to}": result.ratio(name, to)
                for name, to, _, _ in target_pairs(result)}}]


def agreement(cfg: Config, data: Data, with_torch: bool, steps: int = 20) -> dict[str, float]:
    """max |W - W_numpy| / max |W_numpy| after ``steps`` identical steps from the same start.

    A short run: over thousands of float32 steps two correct implementations
    that round differently drift apart (a ReLU flips), which says nothing.
    """
    fresh = implementations(cfg, data, with_torch)
    for impl in fresh.values():
        impl.run(steps)
    reference = fresh.pop("numpy").weights()
    scale = max(float(np.abs(W).max()) for W in reference)
    out = {}
    for name, impl in fresh.items():
        got = impl.weights()
        if got:
            out[name] = max(float(np.abs(np.asarray(a, dtype=np.float64) - b).max())
                            for a, b in zip(got, reference, strict=True)) / scale
    return out


# -- memory ------------------------------------------------------------------------


class _EpochMemory(mg.callbacks.Callback):
    def __init__(self, record: list[int]) -> None:
        self.record = record

    def on_epoch_end(self, state: Any) -> None:
        self.record.append(tracemalloc.get_traced_memory()[0])


def memory_check(cfg: Config, epochs: int, m: int) -> dict[str, Any]:
    """Traced memory after each epoch and the peak, from building the weights on."""
    full = data_for(cfg)
    data = Data(full.X[:, :m], full.Y[:, :m])
    out: dict[str, Any] = {}
    for name in ("numpy", "minigrad", "mg.fit"):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        after: list[int] = []
        if name == "mg.fit":
            model, loss = minigrad_model(cfg)
            opt = mg.optim.SGD(model.parameters(), lr=cfg.lr)
            mg.fit(model, data.X, data.Y, loss=loss, optimizer=opt, epochs=epochs,
                   batch_size=cfg.batch, shuffle=False, verbose=False,
                   callbacks=[_EpochMemory(after)])
        else:
            impl = numpy_impl(cfg, data) if name == "numpy" else minigrad_impl(cfg, data)
            per_epoch = Cursor(m, cfg.batch).n_batches
            for _ in range(epochs):
                impl.run(per_epoch)
                after.append(tracemalloc.get_traced_memory()[0])
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        out[name] = {"peak": peak, "after_epoch": [a - base for a in after],
                     "growth": max(after[1:]) - after[0] if len(after) > 1 else 0}
    return out


def non_float32_arrays(*roots: Any) -> list[str]:
    """Paths of floating arrays that are not float32, anywhere under these objects."""
    bad: list[str] = []
    seen: set[int] = set()

    def walk(obj: Any, path: str, depth: int) -> None:
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind == "f" and obj.dtype != np.float32:
                bad.append(f"{path} ({obj.dtype})")
            return
        if isinstance(obj, list | tuple):
            for i, item in enumerate(obj):
                walk(item, f"{path}[{i}]", depth + 1)
        elif isinstance(obj, dict):
            for key, item in obj.items():
                walk(item, f"{path}[{key!r}]", depth + 1)
        elif type(obj).__module__.startswith("minigrad"):
            names = {n for cls in type(obj).__mro__ for n in getattr(cls, "__slots__", ())}
            names |= set(getattr(obj, "__dict__", {}))
            for name in sorted(names):
                if not name.startswith("__"):
                    walk(getattr(obj, name, None), f"{path}.{name}", depth + 1)

    for i, root in enumerate(roots):
        walk(root, type(root).__name__ if i else "model", 0)
    return bad


def float32_check(m: int) -> list[str]:
    """Train a float32 MNIST-shaped model by hand and with fit; list what is not float32."""
    cfg = make_configs(quick=True)["mnist-b128-f32"]
    data = data_for(cfg)
    X, Y = data.X[:, :m], data.Y[:, :m]
    model, loss = minigrad_model(cfg)
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    for k in range(m // 128):
        A = model.forward(X[:, k * 128:(k + 1) * 128])
        J = loss.forward(A, Y[:, k * 128:(k + 1) * 128])
        model.backward(loss.backward(), input_grad=False)
        opt.step()
    bad = non_float32_arrays(model, loss, opt)
    if not isinstance(J, float) or A.dtype != np.float32:
        bad.append(f"forward output {A.dtype}, J {type(J).__name__}")
    model2, loss2 = minigrad_model(cfg)
    opt2 = mg.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    mg.fit(model2, X, Y, loss=loss2, optimizer=opt2, epochs=2, batch_size=128, verbose=False)
    bad += [f"(fit) {b}" for b in non_float32_arrays(model2, loss2, opt2)]
    return bad


# -- report ------------------------------------------------------------------------

TORCH: Any = None


def machine_info(threads: list[str]) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        f"date:    {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine: {cpu}, {os.cpu_count()} logical cores, {platform.system()} "
        f"{platform.release()}",
        f"python:  {platform.python_version()} ({platform.python_implementation()}), "
        f"numpy {np.__version__}, minigrad {mg.__version__}",
    ]
    if threadpoolctl is not None:
        for pool in threadpoolctl.threadpool_info():
            about = " ".join(str(pool[k]) for k in ("internal_api", "version") if pool.get(k))
            if pool.get("architecture"):
                about += f" ({pool['architecture']})"
            lines.append(f"{pool.get('user_api', 'lib') + ':':8s} {about}, "
                         f"{pool.get('num_threads')} threads, "
                         f"{os.path.basename(pool.get('filepath', ''))}")
    else:
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            lines.append(f"blas:    {blas.get('name')} {blas.get('version')} "
                         "(threadpoolctl not installed: thread counts not checked)")
        except Exception:
            lines.append("blas:    unknown (install threadpoolctl: pip install minigrad[bench])")
    lines.append(
        f"torch:   {TORCH.__version__}, {TORCH.get_num_threads()} threads" if TORCH is not None
        else "torch:   not installed: skipped (pip install torch==2.13.0 for the CPU build)"
    )
    env = ", ".join(f"{v}={os.environ[v]}" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                       "MKL_NUM_THREADS") if v in os.environ)
    lines.append(f"threads: each configuration runs at {' and at '.join(threads)} "
                 f"(default = numpy's BLAS as a user gets it: {blas_default_threads()} threads "
                 f"here{'; environment: ' + env if env else ', no thread variables set'}; "
                 "PyTorch gets the same number)")
    return lines


def table(result: Result, markdown: bool = False) -> list[str]:
    cfg = result.cfg
    unit, scale = ("us", 1e6)
    head = (f"{cfg.name}, threads {result.threads}: {cfg.title}; {result.rounds} rounds x "
            f"{result.steps} steps per implementation, times per step")
    if result.earlier:
        head += f"; {result.attempt_note()}"
    names = list(result.times)
    rows = []
    for name in names:
        t = np.array(result.times[name]) * scale
        lo, hi = result.spread(name)
        vs_gemm = result.ratio(name, "GEMM") if name != "GEMM" else 1.0
        agree = result.agreement.get(name)
        rows.append([
            name, f"{np.median(t):,.1f}", f"{t.min():,.1f}", f"{t.max():,.1f}",
            f"{result.ratio(name):.3f}", f"{lo:.2f}-{hi:.2f}", f"{vs_gemm:.2f}",
            "" if agree is None else f"{agree:.0e}",
        ])
    cols = ["implementation", f"median {unit}", f"min {unit}", f"max {unit}",
            "/ numpy", "IQR", "/ GEMM", "W vs numpy"]
    if markdown:
        lines = [f"**{head}**", "", "| " + " | ".join(cols) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return lines
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return [head, "  " + fmt.format(*cols), *("  " + fmt.format(*r) for r in rows)]


def summary_table(results: list[Result]) -> list[str]:
    """The Markdown summary: one row per table, each ratio with its IQR, a missed target bold."""

    def cell(r: Result, name: str, to: str = "numpy", iqr: bool = True) -> str:
        if name not in r.times or to not in r.times:
            return "-"
        x = r.ratio(name, to)
        lo, hi = r.spread(name, to)
        text = f"{x:.3f}" + (f" [{lo:.2f}-{hi:.2f}]" if iqr else "")
        for n, t, limit, strict in target_pairs(r):
            if (n, t) == (name, to) and not (x < limit if strict else x <= limit):
                return f"**{text}**"
        return text

    lines = ["| net | threads | `minigrad` / numpy | `mg.fit` / numpy | `mg plain` / numpy "
             "| other | `minigrad` / torch |", "|---|---|---:|---:|---:|---|---:|"]
    for r in results:
        other = []
        if "mg logits" in r.times:
            other.append(f"`mg logits` {cell(r, 'mg logits')}")
        if "mg Graph" in r.times:
            other.append(f"Graph / Sequential {cell(r, 'mg Graph', 'minigrad')}")
        if r.cfg.batch == 1024:
            other.append(f"/ GEMM {cell(r, 'minigrad', 'GEMM')}")
        torch_cell = (cell(r, "minigrad", "torch")
                      if ("minigrad", "torch", 1.0, True) in target_pairs(r) else "-")
        lines.append(f"| {r.cfg.name} | {r.threads} | {cell(r, 'minigrad')} | "
                     f"{cell(r, 'mg.fit')} | {cell(r, 'mg plain', iqr=False)} | "
                     f"{', '.join(other)} | {torch_cell} |")
    return lines


BUSY = 1.25
"""A table whose numpy median is more than this times its minimum is flagged "busy" in the
targets: the machine was not quiet while it ran, so read its verdicts with care (the
verdict itself is left as measured). Such a table is run again first (--repeats)."""
SPREAD = 0.10
"""A table where a target ratio's IQR is wider than this is run again (--repeats)."""
SLOW = 1.3
"""A table whose probe (before or after it) took more than this times the run's fastest
probe at its thread setting ran slowed, and is run again (--repeats)."""


def target_pairs(r: Result) -> list[tuple[str, str, float, bool]]:
    """(implementation, reference, limit, strict) for each timing target of table ``r``."""
    pairs: list[tuple[str, str, float, bool]] = [
        (name, "numpy", 1.10, False) for name in ("minigrad", "mg logits", "mg.fit")
        if name in r.times]
    if "mg Graph" in r.times:
        pairs.append(("mg Graph", "minigrad", 1.05, False))
    if "torch" in r.times and (r.cfg.kind == "planar" or (
            r.cfg.dtype == np.float32 and (r.cfg.batch or 0) <= 128)):
        pairs += [(name, "torch", 1.0, True) for name in ("minigrad", "mg logits", "mg.fit")
                  if name in r.times]
    if r.cfg.batch == 1024 and "GEMM" in r.times:
        pairs.append(("minigrad", "GEMM", 1.15, False))
    return pairs


def noise_note(pace: float, earlier: int) -> str:
    """What a verdict says of its table's noise: slowed (pace over SLOW), and which attempt."""
    note = f"; slowed: the probe took {pace:.2f}x the run's fastest" if pace > SLOW else ""
    return note + (f"; attempt {earlier + 1}" if earlier else "")


def _check(r: Result, name: str, to: str, limit: float, strict: bool = False
           ) -> tuple[bool, str]:
    x = r.ratio(name, to)
    lo, hi = r.spread(name, to)
    ok = x < limit if strict else x <= limit
    busy = r.busy()
    note = (f"; busy: numpy's median is {busy:.2f}x its minimum" if busy > BUSY else "")
    note += noise_note(r.pace, len(r.earlier))
    return ok, (f"{r.cfg.name} [threads {r.threads}]: {name} / {to} = {x:.3f} "
                f"(IQR {lo:.2f}-{hi:.2f}; {'<' if strict else '<='} {limit:.2f}{note})")


def targets(results: list[Result], memory: dict[str, Any], f32_bad: list[str] | None,
            lenet: list[dict[str, Any]] | None = None) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    for r in results:
        checks += [_check(r, name, to, limit, strict)
                   for name, to, limit, strict in target_pairs(r)]
    for row in lenet or []:
        limit = {64: 1.0, 256: 1.25}.get(row["batch"])
        if limit is not None and row["threads"] == "default":
            note = noise_note(row.get("pace", 1.0), len(row.get("earlier_attempts", [])))
            checks.append((row["ratio"] <= limit,
                           f"lenet-b{row['batch']} [threads default]: minigrad / torch = "
                           f"{row['ratio']:.3f} (<= {limit:.2f}{note})"))
    for cfg_name, mem in memory.items():
        ref = mem["numpy"]["peak"]
        for name in ("minigrad", "mg.fit"):
            x = mem[name]["peak"] / ref
            checks.append((x <= 1.5, f"{cfg_name} memory: {name} peak / numpy peak = {x:.2f} "
                                     "(<= 1.5)"))
            g = mem[name]["growth"]
            checks.append((g <= 16_384, f"{cfg_name} memory: {name} growth after epoch 1 = "
                                        f"{g:,} bytes (none)"))
    if f32_bad is not None:
        checks.append((not f32_bad, "float32 model keeps every array float32"
                       + (f": {', '.join(f32_bad[:5])}" if f32_bad else "")))
    return checks


# -- scaling -----------------------------------------------------------------------


def scaling_points(quick: bool) -> list[tuple[str, int, Config]]:
    """(axis, x, config): width and depth at batch 128, batch on the 784-256-128-10 net."""
    widths = [64, 256, 1024] if quick else [64, 128, 256, 512, 1024, 2048]
    depths = [2, 8, 32] if quick else [2, 4, 8, 16, 32]
    batches = [1, 32, 1024] if quick else [1, 4, 16, 64, 256, 1024, 4096]
    points = [("width", w, mlp_config(f"width-{w}", [784, w, w, 10], 128)) for w in widths]
    points += [("depth", d, mlp_config(f"depth-{d}", [784] + [256] * (d - 1) + [10], 128))
               for d in depths]
    points += [("batch", b, mlp_config(f"batch-{b}", [784, 256, 128, 10], b)) for b in batches]
    return points


def scaling(args: argparse.Namespace, threads: str) -> list[tuple[str, int, Result]]:
    out = []
    for axis, x, cfg in scaling_points(args.quick):
        out.append((axis, x, run_config(cfg, args, threads, scaling=True)))
    return out


def scaling_lines(points: list[tuple[str, int, Result]]) -> list[str]:
    names = ["numpy", "minigrad", "torch", "GEMM"]
    lines = [f"{'point':12s}" + "".join(f"{n:>13s}" for n in names)
             + f"{'mg / numpy':>12s}{'IQR':>11s}{'mg / GEMM':>11s}{'mg / torch':>12s}"]
    for _, _, r in points:
        cells = "".join(f"{r.median(n) * 1e6:>10,.0f} us" if n in r.times else f"{'-':>13s}"
                        for n in names)
        lo, hi = r.spread("minigrad")
        torch_ratio = f"{r.ratio('minigrad', 'torch'):>12.2f}" if "torch" in r.times else ""
        lines.append(f"{r.cfg.name:12s}{cells}{r.ratio('minigrad'):>12.3f}"
                     f"{f'{lo:.2f}-{hi:.2f}':>11s}{r.ratio('minigrad', 'GEMM'):>11.2f}"
                     + torch_ratio)
    return lines


def plot_scaling(points: list[tuple[str, int, Result]], path: str, threads: str) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "scaling plot: matplotlib is not installed; skipped"
    axes_names = ["width", "depth", "batch"]
    labels = {"width": "width w of 784-w-w-10 (batch 128)",
              "depth": "Dense layers in 784-256-...-256-10 (batch 128)",
              "batch": "batch size (784-256-128-10)"}
    styles = {"numpy": ("tab:orange", "o", "hand-written numpy"),
              "minigrad": ("tab:blue", "s", "minigrad (manual loop)"),
              "torch": ("tab:red", "^", "PyTorch CPU"), "GEMM": ("tab:gray", "x", "GEMM only")}
    fig, axs = plt.subplots(1, 3, figsize=(13, 4))
    for ax, axis in zip(axs, axes_names, strict=True):
        mine = [(x, r) for a, x, r in points if a == axis]
        xs = [x for x, _ in mine]
        for name, (color, marker, label) in styles.items():
            if all(name in r.times for _, r in mine):
                ys = [r.median(name) * 1e3 for _, r in mine]
                if axis == "batch":  # per example, so the lines are readable over 1..4096
                    ys = [y / x for y, x in zip(ys, xs, strict=True)]
                ax.plot(xs, ys, marker=marker, color=color, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(labels[axis])
        ax.set_ylabel("ms per example per step" if axis == "batch" else "ms per training step")
        ax.grid(True, which="major", alpha=0.3)
    axs[0].legend(fontsize="small")
    fig.suptitle(f"How one training step grows (float32, SGD, threads: {threads})", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return f"scaling plot: {path}"


# -- LeNet (issue 10's conv benchmark, benchmarks/lenet.py) -------------------------------


def lenet_section(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """LeNet-5 steps, minigrad / PyTorch, at batch 64 and 256, through benchmarks/lenet.py."""
    if args.no_lenet or TORCH is None or not hasattr(mg, "Conv2D"):
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.path.exists(os.path.join(here, "lenet.py")):
        return None
    sys.path.insert(0, here)
    import lenet  # the conv layers' own benchmark

    rows = []
    for threads in args.threads:
        for m in (64, 256):
            rounds, steps = (3, 2) if args.quick else (7, 4)
            earlier: list[dict[str, float]] = []
            while True:  # as the tables do: run again while the machine ran slowed
                got, pace = PACE.around(threads, partial(lenet.run, m, threads, rounds, steps))
                if pace <= SLOW or len(earlier) >= args.repeats:
                    break
                print(f"  (lenet-b{m}, threads {threads}: slowed {pace:.2f}; running it again)",
                      flush=True)
                earlier.append({"pace": pace, "ratio": got["ratio"]})
            rows.append({"batch": m, "threads": threads, **got, "pace": pace,
                         "earlier_attempts": earlier})
    return rows


def plot(results: list[Result], path: str) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
    except ImportError:
        return "plot: matplotlib is not installed; skipped"
    order = ["minigrad", "mg logits", "mg.fit", "mg Graph", "torch", "GEMM"]
    colors = dict(zip(order, ["tab:blue", "tab:cyan", "tab:green", "tab:purple", "tab:red",
                              "tab:gray"], strict=True))
    rows: list[tuple[float, str, float]] = []  # (y, implementation, ratio)
    ticks: list[tuple[float, str]] = []
    y = 0.0
    for r in results:
        names = [n for n in order if n in r.times]
        ticks.append((y + (len(names) - 1) / 2, f"{r.cfg.name} [{r.threads}]"))
        for name in names:
            rows.append((y, name, r.ratio(name)))
            y += 1
        y += 0.8
    fig, ax = plt.subplots(figsize=(8, 0.22 * y + 1.2))
    for name in order:
        mine = [(yy, x) for yy, n, x in rows if n == name]
        if mine:
            ax.barh([yy for yy, _ in mine], [x for _, x in mine], height=0.85,
                    color=colors[name], label=name)
    for yy, _, x in rows:
        ax.text(x * 1.02, yy, f"{x:.2f}", va="center", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.axvline(1.1, color="black", linestyle=":", linewidth=1, label="1.10 target")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.5, 1, 2, 5, 10]))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(0.1, 12)
    ax.set_yticks([t for t, _ in ticks], [label for _, label in ticks])
    ax.invert_yaxis()
    ax.set_xlabel("time per training step / hand-written numpy (lower is faster)")
    ax.set_title("minigrad vs hand-written numpy, PyTorch CPU and the GEMM bound "
                 "[threads]", fontsize=10)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"plot: {path}"


def main(args: argparse.Namespace) -> int:
    global TORCH
    started = time.perf_counter()
    if not args.no_torch:
        try:
            import torch
            TORCH = torch
        except ImportError:
            TORCH = None
    configs = make_configs(args.quick)
    chosen = [c for c in args.config or CONFIG_NAMES if c not in ("scaling", "lenet")]
    header = machine_info(args.threads)  # as the run starts, before any section sets threads
    out: list[str] = list(header)
    print("\n".join(out), flush=True)
    results = []
    for name in chosen:
        agreement_done: dict[str, float] | None = None
        for threads in args.threads:
            result = run_config(configs[name], args, threads)
            if agreement_done is None:  # the numbers do not depend on the threads
                with thread_setting(threads):
                    agreement_done = agreement(configs[name], data_for(configs[name]),
                                               with_torch="torch" in result.times)
            result.agreement = agreement_done
            results.append(result)
            block = ["", *table(result)]
            agree = ", ".join(f"{k} {v:.0e}" for k, v in result.agreement.items())
            block.append(f"  weights after 20 steps vs numpy's (max |difference| / max |W|): "
                         f"{agree}")
            print("\n".join(block), flush=True)
            out += block
    scale_block: list[str] = []
    scale_points: list[tuple[str, int, Result]] = []
    if not args.no_scaling and (not args.config or "scaling" in args.config):
        threads = args.scaling_threads
        scale_points = scaling(args, threads)
        scale_block = ["", f"scaling, threads {threads}: median time per step (3 rounds, "
                       "interleaved); ratios are medians of per-round ratios",
                       *scaling_lines(scale_points)]
        print("\n".join(scale_block), flush=True)
    lenet_rows = lenet_section(args) if not args.config or "lenet" in args.config else None
    lenet_block: list[str] = []
    if lenet_rows:
        lenet_block = ["", "LeNet-5 (benchmarks/lenet.py), float32, minigrad / PyTorch per step:"]
        lenet_block += [f"  batch {r['batch']:4d} threads {r['threads']:>7s}: minigrad "
                        f"{r['minigrad'] * 1e3:8.2f} ms  torch {r['torch'] * 1e3:8.2f} ms  "
                        f"ratio {r['ratio']:.3f}  pace {r['pace']:.2f}"
                        + (f" (attempt {len(r['earlier_attempts']) + 1})"
                           if r["earlier_attempts"] else "") for r in lenet_rows]
        print("\n".join(lenet_block), flush=True)
    memory: dict[str, Any] = {}
    f32_bad = None
    mem_block: list[str] = []
    if not args.no_memory:
        epochs, m = (2, 10_000) if args.quick else (3, 30_000)
        for name in ("mnist-b128-f32", "mnist-b128-f64"):
            memory[name] = memory_check(configs[name], epochs, m)
        f32_bad = float32_check(1024)
        block = ["", f"memory (tracemalloc), {epochs} epochs of {m:,} examples at batch 128, "
                 "from building the weights on:"]
        for cfg_name, mem in memory.items():
            for impl, info in mem.items():
                block.append(f"  {cfg_name} {impl:9s} peak {info['peak'] / 1e6:6.2f} MB, "
                             f"after each epoch (MB): "
                             + " ".join(f"{a / 1e6:.3f}" for a in info["after_epoch"]))
        print("\n".join(block), flush=True)
        mem_block = block[1:]
    checks = targets(results, memory, f32_bad, lenet_rows)
    block = ["", "targets:"] + [f"  {'PASS' if ok else 'FAIL'}  {text}" for ok, text in checks]
    block.append(f"\ntotal time {time.perf_counter() - started:.0f} s")
    print("\n".join(block), flush=True)
    if args.plot:
        if results:
            print(plot(results, args.plot))
        if scale_points:
            root, ext = os.path.splitext(args.plot)
            print(plot_scaling(scale_points, f"{root}-scaling{ext}", args.scaling_threads))
    if args.markdown:
        md = ["```text", *header, "```", "", *summary_table(results)]
        for r in results:
            md += ["", *table(r, markdown=True)]
        md += ["", "```text", *scale_block[1:], *lenet_block, "", *mem_block, "",
               *block[1:-1], "```"]
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("\n".join(md) + "\n")
    if args.json:
        payload = {
            "machine": header,
            "results": [{"config": r.cfg.name, "threads": r.threads, "title": r.cfg.title,
                         "steps": r.steps, "rounds": r.rounds, "seconds_per_step": r.times,
                         "ratio_to_numpy": {n: r.ratio(n) for n in r.times},
                         "ratio_iqr": {n: r.spread(n) for n in r.times},
                         "earlier_attempts": r.earlier, "pace": r.pace,
                         "weights_vs_numpy": r.agreement} for r in results],
            "scaling": [{"axis": a, "x": x, "config": r.cfg.name, "threads": r.threads,
                         "seconds_per_step": r.times} for a, x, r in scale_points],
            "lenet": lenet_rows,
            "memory": memory,
            "float32_violations": f32_bad,
            "targets": [{"pass": ok, "check": text} for ok, text in checks],
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
    return 1 if args.check and not all(ok for ok, _ in checks) else 0


if __name__ == "__main__":
    sys.exit(main(_parse_args()))
