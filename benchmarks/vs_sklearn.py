"""minigrad's mg.fit + Adam against scikit-learn's MLPClassifier on the digits data set.

The same split, the same standardization, the same architecture (64-100-10, ReLU,
softmax cross-entropy, Adam at lr 1e-3), each library with its usual training loop:
scikit-learn's defaults (batch 200, up to 200 epochs, early stop on a training-loss
plateau) and minigrad with batch 32 for a fixed 40 epochs. Repeats with several
seeds, alternating the two, and prints medians, min/max and the time ratio.

    pip install -e '.[datasets]'       # scikit-learn
    python benchmarks/vs_sklearn.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import minigrad as mg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    try:
        from sklearn.datasets import load_digits
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import train_test_split
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise SystemExit("needs scikit-learn: pip install -e '.[datasets]'") from None

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-12
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels")

    rows: dict[str, list[tuple[float, float]]] = {"scikit-learn": [], "minigrad": []}
    for seed in range(args.repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = MLPClassifier(hidden_layer_sizes=(100,), random_state=seed)
            clf.fit(X_train, y_train)
        rows["scikit-learn"].append((clf.score(X_test, y_test), time.perf_counter() - start))

        mg.seed(seed)
        net = mg.Sequential([mg.Dense(64, 100, init="he"), mg.ReLU(), mg.Dense(100, 10)])
        start = time.perf_counter()
        mg.fit(net, X_train.T, y_train, optimizer=mg.optim.Adam(net.parameters(), lr=1e-3),
               loss=mg.losses.CategoricalCrossEntropy(from_logits=True), epochs=args.epochs,
               batch_size=32, seed=seed, verbose=False)
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(net.predict(X_test.T).argmax(axis=0) == y_test))
        rows["minigrad"].append((accuracy, seconds))

    print(f"{'':<14}{'test accuracy (median, min-max)':<34}training seconds (median, min-max)")
    for name, results in rows.items():
        acc = [a for a, _ in results]
        sec = [s for _, s in results]
        print(f"{name:<14}{statistics.median(acc):.4f} ({min(acc):.4f}-{max(acc):.4f})"
              f"{'':<11}{statistics.median(sec):.3f} ({min(sec):.3f}-{max(sec):.3f})")
    ratios = [m[1] / s[1] for m, s in zip(rows["minigrad"], rows["scikit-learn"], strict=True)]
    print(f"time ratio minigrad / scikit-learn: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}) over {args.repeats} seeds")


if __name__ == "__main__":
    main()
