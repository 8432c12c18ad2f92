"""The class registry: the only way a name in a model file becomes a class."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator

import numpy as np
import pytest

import minigrad as mg
from minigrad import registry
from minigrad.errors import ModelFileError


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test registers into copies, so that no test sees another's classes."""
    monkeypatch.setattr(registry, "_CLASSES", {})  # built-ins only: they load on first use
    monkeypatch.setattr(registry, "_OPTIMIZERS", {})
    monkeypatch.setattr(registry, "_builtins_loaded", False)
    yield


def _exported_layers() -> list[type[mg.Layer]]:
    return [
        obj for name in mg.__all__
        if isinstance(obj := getattr(mg, name), type) and issubclass(obj, mg.Layer)
        and obj not in (mg.Layer, mg.Activation)
    ]


@pytest.mark.parametrize("cls", _exported_layers(), ids=lambda c: c.__name__)
def test_every_exported_layer_is_registered_under_its_own_name(cls: type[mg.Layer]) -> None:
    assert registry.lookup(cls.__name__) is cls
    assert registry.name_of(cls) == cls.__name__


def test_abstract_bases_are_not_registered() -> None:
    for name in ("Layer", "Activation"):
        with pytest.raises(ModelFileError, match=f"'{name}', which is not registered"):
            registry.lookup(name)


def test_alias_swish_saves_as_silu() -> None:
    assert registry.name_of(mg.Swish) == "SiLU"


def test_optimizers_of_mg_optim_are_registered() -> None:
    optim = pytest.importorskip("minigrad.optim")
    names = [n for n in getattr(optim, "__all__", ()) if n in ("SGD", "Adam", "RMSProp")]
    for name in names:
        assert registry.lookup_optimizer(name) is getattr(optim, name)


class Cube(mg.Activation):
    """g(Z) = Z**3, g'(Z) = 3 Z**2."""

    def g(self, Z: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return Z * Z * Z

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return 3 * Z * Z


def test_decorator_returns_the_class_and_registers_it() -> None:
    assert mg.register(Cube) is Cube
    assert registry.lookup("Cube") is Cube
    assert registry.name_of(Cube) == "Cube"


def test_decorator_with_a_name() -> None:
    decorated = mg.register(name="CubeV2")(Cube)
    assert decorated is Cube
    assert registry.lookup("CubeV2") is Cube
    assert registry.name_of(Cube) == "CubeV2"


def test_registering_twice_is_harmless() -> None:
    mg.register(Cube)
    mg.register(Cube)
    assert registry.lookup("Cube") is Cube


def test_a_taken_name_is_refused() -> None:
    class Dense(mg.Activation):  # same name as the built-in
        pass

    with pytest.raises(ValueError, match=r"'Dense' is already taken by minigrad\.dense\.Dense"):
        mg.register(Dense)
    assert registry.lookup("Dense") is mg.Dense


def test_a_second_name_for_one_class_is_refused() -> None:
    mg.register(Cube)
    with pytest.raises(ValueError, match="already registered as 'Cube'"):
        mg.register(Cube, name="OtherCube")


@pytest.mark.parametrize(
    "thing", [os.system, builtins.eval, int, object, "Dense", 3, mg.losses.MeanSquaredError],
    ids=["os.system", "eval", "int", "object", "a string", "a number", "a loss"],
)
def test_only_layer_and_optimizer_classes_can_be_registered(thing: object) -> None:
    with pytest.raises(TypeError, match=r"expected a subclass of mg\.Layer or an optimizer"):
        mg.register(thing)  # type: ignore[call-overload]


@pytest.mark.parametrize("name", ["", "two words", "os.system", "1abc", 7])
def test_names_must_be_identifiers(name: object) -> None:
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        mg.register(Cube, name=name)  # type: ignore[arg-type]


def test_unregistered_name_says_how_to_register() -> None:
    with pytest.raises(ModelFileError, match=r"'Cube', which is not registered.*@mg\.register"):
        registry.lookup("Cube")


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "__import__('os')"])
def test_dotted_or_odd_names_are_never_resolved(name: str) -> None:
    with pytest.raises(ModelFileError, match="only registered minigrad layer classes"):
        registry.lookup(name)


def test_saving_an_unregistered_class_says_how_to_register() -> None:
    with pytest.raises(ModelFileError, match=r"Cube: its class is not registered.*mg\.register"):
        registry.name_of(Cube)


def test_a_custom_optimizer_class_can_be_registered() -> None:
    class Frozen:
        """Never moves: the smallest thing with the optimizer state protocol."""

        def state_dict(self) -> dict[str, object]:
            return {}

        def load_state_dict(self, state: dict[str, object], /) -> None:
            pass

    mg.register(Frozen)
    assert registry.lookup_optimizer("Frozen") is Frozen
    with pytest.raises(ModelFileError, match="'Frozen', which is not registered"):
        registry.lookup("Frozen")  # optimizers and layers have separate tables
    with pytest.raises(ModelFileError, match="optimizer class 'Nope'"):
        registry.lookup_optimizer("Nope")
