# %% [markdown]
# # The notes' two-layer net, by hand and in minigrad
#
# The planar "flower" set, a 2-4-1 net (tanh hidden layer, sigmoid output),
# small random weights and full-batch gradient descent with learning rate 1.2.
# We train it twice from the same starting weights: once in plain numpy, one
# equation per line, and once in minigrad. The costs and weights agree to
# rounding error at every step.
#
# Run it as a script (`python examples/01_notes_net_by_hand.py`) or open
# `01_notes_net_by_hand.ipynb` in Jupyter (built from this script's `# %%`
# cells). `MINIGRAD_EXAMPLE_SCALE=0.1` trains for a tenth of the iterations.

# %%
import os

import numpy as np

import minigrad as mg

SCALE = float(os.environ.get("MINIGRAD_EXAMPLE_SCALE", "1"))
ITERATIONS = max(10, int(10_000 * SCALE))
LEARNING_RATE = 1.2
N_H = 4

X, Y = mg.datasets.planar(seed=1)  # X (2, 400), Y (1, 400)
n_x, m = X.shape
print(f"planar data: X {X.shape}, Y {Y.shape}; {ITERATIONS} iterations of gradient descent")

# %% [markdown]
# ## Starting weights, shared by both versions

# %%
rng = np.random.default_rng(2)
W1_start = rng.standard_normal((N_H, n_x)) * 0.01
W2_start = rng.standard_normal((1, N_H)) * 0.01

# %% [markdown]
# ## By hand: the equations, line for line
#
#     Z1 = W1 X + b1,   A1 = tanh(Z1),   Z2 = W2 A1 + b2,   A2 = sigmoid(Z2)
#     dZ2 = A2 - Y,     dW2 = (1/m) dZ2 A1^T,   db2 = (1/m) sum(dZ2)
#     dZ1 = W2^T dZ2 * (1 - A1**2),   dW1 = (1/m) dZ1 X^T,   db1 = (1/m) sum(dZ1)


# %%
def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


W1, b1 = W1_start.copy(), np.zeros((N_H, 1))
W2, b2 = W2_start.copy(), np.zeros((1, 1))
costs_by_hand = []
for _ in range(ITERATIONS):
    Z1 = W1 @ X + b1
    A1 = np.tanh(Z1)
    Z2 = W2 @ A1 + b2
    A2 = sigmoid(Z2)
    costs_by_hand.append(float(-np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))))

    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * (1 - A1**2)
    dW1 = dZ1 @ X.T / m
    db1 = dZ1.sum(axis=1, keepdims=True) / m

    W1 -= LEARNING_RATE * dW1
    b1 -= LEARNING_RATE * db1
    W2 -= LEARNING_RATE * dW2
    b2 -= LEARNING_RATE * db2

accuracy_by_hand = float(np.mean((sigmoid(W2 @ np.tanh(W1 @ X + b1) + b2) > 0.5) == Y))

# %% [markdown]
# ## In minigrad: four layers, a loss and an optimizer
#
# `mg.fit` with `batch_size=None` takes one full-batch step per epoch, which is
# exactly the loop above.

# %%
net = mg.Sequential([mg.Dense(n_x, N_H), mg.Tanh(), mg.Dense(N_H, 1), mg.Sigmoid()])
net[0].W = W1_start  # assigning copies into the layer's own array
net[2].W = W2_start
history = mg.fit(
    net, X, Y,
    loss="binary_crossentropy",
    optimizer=mg.optim.SGD(net.parameters(), lr=LEARNING_RATE),
    epochs=ITERATIONS,
    metrics=["accuracy"],
    verbose=False,
)
accuracy_minigrad = mg.evaluate(net, X, Y, metrics=["accuracy"])["accuracy"]

# %% [markdown]
# ## Do they agree?

# %%
cost_gap = float(np.max(np.abs(np.array(history["loss"]) - np.array(costs_by_hand))))
weight_gap = max(
    float(np.max(np.abs(mine - by_hand)))
    for mine, by_hand in [(net[0].W, W1), (net[0].b, b1), (net[2].W, W2), (net[2].b, b2)]
)
print(f"cost after {ITERATIONS} steps: by hand {costs_by_hand[-1]:.6f}, "
      f"minigrad {history['loss'][-1]:.6f}")
print(f"training accuracy: by hand {accuracy_by_hand:.1%}, minigrad {accuracy_minigrad:.1%}")
print(f"largest difference: cost {cost_gap:.1e}, weights {weight_gap:.1e}")
agree = cost_gap < 1e-8 and weight_gap < 1e-6 and accuracy_by_hand == accuracy_minigrad
print("the two versions agree" if agree else "the two versions DISAGREE")

# %% [markdown]
# The same equations, printed by minigrad from the layers themselves:

# %%
equations = net.explain(loss=mg.losses.BinaryCrossEntropy(), m=m)  # prints, and returns the text
