# %% [markdown]
# # How many hidden units does the flower need?
#
# The notes' planar set cannot be split by a line: logistic regression (no
# hidden layer) gets under 50%. A tanh hidden layer bends the boundary. This
# example trains the 2-n_h-1 net for n_h in 1, 2, 3, 4, 5, 20, 50 and prints
# the training accuracy of each, next to the no-hidden-layer baseline. The
# hidden nets start from the tutorial's own weights (numpy's legacy generator
# seeded with 2, times 0.01), so at full size the table is the tutorial's:
# 67.5%, 67.25%, 90.75%, 90.5%, 91.25% for 1 to 5 hidden units.
# Pictures of each decision boundary go to `minigrad-out/examples/`
# (or `$MINIGRAD_EXAMPLE_OUT`).
#
# Run: `python examples/02_planar_hidden_sweep.py`; `MINIGRAD_EXAMPLE_SCALE=0.1`
# trains for a tenth of the epochs.

# %%
import importlib.util
import os
import time
from pathlib import Path

import numpy as np

import minigrad as mg

SCALE = float(os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1"))
EPOCHS = max(20, int(5_000 * SCALE))
OUT = Path(os.environ.get("MINIGRAD_EXAMPLE_OUT", "minigrad-out/examples"))
DRAW = importlib.util.find_spec("matplotlib") is not None  # pictures need matplotlib

X, Y = mg.datasets.planar(seed=1)
print(f"planar data: X {X.shape}, Y {Y.shape}; {EPOCHS} epochs of gradient descent per net")


# %%
def train(n_h):
    """A 2-n_h-1 net (no hidden layer for n_h=0), trained with full-batch gradient descent."""
    mg.seed(3)
    if n_h == 0:
        net = mg.Sequential([mg.Dense(2, 1, init="normal"), mg.Sigmoid()])
    else:
        net = mg.Sequential([mg.Dense(2, n_h), mg.Tanh(), mg.Dense(n_h, 1), mg.Sigmoid()])
        tutorial = np.random.RandomState(2)  # the tutorial's draw: W1 first, then W2
        net[0].W[...] = tutorial.randn(n_h, 2) * 0.01
        net[2].W[...] = tutorial.randn(1, n_h) * 0.01
    mg.fit(net, X, Y, loss="binary_crossentropy",
           optimizer=mg.optim.SGD(net.parameters(), lr=1.2), epochs=EPOCHS, verbose=False)
    return net


# %%
if DRAW:
    OUT.mkdir(parents=True, exist_ok=True)
results = {}
for n_h in [0, 1, 2, 3, 4, 5, 20, 50]:
    start = time.perf_counter()
    net = train(n_h)
    results[n_h] = mg.evaluate(net, X, Y, metrics=["accuracy"])["accuracy"]
    seconds = time.perf_counter() - start
    label = "no hidden layer" if n_h == 0 else f"{n_h:>2} hidden unit" + ("s" if n_h > 1 else "")
    print(f"{label:<16} accuracy {results[n_h]:7.2%}   ({seconds:.1f} s)")
    if DRAW:
        mg.plot.decision_boundary(net, X, Y, path=OUT / f"planar_hidden_{n_h}.png",
                                  title=f"{label}: accuracy {results[n_h]:.1%}", resolution=120)

# %% [markdown]
# A few hidden units already capture the petals; many more fit the training
# points a little better, with a more ragged boundary (look at the pictures).

# %%
best = max(results, key=results.get)
print(f"best: {best} hidden units, accuracy {results[best]:.1%} "
      f"(logistic regression {results[0]:.1%})")
if DRAW:
    print(f"pictures in {OUT}/")
