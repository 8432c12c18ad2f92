"""What :func:`minigrad.fit` and :func:`minigrad.evaluate` check and decide before training.

All checks run before training starts, so a refused call changes nothing.
X is cast here, once, to the model's dtype. A Graph with several inputs or
outputs takes lists (or dicts by node name); everything below works on
lists, one entry per input and per output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from attrs import define, field

from minigrad import metrics as metrics_module
from minigrad._checks import as_float_batch, as_plain_array, check_finite
from minigrad._typing import Array
from minigrad.activations import Softmax
from minigrad.batchnorm import BatchNorm
from minigrad.errors import DTypeError, InputError, ShapeError
from minigrad.graph import Graph
from minigrad.layer import Layer, Shape, leaves
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss, MeanSquaredError
from minigrad.optim.optimizer import Optimizer
from minigrad.sequential import Sequential

LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "bce": BinaryCrossEntropy, "binary_crossentropy": BinaryCrossEntropy,
    "cce": CategoricalCrossEntropy, "categorical_crossentropy": CategoricalCrossEntropy,
}

Step = Callable[[list[Array], list[Any]], tuple[float, list[Array]]]
"""One training step's forward, loss and backward: (X batch, Y batch) -> (J, outputs)."""


class _Owner(str):
    """A name that shows without quotes in the shared check messages."""

    def __repr__(self) -> str:
        return str(self)


@define(eq=False)
class Prepared:
    """X and Y checked and as lists (one array per model input and output)."""

    X: list[Array]
    Y: list[Any]
    input_names: list[str] | None  # a Graph's, to hand a list back to it; None: one input
    output_names: list[str]

    @property
    def m(self) -> int:
        return int(self.X[0].shape[-1])

    def inputs(self, X: list[Array]) -> Any:
        """What the model's forward takes: one array, or the list a Graph takes."""
        return X if self.input_names is not None else X[0]

    def outputs(self, A: Any) -> list[Array]:
        return list(A) if len(self.output_names) > 1 else [A]


def _names(model: Layer) -> tuple[list[str] | None, list[str]]:
    if isinstance(model, Graph):
        inputs = model.input_names if len(model.input_nodes) > 1 else None
        return inputs, model.output_names
    return None, ["output"]


def _as_list(owner: str, value: Any, names: list[str], what: str) -> list[Any]:
    """One entry per name, from a list, a dict by name, or (for one name) the value itself."""
    if isinstance(value, Mapping):
        if set(value) != set(names):
            raise InputError(f"{owner}: {what} must be given for {names}, got {sorted(value)}")
        return [value[name] for name in names]
    if len(names) == 1:
        return [value]
    if not isinstance(value, list | tuple) or len(value) != len(names):
        got = f"a list of {len(value)}" if isinstance(value, list | tuple) else (
            type(value).__name__)
        raise InputError(
            f"{owner}: the model has {len(names)} {what}s ({', '.join(names)}); pass a list of "
            f"{len(names)} or a dict by name, got {got}"
        )
    return list(value)


def prepare(owner: str, model: Layer, X: Any, Y: Any) -> Prepared:
    """X cast once to the model's dtype and Y checked against it; or a clear error."""
    if not isinstance(model, Layer):
        raise TypeError(f"{owner}: model must be a minigrad Layer, got {type(model).__name__}")
    who = _Owner(owner)
    input_names, output_names = _names(model)
    X_list = [
        as_float_batch(who, X_i, model.dtype, "X" if input_names is None else f"X[{name!r}]")
        for X_i, name in zip(_as_list(owner, X, input_names or ["X"], "input"),
                             input_names or ["X"], strict=True)
    ]
    for X_i in X_list:
        check_finite(who, X_i, "X")
    if len({X_i.shape[-1] for X_i in X_list}) > 1:
        raise ShapeError(f"{owner}: the inputs hold different numbers of examples: "
                         + ", ".join(str(X_i.shape) for X_i in X_list))
    out_shapes = _output_shapes(owner, model, X_list)
    Y_list = _as_list(owner, Y, output_names, "output")
    m = X_list[0].shape[-1]
    checked = [
        _target(owner if len(Y_list) == 1 else f"{owner} (output {name!r})", Y_k, m, shape,
                X_list[0].dtype)
        for Y_k, shape, name in zip(Y_list, out_shapes, output_names, strict=True)
    ]
    return Prepared(X_list, checked, input_names, output_names)


