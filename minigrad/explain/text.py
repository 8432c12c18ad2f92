"""An activation's g, g' and dZ as text, found on its class, and written for one layer."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from minigrad.activations import Activation


def activation_text(layer: Activation) -> tuple[str | None, str | None, str | None]:
    """``(g, g', dZ)`` texts in terms of Z, A (and dA), each None when the class gives none.

    For each, the classes are searched from the layer's own type upwards: a
    class attribute (``g_text``, ``g_prime_text``, ``dZ_text``) wins, then a
    docstring line; a class that overrides the method (``g``, ``g_prime``,
    ``backward``) without giving text ends the search with None.
    """
    return (
        _lookup(layer, "g_text", "g", r"g\(Z\)"),
        _lookup(layer, "g_prime_text", "g_prime", r"g'\(Z\)"),
        _lookup(layer, "dZ_text", "backward", r"dZ"),
    )


def _lookup(layer: Activation, attribute: str, method: str, docstring_lhs: str) -> str | None:
    from minigrad.activations import Activation

    pattern = re.compile(rf"^\s*{docstring_lhs}\s*=\s*(.+?)\s*$", re.MULTILINE)
    for cls in type(layer).__mro__:
        if cls is Activation or not issubclass(cls, Activation):
            return None
        if attribute in vars(cls):
            text = getattr(layer, attribute)
            return str(text) if text is not None else None
        match = pattern.search(vars(cls).get("__doc__") or "")
        if match:
            return re.split(r"\s{2,}", match.group(1))[0].rstrip(",;")
        if method in vars(cls):
            return None
    return None


def substitute(text: str, names: dict[str, str], layer: Any) -> str:
    """Write ``text`` for this layer: Z, A, dA become their names, fields their values."""
    values = {**_field_values(layer), **names}
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in values) + r")\b")
    return pattern.sub(lambda match: values[match.group(1)], text).replace("**", "^")


def _field_values(layer: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    if attrs.has(type(layer)):
        for f in attrs.fields(type(layer)):
            value = getattr(layer, f.name, None)
            if f.init and isinstance(value, int | float) and not isinstance(value, bool):
                values[f.alias or f.name] = f"{value:g}"
    return values


def parenthesized(text: str) -> str:
    """``text`` as one factor: bare if it is a name or a call, else in parentheses."""
    call = re.fullmatch(r"[\w.']+\((.*)\)", text)
    if re.fullmatch(r"[\w.]+", text) or (call and _balanced(call.group(1))):
        return text
    return f"({text})"


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def function_name(layer: Any) -> str:
    return type(layer).__name__.lower()
