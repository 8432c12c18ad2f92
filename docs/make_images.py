"""Draw the pictures in docs/images/ (the README's and the docs pages').

    python docs/make_images.py                 write them into docs/images/
    python docs/make_images.py --out DIR       somewhere else
    python docs/make_images.py --epochs 200    a quick run (the pictures get worse)

planar_boundary.png and planar_loss.png are exactly what ``minigrad demo``
draws: the notes' 2-4-1 tanh net on the planar set. The others show the
generated data sets, an activation with its derivative (and one with a wrong
derivative), a regression fit and a layer graph.
Needs matplotlib (``pip install -e ".[plot]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad.demos import DEMOS, run

IMAGES = Path(__file__).resolve().parent / "images"


def demo_pictures(out: Path, epochs: int | None) -> list[Path]:
    """The planar demo's decision boundary and training curves, as ``minigrad demo`` draws them."""
    result = run(DEMOS["planar"], epochs=epochs, out=out, verbose=False, report=lambda line: None)
    return list(result.images)


def datasets_picture(path: Path) -> Path:
    """The generated two-feature data sets side by side, coloured by class."""
    from matplotlib.figure import Figure

    sets = [
        ("planar()", mg.datasets.planar()),
        ("moons()", mg.datasets.moons()),
        ("circles()", mg.datasets.circles()),
        ("spirals()", mg.datasets.spirals()),
        ("xor()", mg.datasets.xor()),
    ]
    fig = Figure(figsize=(15.0, 3.2), dpi=80)
    axes = fig.subplots(1, len(sets))
    for ax, (name, (X, Y)) in zip(axes, sets, strict=True):
        labels = Y.reshape(-1)
        for k in range(int(labels.max()) + 1):
            chosen = labels == k
            ax.scatter(X[0, chosen], X[1, chosen], s=8, color=mg.plot.CLASS_COLORS[k])
        ax.set_title(f"mg.datasets.{name}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    return path


def regression_picture(path: Path, epochs: int) -> Path:
    """A 1-32-1 tanh net fitted to ``mg.datasets.curve()``."""
    X, Y = mg.datasets.curve()
    mg.seed(0)
    net = mg.Sequential([mg.Dense(1, 32), mg.Tanh(), mg.Dense(32, 1)])
    mg.fit(net, X, Y, loss="mse", optimizer=mg.optim.Adam(net.parameters(), lr=0.01),
           epochs=epochs, verbose=False)
    mg.plot.fit_curve(net, X, Y, path=path, title="a 1-32-1 tanh net on mg.datasets.curve()")
    return path


class BrokenBentIdentity(mg.Activation):
    """docs/custom-activation.md's bent identity with the slip: g' forgets the / 2."""

    def g(self, Z: np.ndarray) -> np.ndarray:
        out: np.ndarray = (np.sqrt(Z * Z + 1) - 1) / 2 + Z
        return out

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        out: np.ndarray = Z / np.sqrt(Z * Z + 1) + 1
        return out


def graph_picture(path: Path) -> Path:
    """The residual graph of docs/graphs.md, drawn by mg.plot.graph."""
    x = mg.Input(2, name="x")
    h = mg.Tanh()(mg.Dense(2, 8, rng=0)(x))
    r = mg.Add()([h, mg.Tanh()(mg.Dense(8, 8, rng=1)(h))])
    model = mg.Graph(inputs=x, outputs=mg.Sigmoid()(mg.Dense(8, 1, rng=2)(r)))
    mg.plot.graph(model, path=path, dpi=80)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder (default docs/images)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs for the trained nets (default: the demo's 10000)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = demo_pictures(args.out, args.epochs)
    written.append(datasets_picture(args.out / "datasets.png"))
    mg.plot.activation(mg.Tanh(), path=args.out / "tanh.png")
    written.append(args.out / "tanh.png")
    mg.plot.activation(BrokenBentIdentity(), path=args.out / "broken_bent_identity.png")
    written.append(args.out / "broken_bent_identity.png")
    written.append(regression_picture(args.out / "regression_fit.png",
                                      args.epochs if args.epochs is not None else 2000))
    written.append(graph_picture(args.out / "graph.png"))
    for path in written:
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
