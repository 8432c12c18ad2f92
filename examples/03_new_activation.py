# %% [markdown]
# # Writing a new activation, and catching a wrong derivative
#
# An activation in minigrad is two formulas: `g(Z)` and its derivative
# `g'(Z)`. Here we add Mish (Misra 2019), which minigrad does not ship:
#
#     g(Z)  = Z * tanh(softplus(Z))            softplus(Z) = log(1 + exp(Z))
#     g'(Z) = T + Z * sigmoid(Z) * (1 - T**2)  with T = tanh(softplus(Z))
#
# Then we write it a second time with a typical slip in `g'` and let
# `mg.gradcheck` find it. Pictures of both go to `minigrad-out/examples/`.
#
# Run: `python examples/03_new_activation.py`; `MINIGRAD_EXAMPLE_SCALE=0.1`
# trains the small net at the end for fewer epochs.

# %%
import importlib.util
import os
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad.functional import sigmoid, softplus

SCALE = float(os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1"))
OUT = Path(os.environ.get("MINIGRAD_EXAMPLE_OUT", "minigrad-out/examples"))
DRAW = importlib.util.find_spec("matplotlib") is not None  # pictures need matplotlib


# %% [markdown]
# ## The activation: a subclass of `mg.Activation` with `g` and `g_prime`
#
# `g_prime` receives `Z` and `A = g(Z)`. The docstring's `g(Z) = ...` and
# `g'(Z) = ...` lines are what `model.explain()` prints for this layer.
# `mg.functional.softplus` and `sigmoid` are the overflow-free forms.


# %%
class Mish(mg.Activation):
    """Mish: a smooth, non-monotonic relative of ReLU.

    g(Z)  = Z * tanh(softplus(Z))
    g'(Z) = tanh(softplus(Z)) + Z * sigmoid(Z) * (1 - tanh(softplus(Z))**2)
    """

    def g(self, Z):
        return Z * np.tanh(softplus(Z))

    def g_prime(self, Z, A):
        T = np.tanh(softplus(Z))
        return T + Z * sigmoid(Z) * (1 - T * T)


# %% [markdown]
# ## Check it: analytic gradients against finite differences (float64)

# %%
Z = np.random.default_rng(0).normal(scale=2.0, size=(3, 8))
report = mg.gradcheck(Mish(), Z)
print("Mish:", report)

# %% [markdown]
# ## The same activation with a slip in the derivative
#
# Treating `tanh(softplus(Z))` as if it did not depend on `Z` drops the second
# term of the product rule. The forward pass is still right, so training would
# run and merely learn worse; gradcheck says exactly where it is wrong.


# %%
class BrokenMish(Mish):
    """Mish with the product rule forgotten.

    g(Z)  = Z * tanh(softplus(Z))
    g'(Z) = tanh(softplus(Z))
    """

    def g_prime(self, Z, A):
        return np.tanh(softplus(Z))


broken_report = mg.gradcheck(BrokenMish(), Z)
print("BrokenMish:", broken_report)

# %% [markdown]
# Inside a net, every layer is also checked on its own input, so the blame
# lands on the activation (its `dZ1`, in the notes' names) and not on the Dense
# layers around it; the model's gradients that are wrong only because of it
# are listed as a consequence.

# %%
net = mg.Sequential([mg.Dense(3, 4, rng=0), BrokenMish(), mg.Dense(4, 1, rng=1)])
net_report = mg.gradcheck(net, Z)
print(net_report)

# %% [markdown]
# ## See it: g and g' side by side
#
# `mg.plot.activation` draws g and the g' that backward returns, with dots
# for the numerical derivative; a wrong g' shows as dots off the line.

# %%
if DRAW:
    OUT.mkdir(parents=True, exist_ok=True)
    mg.plot.activation(Mish(), path=OUT / "mish.png")
    mg.plot.activation(BrokenMish(), path=OUT / "broken_mish.png")
    print(f"pictures: {OUT / 'mish.png'}, {OUT / 'broken_mish.png'}")

# %% [markdown]
# ## Use it: a small net on the two moons
#
# A new activation is a layer like any other: `mg.fit`, `predict`, `explain()`
# and `gradcheck` all work with it.

# %%
mg.seed(0)
X, Y = mg.datasets.moons(400, noise=0.15, seed=0)
model = mg.Sequential([mg.Dense(2, 16, init="he"), Mish(), mg.Dense(16, 1), mg.Sigmoid()])
mg.fit(model, X, Y, loss="binary_crossentropy",
       optimizer=mg.optim.Adam(model.parameters(), lr=0.02),
       epochs=max(20, int(300 * SCALE)), verbose=False)
accuracy = mg.evaluate(model, X, Y, metrics=["accuracy"])["accuracy"]
print(f"a 2-16-1 Mish net on the moons: training accuracy {accuracy:.1%}")
equations = model.explain(loss=mg.losses.BinaryCrossEntropy(), m=400)