def _output_shapes(owner: str, model: Layer, X: list[Array]) -> list[Shape | None]:
    if isinstance(model, Graph):
        try:
            model.bind_inputs(X if len(X) > 1 else X[0])
        except (ShapeError, InputError) as err:
            raise type(err)(f"{owner}: X does not fit the model: {err}") from None
        return [node.shape for node in model.output_nodes]
    X_0 = X[0]
    try:
        return [model.output_shape(X_0.shape[:-1])]
    except ShapeError as err:
        hint = ""
        try:
            if X_0.ndim == 2:
                model.output_shape((X_0.shape[1],))
                hint = "\nExamples are columns; did you pass X instead of X.T?"
        except ShapeError:
            pass
        raise ShapeError(
            f"{owner}: X of shape {X_0.shape} does not fit the model: {err}{hint}"
        ) from None


def _target(owner: str, Y: Any, m: int, out_shape: Shape | None, dtype: Any) -> Any:
    n_out = out_shape[0] if out_shape is not None and len(out_shape) == 1 else None
    try:
        Y_arr = as_plain_array(Y)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise DTypeError(f"{owner}: cannot read Y as an array of numbers: {err}") from None
    if Y_arr.dtype.kind not in "fiub":
        raise DTypeError(f"{owner}: expected Y to hold numbers, got dtype {Y_arr.dtype}")
    if Y_arr.ndim not in (1, 2) or Y_arr.shape[-1] != m:
        hint = "; examples are columns: did you pass Y.T?" if Y_arr.shape[:1] == (m,) else ""
        raise ShapeError(
            f"{owner}: X has {m} examples (columns), so Y must be (n_out, {m}) or ({m},); "
            f"got shape {Y_arr.shape}{hint}"
        )
    if Y_arr.dtype.kind == "f":
        check_finite(_Owner(owner), Y_arr, "Y")
    if Y_arr.ndim == 2 and n_out is not None and Y_arr.shape[0] != n_out:
        hint = "; class labels go in a 1-D array of shape (m,)" if Y_arr.shape[0] == 1 else ""
        if n_out == 1 and Y_arr.shape[0] > 1 and _one_hot(Y_arr):
            hint = (
                f"; Y looks one-hot ({Y_arr.shape[0]} classes), but the model has 1 output. For "
                "two classes give Y as 0/1 of shape (1, m) (Y.argmax(axis=0).reshape(1, -1)) "
                "with a Sigmoid output; for more, end the model in Dense(n, n_classes) and "
                "Softmax with categorical cross-entropy"
            )
        raise ShapeError(
            f"{owner}: the model outputs {n_out} rows but Y has {Y_arr.shape[0]}{hint}"
        )
    if Y_arr.ndim == 1 and n_out is not None and n_out > 1:
        if not np.array_equal(Y_arr, np.round(Y_arr)) or Y_arr.min() < 0 or Y_arr.max() >= n_out:
            raise InputError(
                f"{owner}: 1-D Y holds class labels, which must be whole numbers in "
                f"[0, {n_out - 1}] for {n_out} outputs; got values from {Y_arr.min()} "
                f"to {Y_arr.max()}"
            )
        return Y_arr.astype(np.int64, copy=False)
    target = dtype if Y_arr.ndim == 2 or Y_arr.dtype.kind in "fb" else Y_arr.dtype
    return Y_arr.astype(target, copy=False)


def _one_hot(Y: Any) -> bool:
    return bool(np.isin(Y, (0, 1)).all() and np.all(Y.sum(axis=0) == 1))


def prepare_validation(model: Layer, validation: Any) -> Prepared:
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise InputError(
            f"fit: validation must be a pair (X_val, Y_val), got {type(validation).__name__}"
        )
    return prepare("fit (validation)", model, validation[0], validation[1])


def check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InputError(f"fit: {name} must be an int >= {low}, got {value!r}")


