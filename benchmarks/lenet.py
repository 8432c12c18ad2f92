"""A LeNet-5-like training step: minigrad next to PyTorch CPU, in one process.

    python benchmarks/lenet.py                 # batch 64 and 256, default threads and 1 thread
    python benchmarks/lenet.py --quick         # fewer rounds (about 20 s)
    python benchmarks/lenet.py --batch 64 --threads default

The net (the same in both, from the same initial weights, float32, 28x28 images):
    Conv2D 1->6 5x5 padding 2, ReLU, MaxPool 2, Conv2D 6->16 5x5, ReLU, MaxPool 2,
    Flatten, Dense 400->120, ReLU, Dense 120->84, ReLU, Dense 84->10,
    softmax cross-entropy on integer labels, plain SGD.

One step is forward, cost, backward (without the gradient of the data, which no
one needs) and the SGD update: in minigrad ``model.forward``, ``loss.forward``,
``model.backward(loss.backward(), input_grad=False)``, ``opt.step()``; in PyTorch
``cross_entropy(net(x), y)``, ``zero_grad``, ``backward``, ``step``. Images are
``(1, 28, 28, m)`` in minigrad and ``(m, 1, 28, 28)`` in PyTorch, converted
before timing. The implementations take turns, round by round (the order
alternates), on the same batches, so a noisy machine slows both alike; the
report gives each one's median step and the median over rounds of the ratio
minigrad / PyTorch within a round. Threads: "default" leaves numpy's BLAS and
PyTorch as a user gets them (PyTorch's threads are set to what numpy's BLAS
uses when they differ, so both get the same); "1" limits both to one thread
(threadpoolctl). After the two warm-up steps, both nets' weights are
compared: they must have computed the same steps.

Targets (issue 10): the ratio at most 1.0 at batch 64 and at most 1.25 at
batch 256, at the default threads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import minigrad as mg

TARGETS = {64: 1.0, 256: 1.25}
LEARNING_RATE = 0.01


def lenet(rng: int = 0) -> mg.Sequential:
    """The net above in minigrad, float32."""
    f32 = np.float32
    return mg.Sequential(
        mg.Conv2D(1, 6, 5, padding=2, init="he", dtype=f32, rng=rng), mg.ReLU(), mg.MaxPool2D(2),
        mg.Conv2D(6, 16, 5, init="he", dtype=f32, rng=rng + 1), mg.ReLU(), mg.MaxPool2D(2),
        mg.Flatten(),
        mg.Dense(400, 120, init="he", dtype=f32, rng=rng + 2), mg.ReLU(),
        mg.Dense(120, 84, init="he", dtype=f32, rng=rng + 3), mg.ReLU(),
        mg.Dense(84, 10, dtype=f32, rng=rng + 4),
    )


def torch_lenet(model: mg.Sequential) -> Any:
    """The same net in PyTorch, holding copies of ``model``'s weights."""
    import torch
    from torch import nn

    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    ours = [layer for layer in model if isinstance(layer, mg.Conv2D | mg.Dense)]
    theirs = [layer for layer in net if isinstance(layer, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        for mine, other in zip(ours, theirs, strict=True):
            other.weight.copy_(torch.from_numpy(mine.W.copy()))
            other.bias.copy_(torch.from_numpy(mine.b.reshape(-1).copy()))
    return net


def minigrad_step(model: mg.Sequential) -> Callable[[np.ndarray, np.ndarray], None]:
    loss = mg.losses.CategoricalCrossEntropy(from_logits=True)
    opt = mg.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    def step(X: np.ndarray, y: np.ndarray) -> None:
        loss.forward(model.forward(X), y)
        model.backward(loss.backward(), input_grad=False)
        opt.step()

    return step


def torch_step(net: Any) -> Callable[[Any, Any], None]:
    import torch
    import torch.nn.functional as F

    opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)

    def step(x: Any, y: Any) -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    return step


def batches(m: int, n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` batches of ``m`` random 28x28 float32 images in [0, 1) with labels 0-9."""
    rng = np.random.default_rng(seed)
    return [(rng.random((1, 28, 28, m), dtype=np.float32), rng.integers(0, 10, m))
            for _ in range(n)]


@contextmanager
def thread_limit(threads: str) -> Iterator[None]:
    """Both libraries at one thread, or as they come ("default"); PyTorch's thread count
    (which also sets OpenMP's) is put back afterwards."""
    import torch

    before = torch.get_num_threads()
    try:
        if threads == "default":
            blas = _blas_threads()
            if blas is not None and before != blas:
                torch.set_num_threads(blas)
            yield
        else:
            from threadpoolctl import threadpool_limits

            torch.set_num_threads(int(threads))
            with threadpool_limits(limits=int(threads)):
                yield
    finally:
        torch.set_num_threads(before)


def _blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return counts[0] if counts else None


def run(m: int, threads: str, rounds: int, steps: int) -> dict[str, float]:
    """Time both at batch ``m``; return medians (seconds per step) and the median ratio."""
    import torch

    data = batches(m, steps)
    torch_data = [(torch.from_numpy(np.ascontiguousarray(X.transpose(3, 0, 1, 2))),
                   torch.from_numpy(y)) for X, y in data]
    model = lenet()
    net = torch_lenet(model)
    ours, theirs = minigrad_step(model), torch_step(net)
    times: dict[str, list[float]] = {"minigrad": [], "torch": []}
    with thread_limit(threads):
        for X, y in data[:2]:  # warm-up, also on the same batches for both
            ours(X, y)
        for x, y in torch_data[:2]:
            theirs(x, y)
        _check_same(model, net)  # two steps from the same weights: the same numbers
        for r in range(rounds):
            order = ("minigrad", "torch") if r % 2 == 0 else ("torch", "minigrad")
            for name in order:
                step, batch = (ours, data) if name == "minigrad" else (theirs, torch_data)
                start = time.perf_counter()
                for X, y in batch:
                    step(X, y)
                times[name].append((time.perf_counter() - start) / len(batch))
    ratios = [a / b for a, b in zip(times["minigrad"], times["torch"], strict=True)]
    return {
        "minigrad": statistics.median(times["minigrad"]),
        "torch": statistics.median(times["torch"]),
        "ratio": statistics.median(ratios),
    }


def _check_same(model: mg.Sequential, net: Any) -> None:
    """Both took the same steps: the weights agree to float32 accuracy.

    Checked after the warm-up steps only: over hundreds of float32 steps the
    two drift apart by rounding (sums in another order), as any two libraries do.
    """
    from torch import nn

    ours = [layer for layer in model if isinstance(layer, mg.Conv2D | mg.Dense)]
    theirs = [layer for layer in net if isinstance(layer, nn.Conv2d | nn.Linear)]
    for mine, other in zip(ours, theirs, strict=True):
        W = other.weight.detach().numpy()
        if not np.allclose(mine.W, W, rtol=1e-3, atol=1e-4):
            worst = float(np.abs(mine.W - W).max())
            raise SystemExit(f"lenet: {mine!r} and {other} disagree after training "
                             f"(largest difference {worst:.3g})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", nargs="+", default=["default", "1"],
                        help='"default" and/or a number of threads (default: default 1)')
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target at the default threads does not hold")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("lenet: PyTorch is not installed; nothing to compare with")
        return 0
    print(f"numpy {np.__version__}, torch {torch.__version__}, "
          f"BLAS threads {_blas_threads()}, torch threads {torch.get_num_threads()}")
    print(f"{'batch':>5} {'threads':>8} {'minigrad ms':>12} {'torch ms':>9} {'ratio':>6} target")
    failed = False
    for threads in args.threads:
        for m in args.batch:
            rounds = args.rounds or (5 if args.quick else 11)
            steps = max(2, (40 if args.quick else 120) * 64 // (m * 4))
            result = run(m, threads, rounds, steps)
            target = TARGETS.get(m) if threads == "default" else None
            verdict = "" if target is None else (
                f"<= {target}: {'ok' if result['ratio'] <= target else 'MISSED'}")
            failed |= target is not None and result["ratio"] > target
            print(f"{m:>5} {threads:>8} {1e3 * result['minigrad']:>12.2f} "
                  f"{1e3 * result['torch']:>9.2f} {result['ratio']:>6.2f} {verdict}")
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
