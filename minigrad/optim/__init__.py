"""Optimizers, gradient clipping and learning-rate schedules.

Build an optimizer from the model's parameters and call ``step()`` after
each backward pass; every update is applied in place:

    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        A = model.forward(X)
        J = loss.forward(A, Y)
        model.backward(loss.backward())
        opt.step()
"""

from minigrad.optim.adam import Adam, AdamW
from minigrad.optim.clip import clip_grad_norm, global_norm
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.rmsprop import RMSProp
from minigrad.optim.schedules import (
    CosineDecay,
    ExponentialDecay,
    ReduceLROnPlateau,
    Schedule,
    StepDecay,
)
from minigrad.optim.sgd import SGD

__all__ = [
    "SGD", "Adam", "AdamW", "CosineDecay", "ExponentialDecay", "Optimizer", "RMSProp",
    "ReduceLROnPlateau", "Schedule", "StepDecay", "clip_grad_norm", "global_norm",
]
