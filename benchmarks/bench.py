"""Training speed and memory: minigrad next to hand-written numpy, PyTorch and the GEMM bound.

    python benchmarks/bench.py               # every configuration, under five minutes
    python benchmarks/bench.py --quick       # the same configurations, about a minute
    python benchmarks/bench.py --config planar mnist-b128-f32 --threads 2
    python benchmarks/bench.py --plot        # also draw docs/performance.png (matplotlib)

Every implementation trains the same net from the same initial weights on the
same batches, in one process. They take turns: round r runs each of them for
the same number of steps (the order rotates every round), so a noisy machine
slows them all alike. Reported per step: the median, min and max over the
rounds, and the median over rounds of the ratio to hand-written numpy in the
same round. After timing, the final weights of each implementation are
compared with numpy's: they must have computed the same thing.

Implementations:
  numpy      the net by hand, in the notes' style: Z = W A + b, A = g(Z), the cost
             every step, dZ = A - Y, dW = (1/m) dZ A^T, W = W - lr dW.
  minigrad   the public API, a manual loop: model.forward, loss.forward,
             model.backward(loss.backward(), input_grad=False), opt.step().
  mg logits  (planar only) the same without the Sigmoid layer, with
             BinaryCrossEntropy(from_logits=True).
  mg plain   the manual loop with plain model.backward(loss.backward()), which
             also computes the data's gradient W1^T dZ1 that training never uses
             (shown for information; not a target).
  mg.fit     mg.fit(..., shuffle=False) called once per round on that round's
             batches, so its one-off input checks count in full.
  torch      PyTorch CPU, nn.Sequential + torch.optim.SGD, idiomatic fused losses
             (BCEWithLogitsLoss, cross_entropy), the same number of threads.
  GEMM       only the matrix products of one step: W A forward, dZ A^T and W^T dZ
             backward (not W^T dZ for the first layer, which no one needs).

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
    parser.add_argument("--config", nargs="+", metavar="NAME", choices=CONFIG_NAMES,
                        help=f"run only these: {', '.join(CONFIG_NAMES)}")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP threads for every implementation (default 1)")
    parser.add_argument("--rounds", type=int, help="rounds per configuration")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory checks")
    parser.add_argument("--plot", nargs="?", const="docs/performance.png", metavar="PATH",
                        help="draw the ratios with matplotlib (default docs/performance.png)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when a target does not hold")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


CONFIG_NAMES = [
    "planar",
    "mnist-b32-f32", "mnist-b32-f64", "mnist-b128-f32", "mnist-b128-f64",
    "mnist-b1024-f32", "mnist-b1024-f64",
    "deep",
]

if __name__ == "__main__":
    ARGS = _parse_args()
    # before numpy (or torch) loads its BLAS: every implementation gets the same threads
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(ARGS.threads)

import datetime
import gc
import json
import math
import platform
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minigrad as mg
import minigrad.optim
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, MeanSquaredError

try:
    import threadpoolctl
except ImportError:  # optional: the `bench` extra installs it
    threadpoolctl = None

Runner = Callable[[int], None]

# -- configurations ------------------------------------------------------------------


@dataclass
class Config:
    name: str
    title: str
    kind: str  # "planar", "mnist" or "deep"
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
                         steps=500 if quick else 1000, rounds=6 if quick else 10),
        "deep": Config("deep", "ten Dense(64) + ReLU, MSE, batch 32, float64", "deep",
                       [64] * 11, np.float64, 32, 0.01),
    }
    for batch in (32, 128, 1024):
        for bits, dtype in ((32, np.float32), (64, np.float64)):
            name = f"mnist-b{batch}-f{bits}"
            configs[name] = Config(
                name, f"784-256-128-10 ReLU, softmax CE, batch {batch}, float{bits}",
                "mnist", [784, 256, 128, 10], dtype, batch, 0.1)
    return configs


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


def minigrad_model(cfg: Config, logits: bool = False) -> tuple[mg.Sequential, Any]:
    layers: list[mg.Layer] = []
    weights = initial_weights(cfg)
    for i, (W, b) in enumerate(weights):
        dense = mg.Dense(W.shape[1], W.shape[0], dtype=cfg.dtype)
        dense.W[...] = W
        dense.b[...] = b
        layers.append(dense)
        if i < len(weights) - 1:
            layers.append(mg.Tanh() if cfg.kind == "planar" else mg.ReLU())
    if cfg.kind == "planar":
        if not logits:
            layers.append(mg.Sigmoid())
        loss: Any = BinaryCrossEntropy(from_logits=logits)
    elif cfg.kind == "mnist":
        layers.append(mg.Softmax())
        loss = CategoricalCrossEntropy()
    else:
        loss = MeanSquaredError()
    return mg.Sequential(layers), loss


def minigrad_impl(cfg: Config, data: Data, logits: bool = False,
                  input_grad: bool = False) -> Impl:
    model, loss = minigrad_model(cfg, logits)
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


def dense_weights(model: mg.Sequential) -> list[np.ndarray]:
    return [layer.W for layer in model if isinstance(layer, mg.Dense)]


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
    model = nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    Xr = torch.from_numpy(np.ascontiguousarray(data.X.T))  # examples as rows, as torch wants
    cursor = Cursor(data.X.shape[1], cfg.batch)
    B = cursor.batch
    if cfg.kind == "planar":
        Yr = torch.from_numpy(np.ascontiguousarray(data.Y.T))
        lossf: Callable[..., Any] = nn.BCEWithLogitsLoss()
    elif cfg.kind == "mnist":
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
        return [m.weight.detach().numpy() for m in model if isinstance(m, nn.Linear)]

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


def implementations(cfg: Config, data: Data, with_torch: bool) -> dict[str, Impl]:
    impls = {"numpy": numpy_impl(cfg, data), "minigrad": minigrad_impl(cfg, data)}
    if cfg.kind == "planar":
        impls["mg logits"] = minigrad_impl(cfg, data, logits=True)
    impls["mg.fit"] = fit_impl(cfg, data)
    impls["mg plain"] = minigrad_impl(cfg, data, input_grad=True)
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


def calibrate(cfg: Config, run: Runner, quick: bool) -> tuple[int, int]:
    """Steps per round (so that numpy's round takes ~0.4 s, 0.15 s quick) and rounds."""
    rounds = cfg.rounds or (5 if quick else 9)
    if cfg.steps:
        return cfg.steps, rounds
    per_step = min(timed(run, 3) for _ in range(2))
    target = 0.15 if quick else 0.4
    n_batches = Cursor(60_000 if cfg.kind == "mnist" else 8192, cfg.batch).n_batches
    return max(3, min(n_batches, round(target / per_step))), rounds


def interleave(impls: dict[str, Impl], steps: int, rounds: int) -> dict[str, list[float]]:
    names = list(impls)
    for name in names:  # warm-up: caches, first allocations, lazy imports
        impls[name].run(2)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(impls[name].run, steps))
    return times


