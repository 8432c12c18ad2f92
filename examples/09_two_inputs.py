# %% [markdown]
# # Two inputs, one shared encoder: are these two digits the same?
#
# A siamese net takes two images and says whether they show the same digit.
# Both images go through **one** encoder (the same Dense layer object, called
# on two input nodes, so one set of weights); the two codes are merged, and a
# small head gives the probability of "same".
#
#     left, right        two inputs of 64 pixels
#     e_l, e_r           the shared encoder on each: tanh(W x + b)
#     merged             [e_l * e_r ; e_l + e_r]   (Multiply, Add, Concat)
#     p                  sigmoid(Dense(tanh(Dense(merged))))
#
# Both merges are symmetric, so swapping the images cannot change the answer.
# The encoder's gradient is the sum of what comes back through each use.
#
# The digits come with scikit-learn (no download): `pip install "minigrad[datasets]"`.
# Without it this example says so and stops.
#
# Run: `python examples/09_two_inputs.py`; `MINIGRAD_EXAMPLE_SCALE=0.2` trains
# for a fifth of the epochs.

# %%
import os
import sys

import numpy as np

import minigrad as mg

SCALE = float(os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1"))
EPOCHS = max(3, int(20 * SCALE))

if not mg.datasets.sklearn_available():
    print('skipped: this example needs scikit-learn for its digits; '
          'install it with: pip install "minigrad[datasets]"')
    sys.exit(0)

# %% [markdown]
# ## Pairs of images: half the same digit, half different
#
# Test pairs are drawn from test images only, so the net is judged on
# digits it never saw.

# %%
X, y = mg.datasets.digits()
X_train, X_test, y_train, y_test = mg.data.train_test_split(
    X, y, test_size=0.2, seed=0, stratify=True)


def pairs(X: np.ndarray, y: np.ndarray, m: int, seed: int) -> tuple[dict, np.ndarray]:
    """m pairs of columns of X; label 1 where both show the same digit (half of them)."""
    rng = np.random.default_rng(seed)
    first = rng.integers(y.size, size=m)
    same = rng.random(m) < 0.5
    second = np.empty(m, dtype=np.int64)
    for k, (i, s) in enumerate(zip(first, same, strict=True)):
        candidates = np.flatnonzero((y == y[i]) if s else (y != y[i]))
        second[k] = rng.choice(candidates)
    return {"left": X[:, first], "right": X[:, second]}, same.astype(np.float64)[None, :]


train_pairs, train_same = pairs(X_train, y_train, 4000, seed=1)
test_pairs, test_same = pairs(X_test, y_test, 1000, seed=2)
print(f"{train_same.shape[1]} training pairs ({train_same.mean():.0%} same), "
      f"{test_same.shape[1]} test pairs from held-out images")

# %% [markdown]
# ## The graph: one encoder called on two inputs

# %%
mg.seed(0)
left, right = mg.Input(64, name="left"), mg.Input(64, name="right")
encoder = mg.Dense(64, 32)
e_left, e_right = mg.Tanh()(encoder(left)), mg.Tanh()(encoder(right))
merged = mg.Concat()([mg.Multiply()([e_left, e_right]), mg.Add()([e_left, e_right])])
p_same = mg.Sigmoid()(mg.Dense(16, 1)(mg.Tanh()(mg.Dense(64, 16)(merged))))
model = mg.Graph(inputs=[left, right], outputs=p_same)
model.summary()

# %% [markdown]
# ## Training: Adam on minibatches of 64, the inputs given as a dict by name
#
# `mg.fit` slices every input on its last axis with the same shuffled order;
# each step runs forward on both inputs, the loss, and backward. The shared
# encoder's dW is the sum over its two uses.

# %%
loss = mg.losses.BinaryCrossEntropy()
history = mg.fit(
    model, train_pairs, train_same, loss=loss,
    optimizer=mg.optim.Adam(model.parameters(), lr=3e-3),
    epochs=EPOCHS, batch_size=64, seed=0, verbose=False,
)
print(f"training loss: epoch 1 {history['loss'][0]:.3f}, "
      f"epoch {EPOCHS} {history['loss'][-1]:.3f}")

# %% [markdown]
# ## How well does it tell digits apart, and is it symmetric?

# %%
scores = mg.evaluate(model, test_pairs, test_same, loss=loss, metrics=["accuracy"])
accuracy = scores["accuracy"]
p = model.predict(test_pairs)
swapped = model.predict({"left": test_pairs["right"], "right": test_pairs["left"]})
print(f"test accuracy on pairs of unseen images {accuracy:.1%} (chance: 50%)")
print(f"swapping the two images changes the answer by at most {np.abs(p - swapped).max():.1e}")
print(f"one encoder: {len(model.parameters())} parameter arrays, "
      f"{model.n_parameters():,} numbers (the encoder counted once)")