def check_optimizer(model: Layer, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"fit: optimizer must be a minigrad optimizer such as "
            f"mg.optim.SGD(model.parameters(), lr=0.1), got {type(optimizer).__name__}"
        )
    for name, p in model.named_parameters():
        if not p.value.flags.writeable:  # found mid-step, it would tear the update
            raise InputError(
                f"fit: parameter {name} ({p!r}) is read-only, so the optimizer cannot update it "
                "in place; give it a writable array first (p.value = p.value.copy() for that "
                "Parameter p)"
            )
    ours = {id(p) for p in model.parameters()}
    strangers = [p for p in optimizer.params if id(p) not in ours]
    if strangers:
        raise InputError(
            f"fit: the optimizer updates {len(strangers)} parameters that are not the model's "
            f"(first {strangers[0]!r}); build it from this model's parameters()"
        )


def as_loss(loss: Any) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise InputError(
        f"loss must be a minigrad Loss or one of {', '.join(sorted(LOSSES))}, got {loss!r}"
    )


# -- the objective ---------------------------------------------------------------------


@define(eq=False)
class Objective:
    """The cost of a step, J = sum_k w_k J_k(A_k, Y_k), one loss per model output."""

    losses: list[Loss]
    weights: list[float]
    output_names: list[str]
    fused: tuple[Layer, Layer] | None = field(default=None)
    """(the model up to its output activation, that activation), when the loss fuses with it."""
    has_batchnorm: bool = field(default=False)

    def cost(self, outputs: list[Array], Y: list[Any]) -> float:
        J = 0.0
        for loss, w, A, Y_k in zip(self.losses, self.weights, outputs, Y, strict=True):
            J += w * loss.forward(A, Y_k)
        return J

    def gradients(self) -> list[Array]:
        """Each output's dA: w_k times its loss's backward (the loss's own array when w_k = 1)."""
        return [loss.backward() if w == 1.0 else w * loss.backward()
                for loss, w in zip(self.losses, self.weights, strict=True)]

    def step_function(self, model: Layer) -> Step:
        """The forward, loss and backward of one step, decided once for this model."""
        several = len(self.losses) > 1
        if self.fused is not None:
            body, head = self.fused
            loss = self.losses[0]

            def fused_step(X: list[Array], Y: list[Any]) -> tuple[float, list[Array]]:
                A = head.forward(body.forward(X[0] if len(X) == 1 else X))
                J, dZ = loss.forward_fused(A, Y[0])
                body.backward_params(dZ)  # the output activation's backward is in dZ
                return J, [A]

            return fused_step

        def step(X: list[Array], Y: list[Any]) -> tuple[float, list[Array]]:
            A = model.forward(X[0] if len(X) == 1 else X)
            outputs = list(A) if several else [A]
            J = self.cost(outputs, Y)
            dA = self.gradients()
            model.backward_params(dA if several else dA[0])
            return J, outputs

        return step

    def metrics(
        self, metrics: Iterable[Any] | str
    ) -> list[tuple[str, int, metrics_module.Metric]]:
        """(name, output index, function) for each metric and output."""
        items = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
        named = []
        for k, output in enumerate(self.output_names):
            loss = self.losses[k] if self.losses else None
            for item in items:
                name, fn = metrics_module.get(item, loss)
                named.append((name if len(self.output_names) == 1 else f"{output}_{name}", k, fn))
        names = [name for name, _, _ in named]
        if len(set(names)) != len(names) or "loss" in names:
            raise InputError(f"metrics need distinct names other than 'loss', got {names}")
        return named

    def check_batches(self, m: int, size: int) -> None:
        """A model with BatchNorm needs 2 examples in every training batch: say so up front."""
        last = m % size or size
        if last >= 2 or not self.has_batchnorm:
            return
        raise InputError(
            f"fit: with {m} examples and batch_size={size} the last batch of each epoch holds "
            f"{last} example, and BatchNorm cannot normalize one example in training. Choose a "
            f"batch_size that leaves at least 2 (for example {size + 1} or {size - 1}), or drop "
            "an example"
        )


