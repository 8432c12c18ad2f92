# %% [markdown]
# # A deep net on handwritten digits
#
# scikit-learn's bundled digits: 1,797 images of 8x8 pixels, the digits 0-9.
# Each image is one column of 64 pixel values in [0, 1], so X is (64, 1797)
# and the labels y are integers of shape (1797,). A 64-128-64-10 net with ReLU
# hidden layers and a softmax output, trained with Adam on minibatches of 32,
# reads about 96% of the 359 held-out test images right (the run prints the
# exact count: 346 of 359 with the full 30 epochs).
#
# The digits come with scikit-learn (no download): `pip install "minigrad[datasets]"`.
# Without it this example says so and stops.
#
# Run: `python examples/04_deep_digits.py`; `MINIGRAD_EXAMPLE_SCALE=0.2` trains
# for a fifth of the epochs.

# %%
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

import minigrad as mg

SCALE = float(os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1"))
EPOCHS = max(2, int(30 * SCALE))
OUT = Path(os.environ.get("MINIGRAD_EXAMPLE_OUT", "minigrad-out/examples"))
DRAW = importlib.util.find_spec("matplotlib") is not None  # pictures need matplotlib

if not mg.datasets.sklearn_available():
    print('skipped: this example needs scikit-learn for its digits; '
          'install it with: pip install "minigrad[datasets]"')
    sys.exit(0)

# %% [markdown]
# ## The data: a held-out test set, stratified so that every digit is in both parts

# %%
X, y = mg.datasets.digits()
X_train, X_test, y_train, y_test = mg.data.train_test_split(
    X, y, test_size=0.2, seed=0, stratify=True)
print(f"digits: X {X.shape}, y {y.shape}; {X_train.shape[1]} for training, "
      f"{X_test.shape[1]} for testing")

# %% [markdown]
# ## The net: three Dense layers, He initialization for the ReLUs
#
# Categorical cross-entropy takes the integer labels directly (no one-hot
# needed), and fuses with the softmax into `dZ3 = A3 - Y`.

# %%
mg.seed(0)
model = mg.Sequential([
    mg.Dense(64, 128, init="he"), mg.ReLU(),
    mg.Dense(128, 64, init="he"), mg.ReLU(),
    mg.Dense(64, 10), mg.Softmax(),
])
model.summary(n_x=64)
loss = mg.losses.CategoricalCrossEntropy()

# %% [markdown]
# ## Training: Adam, minibatches, validation on the test images
#
# `EarlyStopping` keeps the weights of the epoch with the lowest validation
# loss: if all the epochs run, it restores the best of them at the end. Here
# the test images double as the validation set, which flatters the test score
# a little; a careful study would hold out a third set for that choice.

# %%
history = mg.fit(
    model, X_train, y_train,
    loss=loss,
    optimizer=mg.optim.Adam(model.parameters(), lr=1e-3),
    epochs=EPOCHS,
    batch_size=32,
    seed=0,
    validation=(X_test, y_test),
    metrics=["accuracy"],
    callbacks=[mg.EarlyStopping(patience=5)],
    verbose=True,
)

# %% [markdown]
# ## How well does it do, and where does it go wrong?

# %%
scores = mg.evaluate(model, X_test, y_test, loss=loss, metrics=["accuracy"])
n_right = int(np.sum(np.argmax(model.predict(X_test), axis=0) == y_test))
print(f"test accuracy {scores['accuracy']:.1%}: {n_right} of {y_test.size} held-out images "
      f"read right (test loss {scores['loss']:.3f}), with the weights of the best of "
      f"{len(history.epochs)} epochs")
confusion = mg.metrics.confusion_matrix(model.predict(X_test), y_test)
print("confusion matrix (rows: true digit, columns: predicted digit):")
print(confusion)
off_diagonal = confusion - np.diag(np.diag(confusion))
true_digit, predicted_digit = np.unravel_index(np.argmax(off_diagonal), confusion.shape)
print(f"most common mistake: {true_digit} read as {predicted_digit} "
      f"({off_diagonal[true_digit, predicted_digit]} times)")

# %%
if DRAW:
    OUT.mkdir(parents=True, exist_ok=True)
    mg.plot.training_curves(history, path=OUT / "digits_training.png")
    print(f"training curves: {OUT / 'digits_training.png'}")