@dataclass
class Result:
    cfg: Config
    steps: int
    rounds: int
    times: dict[str, list[float]]
    agreement: dict[str, float] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return float(np.median(self.times[name]))

    def ratio(self, name: str, to: str = "numpy") -> float:
        """Median over rounds of this round's time over ``to``'s time in the same round."""
        a, b = np.array(self.times[name]), np.array(self.times[to])
        return float(np.median(a / b))


def run_config(cfg: Config, args: argparse.Namespace) -> Result:
    data = data_for(cfg)
    impls = implementations(cfg, data, with_torch=TORCH is not None and not args.no_torch)
    steps, rounds = calibrate(cfg, numpy_impl(cfg, data).run, args.quick)  # a spare copy
    if args.rounds:
        rounds = args.rounds
    times = interleave(impls, steps, rounds)
    result = Result(cfg, steps, rounds, times)
    result.agreement = agreement(cfg, data, with_torch="torch" in impls)
    return result


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


def machine_info(threads: int) -> list[str]:
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
    lines.append(f"threads: {threads} for every implementation (OPENBLAS/OMP/MKL_NUM_THREADS)")
    return lines


def table(result: Result, markdown: bool = False) -> list[str]:
    cfg = result.cfg
    unit, scale = ("us", 1e6)
    head = (f"{cfg.name}: {cfg.title}; {result.rounds} rounds x {result.steps} steps "
            f"per implementation, times per step")
    names = list(result.times)
    rows = []
    for name in names:
        t = np.array(result.times[name]) * scale
        ratio = result.ratio(name)
        vs_gemm = result.ratio(name, "GEMM") if name != "GEMM" else 1.0
        agree = result.agreement.get(name)
        rows.append([
            name, f"{np.median(t):,.1f}", f"{t.min():,.1f}", f"{t.max():,.1f}",
            f"{ratio:.3f}", f"{vs_gemm:.2f}",
            "" if agree is None else f"{agree:.0e}",
        ])
    cols = ["implementation", f"median {unit}", f"min {unit}", f"max {unit}",
            "/ numpy", "/ GEMM", "W vs numpy"]
    if markdown:
        lines = [f"**{head}**", "", "| " + " | ".join(cols) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return lines
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return [head, "  " + fmt.format(*cols), *("  " + fmt.format(*r) for r in rows)]


def targets(results: list[Result], memory: dict[str, Any], f32_bad: list[str] | None,
            ) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    for r in results:
        for name in ("minigrad", "mg logits", "mg.fit"):
            if name in r.times:
                x = r.ratio(name)
                checks.append((x <= 1.10, f"{r.cfg.name}: {name} / numpy = {x:.3f} (<= 1.10)"))
        if "torch" in r.times and (r.cfg.kind == "planar" or (
                r.cfg.dtype == np.float32 and (r.cfg.batch or 0) <= 128)):
            for name in ("minigrad", "mg logits"):
                if name in r.times:
                    x = r.ratio(name, "torch")
                    checks.append((x < 1.0, f"{r.cfg.name}: {name} / torch = {x:.3f} (< 1)"))
        if r.cfg.batch == 1024:
            x = r.ratio("minigrad", "GEMM")
            checks.append((x <= 1.15, f"{r.cfg.name}: minigrad / GEMM = {x:.3f} (<= 1.15)"))
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


def plot(results: list[Result], path: str) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
    except ImportError:
        return "plot: matplotlib is not installed; skipped"
    order = ["minigrad", "mg logits", "mg.fit", "torch", "GEMM"]
    colors = dict(zip(order, ["tab:blue", "tab:cyan", "tab:green", "tab:red", "tab:gray"],
                      strict=True))
    rows: list[tuple[float, str, float]] = []  # (y, implementation, ratio)
    ticks: list[tuple[float, str]] = []
    y = 0.0
    for r in results:
        names = [n for n in order if n in r.times]
        ticks.append((y + (len(names) - 1) / 2, r.cfg.name))
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
    ax.set_title("minigrad vs hand-written numpy, PyTorch CPU and the GEMM bound", fontsize=10)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"plot: {path}"


def main(args: argparse.Namespace) -> int:
    global TORCH
    started = time.perf_counter()
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(args.threads)
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
            TORCH = torch
        except ImportError:
            TORCH = None
    configs = make_configs(args.quick)
    chosen = args.config or CONFIG_NAMES
    out: list[str] = machine_info(args.threads)
    print("\n".join(out), flush=True)
    results = []
    for name in chosen:
        result = run_config(configs[name], args)
        results.append(result)
        block = ["", *table(result)]
        agree = ", ".join(f"{k} {v:.0e}" for k, v in result.agreement.items())
        block.append(f"  weights after 20 steps vs numpy's (max |difference| / max |W|): {agree}")
        print("\n".join(block), flush=True)
        out += block
    memory: dict[str, Any] = {}
    f32_bad = None
    mem_block: list[str] = []
    if not args.no_memory:
        epochs, m = (2, 60_000) if args.quick else (3, 60_000)
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
    checks = targets(results, memory, f32_bad)
    block = ["", "targets:"] + [f"  {'PASS' if ok else 'FAIL'}  {text}" for ok, text in checks]
    block.append(f"\ntotal time {time.perf_counter() - started:.0f} s")
    print("\n".join(block), flush=True)
    if args.plot:
        print(plot(results, args.plot))
    if args.markdown:
        md = ["```text", *machine_info(args.threads), "```"]
        for r in results:
            md += ["", *table(r, markdown=True)]
        md += ["", "```text", *mem_block, "", *block[1:-1], "```"]
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("\n".join(md) + "\n")
    if args.json:
        payload = {
            "machine": machine_info(args.threads),
            "results": [{"config": r.cfg.name, "title": r.cfg.title, "steps": r.steps,
                         "rounds": r.rounds, "seconds_per_step": r.times,
                         "ratio_to_numpy": {n: r.ratio(n) for n in r.times},
                         "weights_vs_numpy": r.agreement} for r in results],
            "memory": memory,
            "float32_violations": f32_bad,
            "targets": [{"pass": ok, "check": text} for ok, text in checks],
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
    return 1 if args.check and not all(ok for ok, _ in checks) else 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
