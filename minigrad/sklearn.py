"""minigrad nets as scikit-learn estimators: ``NeuralNetClassifier`` and ``NeuralNetRegressor``.

They take rows, as scikit-learn does (``X`` of shape ``(n_samples, n_features)``), and train
with :func:`minigrad.fit` on ``X.T``, minigrad's columns. The net is built from layer sizes,
like ``MLPClassifier``'s ``hidden_layer_sizes``:

    Dense(n_features, h1), g, Dense(h1, h2), g, ..., Dense(h_last, n_outputs), output

or by a function ``model(n_features, n_outputs)`` returning any minigrad model whose output
is the scores ``Z`` of shape ``(n_outputs, m)``. The classifier puts the output activation
after it and trains with the matching loss: one unit, ``Sigmoid`` and binary cross-entropy
for two classes; one unit per class, ``Softmax`` and categorical cross-entropy for more. The
regressor trains the scores themselves with mean squared error. The trained net is
``model_`` (with the classifier's output activation), ready for :mod:`minigrad.export`.

``random_state`` makes a fit reproducible: the weights, the dropout masks and the shuffling
all draw from generators seeded by it, and the library's default generator is left as it
was. Needs ``pip install 'minigrad[sklearn]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from minigrad import _rng, optim
from minigrad import activations as act
from minigrad.dense import Dense
from minigrad.layer import Layer
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss, MeanSquaredError
from minigrad.sequential import Sequential
from minigrad.train import fit

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, check_random_state
except ImportError as err:  # pragma: no cover - the tests skip without scikit-learn
    raise ImportError(
        "minigrad.sklearn needs scikit-learn, which is not installed: "
        "pip install 'minigrad[sklearn]'"
    ) from err

ACTIVATIONS: dict[str, Callable[[], Layer]] = {
    "identity": act.Identity, "logistic": act.Sigmoid, "sigmoid": act.Sigmoid,
    "tanh": act.Tanh, "relu": act.ReLU, "leaky_relu": act.LeakyReLU, "elu": act.ELU,
    "selu": act.SELU, "gelu": act.GELU, "silu": act.SiLU, "softplus": act.Softplus,
}
"""The names ``activation=`` takes (``"logistic"`` is scikit-learn's name for the sigmoid)."""

OPTIMIZERS: dict[str, Callable[..., optim.Optimizer]] = {
    "sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSProp,
}
"""The names ``optimizer=`` takes."""

ModelFunction = Callable[[int, int], Layer]


class _NeuralNet(BaseEstimator):
    """What the classifier and the regressor share: parameters, building, training."""

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        *,
        model: ModelFunction | None = None,
        optimizer: str = "adam",
        learning_rate: float = 0.001,
        weight_decay: float = 0.0,
        batch_size: int | None = 200,
        epochs: int = 200,
        shuffle: bool = True,
        dtype: str = "float64",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.model = model
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- what the subclasses say ----------------------------------------------------------

    def _output_layer(self) -> Layer | None:
        raise NotImplementedError

    def _loss(self) -> Loss:
        raise NotImplementedError

    # -- building and training ------------------------------------------------------------

    def _check_params(self) -> None:
        name = type(self).__name__
        if self.model is None:
            sizes = self.hidden_layer_sizes
            if isinstance(sizes, int | np.integer):
                sizes = (int(sizes),)
            if not all(isinstance(h, int | np.integer) and h > 0 for h in sizes):
                raise ValueError(f"{name}: hidden_layer_sizes must be positive ints, got {sizes!r}")
            if self.activation not in ACTIVATIONS:
                raise ValueError(f"{name}: activation must be one of {sorted(ACTIVATIONS)}, "
                                 f"got {self.activation!r}")
        elif not callable(self.model):
            raise ValueError(f"{name}: model must be a function (n_features, n_outputs) -> "
                             f"minigrad model, got {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"{name}: optimizer must be one of {sorted(OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int | np.integer) or (
                self.epochs < 1):
            raise ValueError(f"{name}: epochs must be a positive int, got {self.epochs!r}")
        if self.batch_size is not None and (
                isinstance(self.batch_size, bool)
                or not isinstance(self.batch_size, int | np.integer) or self.batch_size < 1):
            raise ValueError(f"{name}: batch_size must be a positive int or None, "
                             f"got {self.batch_size!r}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"{name}: dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def _build(self, n_features: int, n_outputs: int) -> None:
        """Make ``model_`` and ``optimizer_``, drawing from the seed of ``random_state``."""
        self._seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        with _default_generator(self._seed):
            if self.model is not None:
                net = self.model(n_features, n_outputs)
                if not isinstance(net, Layer):
                    raise TypeError(f"{type(self).__name__}: model(n_features, n_outputs) must "
                                    f"return a minigrad model, got {type(net).__name__}")
            else:
                sizes = self.hidden_layer_sizes
                sizes = (int(sizes),) if isinstance(sizes, int | np.integer) else tuple(sizes)
                layers: list[Layer] = []
                n_in = n_features
                for width in sizes:
                    layers += [Dense(n_in, int(width)), ACTIVATIONS[self.activation]()]
                    n_in = int(width)
                net = Sequential([*layers, Dense(n_in, n_outputs)])
            output = self._output_layer()
            model = net if output is None else Sequential([net, output])
        model.astype(np.dtype(self.dtype))
        self.model_ = model
        self.optimizer_ = OPTIMIZERS[self.optimizer](
            model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        self.n_iter_ = 0
        self.loss_curve_: list[float] = []

    def _train(self, X: np.ndarray, Y: np.ndarray, epochs: int) -> None:
        """``epochs`` more passes of mg.fit over the columns ``X.T``."""
        X_columns = np.ascontiguousarray(X.T, dtype=np.dtype(self.dtype))
        with _default_generator(self._seed + self.n_iter_):
            history = fit(
                self.model_, X_columns, Y, loss=self._loss(), optimizer=self.optimizer_,
                epochs=self.n_iter_ + epochs, initial_epoch=self.n_iter_,
                batch_size=self.batch_size, shuffle=self.shuffle, seed=self._seed,
                verbose=self.verbose,
            )
        self.loss_curve_ = [*self.loss_curve_, *history["loss"]]
        self.n_iter_ += epochs

    def _validate(self, X: Any, y: Any = None, *, reset: bool, **kwargs: Any) -> Any:
        try:
            from sklearn.utils.validation import validate_data
        except ImportError:  # scikit-learn before 1.6
            if y is None and not reset:
                return self._validate_data(X, reset=False, dtype=(np.float64, np.float32))
            return self._validate_data(X, y, reset=reset, dtype=(np.float64, np.float32),
                                       **kwargs)
        if y is None and not reset:
            return validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32), **kwargs)

    def _forward(self, X: Any) -> np.ndarray:
        """The trained net's output for rows X, as rows (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        A: np.ndarray = self.model_.predict(
            np.ascontiguousarray(X.T, dtype=np.dtype(self.dtype))).T
        return A


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A minigrad net as a scikit-learn classifier (rows in, labels out).

    Args:
        hidden_layer_sizes: the widths of the hidden Dense layers, as in ``MLPClassifier``.
        activation: the hidden activation, a name in :data:`ACTIVATIONS` (default ``"relu"``).
        model: a function ``(n_features, n_outputs) -> minigrad model`` giving the scores Z
            (n_outputs is 1 for two classes, else the number of classes); it replaces
            ``hidden_layer_sizes`` and ``activation``.
        optimizer: ``"adam"`` (default), ``"adamw"``, ``"sgd"`` or ``"rmsprop"``.
        learning_rate: the optimizer's ``lr`` (default 0.001).
        weight_decay: the optimizer's L2 coefficient (default 0).
        batch_size: examples per step (default 200; None is full-batch).
        epochs: passes over the data per ``fit`` (default 200); ``partial_fit`` makes one.
        shuffle: reshuffle the examples every epoch.
        dtype: ``"float64"`` (default) or ``"float32"``.
        random_state: an int (or RandomState) for reproducible fits.
        verbose: print mg.fit's progress.

    Fitted attributes: ``classes_``, ``model_`` (ending in Sigmoid or Softmax),
    ``optimizer_``, ``loss_curve_`` (the loss per epoch), ``n_iter_`` (epochs run),
    ``n_features_in_``.

    >>> from minigrad.sklearn import NeuralNetClassifier
    >>> X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    >>> clf = NeuralNetClassifier((8,), "tanh", learning_rate=0.1, epochs=300, random_state=0)
    >>> clf.fit(X, ["no", "yes", "yes", "no"]).predict(X).tolist()
    ['no', 'yes', 'yes', 'no']
    """

    def _output_layer(self) -> Layer:
        return act.Sigmoid() if len(self.classes_) == 2 else act.Softmax()

    def _loss(self) -> Loss:
        return BinaryCrossEntropy() if len(self.classes_) == 2 else CategoricalCrossEntropy()

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """Labels as mg.fit takes them: 0/1 in one row for two classes, else class indices."""
        index = np.searchsorted(self.classes_, y)
        unseen = (index >= len(self.classes_)) | (
            self.classes_[np.minimum(index, len(self.classes_) - 1)] != y)
        if unseen.any():
            raise ValueError(f"{type(self).__name__}: labels {np.unique(y[unseen]).tolist()} "
                             f"are not among classes_ {self.classes_.tolist()}")
        if len(self.classes_) == 2:
            return index.reshape(1, -1).astype(np.dtype(self.dtype))
        return index

    def fit(self, X: Any, y: Any) -> NeuralNetClassifier:
        """Build a new net and train it for ``epochs`` epochs on rows X and labels y."""
        self._check_params()
        X, y = self._validate(X, y, reset=True)
        check_classification_targets(y)
        self.classes_ = self._classes(np.unique(y))
        self._build(X.shape[1], 1 if len(self.classes_) == 2 else len(self.classes_))
        self._train(X, self._targets(y), int(self.epochs))
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> NeuralNetClassifier:
        """One epoch on (X, y); the first call builds the net and needs ``classes``."""
        first = not hasattr(self, "model_")
        if first:
            self._check_params()
        X, y = self._validate(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError(f"{type(self).__name__}: classes must be passed on the first "
                                 "call to partial_fit (all the labels there will be)")
            self.classes_ = self._classes(np.unique(np.asarray(classes)))
            self._build(X.shape[1], 1 if len(self.classes_) == 2 else len(self.classes_))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"{type(self).__name__}: classes {list(classes)} differ from the "
                             f"first call's {self.classes_.tolist()}")
        self._train(X, self._targets(y), 1)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one row per sample, one column per class of ``classes_``."""
        A = self._forward(X)
        if len(self.classes_) == 2:
            p = A[:, 0]
            return np.column_stack([1.0 - p, p])
        return A

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        labels: np.ndarray = self.classes_[np.argmax(proba, axis=1)]
        return labels

    def _classes(self, classes: np.ndarray) -> np.ndarray:
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes to fit, got "
                             f"1 class: {classes.tolist()}")
        return classes


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A minigrad net as a scikit-learn regressor, trained with mean squared error.

    Takes the arguments of :class:`NeuralNetClassifier`; ``model(n_features, n_outputs)``
    returns the net whose output is the prediction. ``y`` is ``(n_samples,)`` or
    ``(n_samples, n_outputs)``, and ``predict`` returns the same shape.

    >>> import numpy as np
    >>> from minigrad.sklearn import NeuralNetRegressor
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
    >>> reg = NeuralNetRegressor((16,), "tanh", learning_rate=0.01, epochs=500, random_state=0)
    >>> round(reg.fit(X, 3 * X[:, 0] + 1).score(X, 3 * X[:, 0] + 1), 3)
    1.0
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may have several columns
        return tags

    def _more_tags(self) -> dict[str, Any]:  # the same, for scikit-learn before 1.6
        return {"multioutput": True}

    def _output_layer(self) -> None:
        return None

    def _loss(self) -> Loss:
        return MeanSquaredError()

    def fit(self, X: Any, y: Any) -> NeuralNetRegressor:
        """Build a new net and train it for ``epochs`` epochs on rows X and targets y."""
        self._check_params()
        X, y = self._validate(X, y, reset=True, y_numeric=True, multi_output=True)
        Y = self._columns(y, fitting=True)
        self._build(X.shape[1], Y.shape[0])
        self._train(X, Y, int(self.epochs))
        return self

    def partial_fit(self, X: Any, y: Any) -> NeuralNetRegressor:
        """One epoch on (X, y); the first call builds the net."""
        first = not hasattr(self, "model_")
        if first:
            self._check_params()
        X, y = self._validate(X, y, reset=first, y_numeric=True, multi_output=True)
        Y = self._columns(y, fitting=first)
        if first:
            self._build(X.shape[1], Y.shape[0])
        self._train(X, Y, 1)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, ``(n_samples,)`` or ``(n_samples, n_outputs)`` as y was in fit."""
        A = self._forward(X)
        return A[:, 0] if self._y_1d else A

    def _columns(self, y: np.ndarray, *, fitting: bool) -> np.ndarray:
        y = np.asarray(y, dtype=np.dtype(self.dtype))
        if fitting:
            self._y_1d = y.ndim == 1
        Y = y.reshape(1, -1) if y.ndim == 1 else y.T
        n_out = self.model_.output_size(None) if not fitting and hasattr(self, "model_") else None
        if n_out is not None and Y.shape[0] != n_out:
            raise ValueError(f"{type(self).__name__}: y has {Y.shape[0]} outputs, the net "
                             f"was built for {n_out}")
        return np.ascontiguousarray(Y)


@contextmanager
def _default_generator(seed: int) -> Iterator[None]:
    """Layers built (and dropout masks drawn) inside draw from a generator seeded by ``seed``;
    minigrad's default generator is put back afterwards."""
    saved = _rng._default
    _rng._default = np.random.default_rng(seed)
    try:
        yield
    finally:
        _rng._default = saved


__all__ = ["ACTIVATIONS", "OPTIMIZERS", "NeuralNetClassifier", "NeuralNetRegressor"]
