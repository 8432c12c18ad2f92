"""mg.sklearn: NeuralNetClassifier and NeuralNetRegressor are real scikit-learn estimators.

Needs scikit-learn (``pip install 'minigrad[sklearn]'``, part of the ``test`` extra); skipped
without it. Every check of ``check_estimator`` passes, so none is listed as expected to fail.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad import _rng

pytest.importorskip(
    "sklearn", reason="mg.sklearn needs scikit-learn: pip install 'minigrad[sklearn]'"
)
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from minigrad.sklearn import NeuralNetClassifier, NeuralNetRegressor

# small nets and few epochs keep the checks quick; they still reach the accuracy and the
# score that check_classifiers_train and check_regressors_train ask for
SMALL = {"hidden_layer_sizes": (16,), "learning_rate": 0.01, "epochs": 50, "random_state": 0}


@parametrize_with_checks([NeuralNetClassifier(**SMALL), NeuralNetRegressor(**SMALL)])
def test_check_estimator(estimator: Any, check: Any) -> None:
    check(estimator)


def iris() -> tuple[np.ndarray, np.ndarray]:
    data = load_iris()
    return data.data, data.target_names[data.target]  # string labels


def test_string_labels_and_probabilities() -> None:
    X, y = iris()
    clf = NeuralNetClassifier((16,), "tanh", learning_rate=0.01, epochs=100, random_state=0)
    clf.fit(StandardScaler().fit_transform(X), y)
    assert clf.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    Xs = StandardScaler().fit_transform(X)
    proba = clf.predict_proba(Xs)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (clf.predict(Xs) == clf.classes_[proba.argmax(axis=1)]).all()
    assert clf.score(Xs, y) > 0.9
    assert clf.n_iter_ == 100 and len(clf.loss_curve_) == 100
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert type(clf.model_.layers[-1]) is mg.Softmax


def test_two_classes_use_one_sigmoid_unit() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "right", "left")
    clf = NeuralNetClassifier((8,), learning_rate=0.05, epochs=100, random_state=0).fit(X, y)
    assert type(clf.model_.layers[-1]) is mg.Sigmoid
    assert clf.model_.output_size(2) == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba[:, 1], clf.model_.predict(X.T)[0])
    assert clf.score(X, y) > 0.9


def test_a_pipeline_in_grid_search_and_cross_validation() -> None:
    X, y = iris()
    pipe = Pipeline([("scale", StandardScaler()),
                     ("net", NeuralNetClassifier(epochs=60, learning_rate=0.01, random_state=0))])
    search = GridSearchCV(pipe, {"net__hidden_layer_sizes": [(4,), (16,)],
                                 "net__activation": ["relu", "tanh"]}, cv=3)
    search.fit(X, y)
    assert set(search.best_params_) == {"net__hidden_layer_sizes", "net__activation"}
    assert search.best_score_ > 0.8
    assert search.score(X, y) > 0.8
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8


def test_clone_and_params() -> None:
    clf = NeuralNetClassifier((5, 3), "gelu", optimizer="sgd", learning_rate=0.1, epochs=7,
                              random_state=3)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (5, 3) and params["activation"] == "gelu"
    clf.fit(*iris())
    copy = clone(clf)
    assert copy.get_params() == params
    assert not hasattr(copy, "model_")
    copy.set_params(epochs=3, activation="elu")
    assert (copy.epochs, copy.activation) == (3, "elu")


def test_random_state_makes_fits_reproducible_and_leaves_minigrads_generator() -> None:
    X, y = iris()
    before = _rng.default_rng().bit_generator.state
    fits = [NeuralNetClassifier((8,), batch_size=32, epochs=5, random_state=seed).fit(X, y)
            for seed in (1, 1, 2)]
    assert _rng.default_rng().bit_generator.state == before
    p = [f.predict_proba(X) for f in fits]
    np.testing.assert_array_equal(p[0], p[1])
    assert not np.array_equal(p[0], p[2])


def test_partial_fit_trains_on_from_where_it_stopped() -> None:
    X, y = iris()
    X = StandardScaler().fit_transform(X)
    clf = NeuralNetClassifier((8,), learning_rate=0.01, batch_size=30, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    for _ in range(30):
        clf.partial_fit(X, y, classes=np.unique(y))
    assert clf.n_iter_ == 30 and clf.loss_curve_[-1] < clf.loss_curve_[0]
    # thirty one-epoch calls are one thirty-epoch fit
    whole = NeuralNetClassifier((8,), learning_rate=0.01, batch_size=30, epochs=30,
                                random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.loss_curve_, whole.loss_curve_, rtol=1e-12)
    with pytest.raises(ValueError, match=r"labels \['daisy'\] are not among classes_"):
        clf.partial_fit(X[:2], ["daisy", "setosa"])


def test_a_model_function_gives_any_net() -> None:
    def model(n_features: int, n_outputs: int) -> mg.Layer:
        return mg.Sequential([mg.Dense(n_features, 12), mg.BatchNorm(12), mg.ReLU(),
                              mg.Dropout(0.1), mg.Dense(12, n_outputs)])

    X, y = iris()
    clf = NeuralNetClassifier(model=model, learning_rate=0.01, batch_size=50, epochs=60,
                              random_state=0).fit(X, y)
    assert [type(x).__name__ for x in clf.model_.layers] == ["Sequential", "Softmax"]
    assert clf.score(X, y) > 0.85
    with pytest.raises(TypeError, match="must return a minigrad model, got int"):
        NeuralNetClassifier(model=lambda n_features, n_outputs: 3).fit(X, y)


def test_the_regressor_keeps_ys_shape() -> None:
    X, y = make_regression(n_samples=120, n_features=4, n_targets=2, noise=0.1, random_state=0)
    y = y / y.std(axis=0)
    reg = NeuralNetRegressor((32,), "tanh", learning_rate=0.01, epochs=300, random_state=0)
    assert reg.fit(X, y).predict(X).shape == (120, 2)
    assert reg.score(X, y) > 0.95
    assert reg.fit(X, y[:, 0]).predict(X).shape == (120,)
    reg.partial_fit(X, y[:, 0])
    assert reg.n_iter_ == 301


def test_float32() -> None:
    X, y = iris()
    clf = NeuralNetClassifier((8,), dtype="float32", epochs=5, random_state=0).fit(X, y)
    assert clf.model_.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32


@pytest.mark.parametrize(("params", "message"), [
    ({"hidden_layer_sizes": (4, 0)}, r"hidden_layer_sizes must be positive ints, got \(4, 0\)"),
    ({"activation": "swish"}, "activation must be one of .*got 'swish'"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of .*got 'lbfgs'"),
    ({"epochs": 0}, "epochs must be a positive int, got 0"),
    ({"batch_size": 0}, "batch_size must be a positive int or None, got 0"),
    ({"dtype": "float16"}, "dtype must be 'float32' or 'float64', got 'float16'"),
    ({"model": 3}, "model must be a function"),
])
def test_bad_parameters_are_named(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"NeuralNetClassifier: {message}"):
        NeuralNetClassifier(**params).fit(*iris())


def test_one_class_is_refused() -> None:
    with pytest.raises(ValueError, match=r"needs at least 2 classes to fit, got 1 class: \['a'\]"):
        NeuralNetClassifier().fit([[0.0], [1.0]], ["a", "a"])


def test_a_fitted_net_exports() -> None:
    onnx = pytest.importorskip("onnx", reason="exporting needs onnx: pip install 'minigrad[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime")
    X, y = iris()
    clf = NeuralNetClassifier((8,), epochs=5, random_state=0).fit(X, y)
    proto = mg.export.to_onnx(clf.model_)
    onnx.checker.check_model(proto)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (proba,) = session.run(None, {"input": X})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-12)


def test_missing_sklearn_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "sklearn" or n.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    monkeypatch.delitem(sys.modules, "minigrad.sklearn")
    with pytest.raises(ImportError, match=r"pip install 'minigrad\[sklearn\]'"):
        importlib.import_module("minigrad.sklearn")
