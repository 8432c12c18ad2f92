# %% [markdown]
# # Regression: fitting a noisy curve
#
# `mg.datasets.curve` gives 200 points of y = sin(1.5 x) + 0.25 x plus noise,
# for x in [-3, 3]: X and Y are both (1, m). A straight line (one Dense layer,
# linear regression) misses the bends. A net with two tanh hidden layers and a
# linear output, trained on mean squared error, follows them.
#
# Run: `python examples/05_regression.py`; `MINIGRAD_EXAMPLE_SCALE=0.1` trains
# for a tenth of the epochs. Pictures go to `minigrad-out/examples/`.

# %%
import importlib.util
import os
from pathlib import Path

import numpy as np

import minigrad as mg

SCALE = float(os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1"))
EPOCHS = max(20, int(2_000 * SCALE))
OUT = Path(os.environ.get("MINIGRAD_EXAMPLE_OUT", "minigrad-out/examples"))
DRAW = importlib.util.find_spec("matplotlib") is not None  # pictures need matplotlib

X, Y = mg.datasets.curve(200, noise=0.1, seed=0)
print(f"curve data: X {X.shape}, Y {Y.shape}")

# %% [markdown]
# ## Two models: a line, and a 1-32-32-1 tanh net
#
# The last layer is a plain `Dense`: its output Z is the prediction, and the
# mean squared error gives `dZ = 2 (Z - Y)` per example.


# %%
def train(model, lr):
    return mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.Adam(model.parameters(), lr=lr),
                  epochs=EPOCHS, metrics=["mae"], verbose=False)


mg.seed(0)
line = mg.Sequential([mg.Dense(1, 1)])
net = mg.Sequential([mg.Dense(1, 32), mg.Tanh(), mg.Dense(32, 32), mg.Tanh(), mg.Dense(32, 1)])
train(line, lr=0.05)
history = train(net, lr=0.01)

# %% [markdown]
# ## How close are they?
#
# The noise has standard deviation 0.1: a model that has learned the curve
# (and not the noise) has a mean squared error near 0.1**2 = 0.01.

# %%
mse_line = mg.evaluate(line, X, Y, loss="mse")["loss"]
mse_net = mg.evaluate(net, X, Y, loss="mse")["loss"]
print(f"mean squared error: straight line {mse_line:.4f}, net {mse_net:.4f} "
      f"(noise floor about {0.1 ** 2:.4f})")
x_new = np.array([[-2.0, 0.0, 2.0]])
truth = np.sin(1.5 * x_new) + 0.25 * x_new
print("at x = -2, 0, 2: net", np.round(net.predict(x_new)[0], 3),
      " true curve", np.round(truth[0], 3))

# %%
if DRAW:
    OUT.mkdir(parents=True, exist_ok=True)
    mg.plot.fit_curve(net, X, Y, path=OUT / "regression_net.png",
                      title=f"1-32-32-1 tanh net: MSE {mse_net:.4f}")
    mg.plot.fit_curve(line, X, Y, path=OUT / "regression_line.png",
                      title=f"straight line: MSE {mse_line:.4f}")
    mg.plot.training_curves(history, path=OUT / "regression_training.png")
    print(f"pictures in {OUT}/")
