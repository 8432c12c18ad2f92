# %% [markdown]
# # Dropout and batch normalization
#
# Two layers that behave differently while training and while predicting:
#
# * `mg.Dropout(rate)` zeroes a random fraction `rate` of its inputs on each
#   training batch and scales the rest by 1 / (1 - rate); when predicting it
#   passes everything through.
# * `mg.BatchNorm(n)` normalizes each feature over the batch (mean 0, variance
#   1), then scales and shifts it by learned `gamma` and `beta`; when predicting
#   it uses running averages of the batch statistics instead.
#
# `mg.fit` trains in training mode; `predict` and `mg.evaluate` switch to eval
# mode (`model.eval()`) and back. Here a 2-64-64-3 ReLU net with both layers
# learns three spiral arms, beside the same net without them.
#
# Run: `python examples/06_dropout_batchnorm.py`; `MINIGRAD_EXAMPLE_SCALE=0.2`
# trains for a fifth of the epochs. The decision boundary goes to
# `minigrad-out/examples/`.

# %%
import importlib.util
import os
from pathlib import Path

import numpy as np

import minigrad as mg

SCALE = float(os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1"))
EPOCHS = max(10, int(100 * SCALE))
OUT = Path(os.environ.get("MINIGRAD_EXAMPLE_OUT", "minigrad-out/examples"))
DRAW = importlib.util.find_spec("matplotlib") is not None  # pictures need matplotlib

X, y = mg.datasets.spirals(600, classes=3, noise=0.3, seed=0)
X_train, X_test, y_train, y_test = mg.data.train_test_split(
    X, y, test_size=0.5, seed=0, stratify=True)
print(f"spirals: {X_train.shape[1]} training and {X_test.shape[1]} test points, 3 classes")

# %% [markdown]
# ## The nets
#
# BatchNorm goes between a Dense layer and its activation (it normalizes Z);
# Dropout after the activation. Giving each Dropout its own seed (`rng=`)
# makes its masks reproducible.


# %%
def build(regularized):
    mg.seed(0)
    layers = []
    n_in = 2
    for k in range(2):
        layers.append(mg.Dense(n_in, 64, init="he"))
        if regularized:
            layers.append(mg.BatchNorm(64))
        layers.append(mg.ReLU())
        if regularized:
            layers.append(mg.Dropout(0.2, rng=k))
        n_in = 64
    layers += [mg.Dense(64, 3), mg.Softmax()]
    return mg.Sequential(layers)


model = build(regularized=True)
print(model)

# %% [markdown]
# ## Training both, and scoring them on points they never saw

# %%
for name, net in [("plain", build(regularized=False)), ("dropout + batch norm", model)]:
    mg.fit(net, X_train, y_train, loss="categorical_crossentropy",
           optimizer=mg.optim.Adam(net.parameters(), lr=0.01),
           epochs=EPOCHS, batch_size=32, seed=0, verbose=False)
    train_acc = mg.evaluate(net, X_train, y_train, metrics=["accuracy"])["accuracy"]
    test_acc = mg.evaluate(net, X_test, y_test, metrics=["accuracy"])["accuracy"]
    print(f"{name:<21} training accuracy {train_acc:.1%}, test accuracy {test_acc:.1%}")

# %% [markdown]
# On a problem this small both nets generalize about equally well; dropout and
# batch norm earn their keep when a net is large for its data, or deep.
#
# ## Training mode versus eval mode
#
# In training mode two passes over the same input differ (new dropout masks,
# and BatchNorm uses the batch's own statistics). `predict` runs in eval mode:
# deterministic, and it leaves the model in the mode it found it.

# %%
sample = X_test[:, :5]
model.train()
first, second = model.forward(sample), model.forward(sample)
print("training mode, two forward passes equal:", bool(np.array_equal(first, second)))
print("eval mode (predict), two passes equal:  ",
      bool(np.array_equal(model.predict(sample), model.predict(sample))))
print("still in training mode after predict:   ", model.training)

# %% [markdown]
# BatchNorm's running statistics are what eval mode uses; `buffers()` lists
# them (they are saved with the model, but not trained by the optimizer).

# %%
batchnorm = model[1]
print("first BatchNorm, running mean of 3 features:", np.round(batchnorm.running_mean[:3, 0], 3))
print("first BatchNorm, running var of 3 features: ", np.round(batchnorm.running_var[:3, 0], 3))
print("buffers:", sorted(model.buffers()))

# %%
if DRAW:
    OUT.mkdir(parents=True, exist_ok=True)
    mg.plot.decision_boundary(model, X_test, y_test, path=OUT / "spirals_dropout_batchnorm.png",
                              resolution=150)
    print(f"picture: {OUT / 'spirals_dropout_batchnorm.png'}")