def objective_of(
    model: Layer,
    loss: Any,
    loss_weights: Sequence[float] | Mapping[str, float] | None,
    data: Prepared,
) -> Objective:
    """The losses (one per output), their weights, and whether the step can be fused."""
    names = data.output_names
    if loss is None:
        losses: list[Loss] = []
    elif isinstance(loss, Mapping | list | tuple):
        losses = [as_loss(item) for item in _as_list("fit", loss, names, "loss")]
    else:
        one = as_loss(loss)
        losses = [one] + [type(one)(**one.config()) for _ in names[1:]]
    if loss_weights is None:
        weights = [1.0] * len(names)
    else:
        weights = [float(w) for w in _as_list("fit", loss_weights, names, "loss weight")]
        if any(not np.isfinite(w) or w < 0 for w in weights):
            raise InputError(f"fit: loss_weights must be finite and >= 0, got {weights}")
    for loss_k in losses:
        _refuse_double_squash(model, loss_k)
    has_batchnorm = any(isinstance(leaf, BatchNorm) for leaf in leaves(model))
    return Objective(losses, weights, names, _fusable(model, losses, weights), has_batchnorm)


def refuse_one_class(model: Layer, objective: Objective, data: Prepared) -> None:
    """Refuse to train a softmax over one row: it is always 1, so nothing can learn.

    That is an output of one row that ends in Softmax, or that categorical
    cross-entropy (from logits too: logsumexp of one logit is that logit) scores.
    """
    shapes = _output_shapes("fit", model, data.X)
    for k, shape in enumerate(shapes):
        if shape != (1,):
            continue
        if isinstance(model, Graph):
            node = model.output_nodes[k]
            last = None if node.layer is None else _output_layer(node.layer)
        else:
            last = _output_layer(model)
        loss = objective.losses[k] if objective.losses else None
        if isinstance(last, Softmax) or isinstance(loss, CategoricalCrossEntropy):
            what = f"ends in {last!r} over 1 row" if isinstance(last, Softmax) else (
                f"has 1 output row, scored by {loss!r}")
            output = f" (output {data.output_names[k]!r})" if len(shapes) > 1 else ""
            raise InputError(
                f"fit: the model{output} {what}: a softmax over one class is always 1, so the "
                "loss is constant and nothing trains. For two classes end in Dense(n, 1) and "
                "Sigmoid with binary cross-entropy (Y of 0/1), or in Dense(n, 2) and Softmax "
                "with categorical cross-entropy"
            )


def _output_layer(model: Layer) -> Layer | None:
    """The layer that produces a one-output model's output, looking into containers."""
    if isinstance(model, Sequential):
        return _output_layer(model[-1]) if len(model) else None
    if isinstance(model, Graph):
        layer = model.output_nodes[0].layer if len(model.output_nodes) == 1 else None
        return None if layer is None else _output_layer(layer)
    return model


def _refuse_double_squash(model: Layer, loss: Loss) -> None:
    last = _output_layer(model)
    partner = loss.pairs_with
    if getattr(loss, "from_logits", False) and partner is not None and isinstance(last, partner):
        raise InputError(
            f"fit: the model ends in {last!r}, which already applies the "
            f"{type(last).__name__.lower()}, and {loss!r} applies it again: the model would "
            f"train on the wrong outputs. Remove the final {type(last).__name__} layer "
            "(recommended: exact for any logits) or use from_logits=False"
        )


def _fusable(model: Layer, losses: list[Loss], weights: list[float]) -> tuple[Layer, Layer] | None:
    """(body, head) when the model's last layer is the loss's partner activation, else None."""
    if len(losses) != 1 or weights != [1.0]:
        return None
    loss = losses[0]
    if loss.pairs_with is None or getattr(loss, "from_logits", False):
        return None
    if type(loss) not in (BinaryCrossEntropy, CategoricalCrossEntropy):
        return None  # a subclass may compute another cost
    if isinstance(model, Sequential) and len(model) > 1 and type(model[-1]) is loss.pairs_with:
        return Sequential(model.layers[:-1]), model[-1]
    if isinstance(model, Graph) and len(model.output_nodes) == 1:
        out = model.output_nodes[0]
        shared = sum(node.layer is out.layer for node in model.nodes) > 1
        if type(out.layer) is loss.pairs_with and len(out.inputs) == 1 and not shared \
                and out.inputs[0].layer is not None:
            return Graph(list(model.input_nodes), out.inputs[0]), out.layer
    return None
