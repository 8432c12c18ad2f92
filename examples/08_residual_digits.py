# %% [markdown]
# # Residual connections on handwritten digits
#
# A deep stack of Dense-Tanh blocks learns slowly: the gradient reaching the
# first layers has passed through every block's Jacobian and shrinks on the
# way. A residual block adds its input to its output, `h_next = tanh(h + f(h))`,
# so backward gets a second path around each block (`dh = dr + f'(dr)`: the
# gradients add where paths fork) and the early layers keep learning.
#
# Two graphs with the same 8 blocks, the same layers and the same initial
# weights, one with skip connections and one without, trained identically
# with SGD on scikit-learn's digits. The example prints the gradient that
# reaches the first layer at the start, and the test accuracy of each.
#
# The digits come with scikit-learn (no download): `pip install "minigrad[datasets]"`.
# Without it this example says so and stops.
#
# Run: `python examples/08_residual_digits.py`; `MINIGRAD_EXAMPLE_SCALE=0.2` trains
# for a fifth of the epochs.

# %%
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

import minigrad as mg

SCALE = float(os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1"))
EPOCHS = max(3, int(10 * SCALE))
BLOCKS = 8
OUT = Path(os.environ.get("MINIGRAD_EXAMPLE_OUT", "minigrad-out/examples"))
DRAW = importlib.util.find_spec("matplotlib") is not None  # pictures need matplotlib

if not mg.datasets.sklearn_available():
    print('skipped: this example needs scikit-learn for its digits; '
          'install it with: pip install "minigrad[datasets]"')
    sys.exit(0)

# %% [markdown]
# ## The data: 8x8 images as columns of 64 pixels, a stratified test set

# %%
X, y = mg.datasets.digits()
X_train, X_test, y_train, y_test = mg.data.train_test_split(
    X, y, test_size=0.2, seed=0, stratify=True)
print(f"digits: {X_train.shape[1]} training and {X_test.shape[1]} test images of "
      f"{X.shape[0]} pixels")

# %% [markdown]
# ## Two graphs from one recipe
#
# Each block is `f(h) = Dense(tanh(Dense(h)))`. With `skip=True` the block's
# output is `tanh(h + f(h))`, made with `mg.Add`; without, it is `tanh(f(h))`.
# `mg.seed(0)` before each build gives both the same initial weights.

# %%


def build(skip: bool) -> mg.Graph:
    mg.seed(0)
    x = mg.Input(64, name="pixels")
    h = mg.Tanh()(mg.Dense(64, 32)(x))
    for _ in range(BLOCKS):
        f = mg.Dense(32, 32)(mg.Tanh()(mg.Dense(32, 32)(h)))
        h = mg.Tanh()(mg.Add()([h, f]) if skip else f)
    return mg.Graph(inputs=x, outputs=mg.Softmax()(mg.Dense(32, 10)(h)))


nets = {"with skips": build(skip=True), "without skips": build(skip=False)}
first = {name: net.parameters()[0] for name, net in nets.items()}
assert np.array_equal(first["with skips"].value, first["without skips"].value)
print(f"{BLOCKS} blocks, {nets['with skips'].n_parameters():,} parameters in each net")

# %% [markdown]
# ## The gradient that reaches the first layer, before any training
#
# One forward and backward pass on the training set: `||dW1||` is the size of
# the first Dense layer's weight gradient.

# %%
loss = mg.losses.CategoricalCrossEntropy()
for name, net in nets.items():
    loss.forward(net.forward(X_train), y_train)
    net.backward(loss.backward())
    print(f"{name:14s} ||dW1|| at the start {np.linalg.norm(first[name].grad):.2e}")

# %% [markdown]
# ## Training both the same way: SGD, minibatches of 32, the same shuffles

# %%
histories = {}
for name, net in nets.items():
    histories[name] = mg.fit(
        net, X_train, y_train, loss=loss,
        optimizer=mg.optim.SGD(net.parameters(), lr=0.05),
        epochs=EPOCHS, batch_size=32, seed=0, verbose=False,
    )
for name, net in nets.items():
    scores = mg.evaluate(net, X_test, y_test, loss=loss, metrics=["accuracy"])
    print(f"{name:14s} after {EPOCHS} epochs: training loss {histories[name]['loss'][-1]:.3f}, "
          f"test accuracy {scores['accuracy']:.1%}")

# %%
if DRAW:
    OUT.mkdir(parents=True, exist_ok=True)
    mg.plot.training_curves(histories["with skips"], path=OUT / "residual_training.png")
    print(f"training curves (with skips): {OUT / 'residual_training.png'}")
