"""The explain lines' plain-text math written as LaTeX, for notebooks.

``W2^T dZ2 * (1 - A1^2)`` becomes ``W_{2}^{T} dZ_{2} \\odot (1 - A_{1}^{2})``:
a name's number is its subscript, ``*`` (elementwise) is ``\\odot``, ``(1/m)``
a fraction, ``sqrt(x)`` a root, and words are set as text.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"(?P<frac>\(1/m\))|(?P<space>\s+)|(?P<number>\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*'?)|(?P<op>>=|<=|\*\*|.)"
)
_NAME = re.compile(r"(?P<d>d?)(?P<base>[A-Za-z]+?)(?P<number>\d+)?(?P<suffix>(?:_[A-Za-z0-9]+)*)")
_BUILTIN = {"tanh", "log", "exp", "max", "min", "sin", "cos"}
_OPERATORS = {"sigmoid", "softmax", "logsumexp", "sum", "mean", "rand", "sign"}
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "lambda", "mu", "sigma", "phi", "Phi",
          "pi", "theta"}
_SYMBOLS = {">=": r"\geq", "<=": r"\leq", "{": r"\{", "}": r"\}", "#": r"\#", "%": r"\%",
            "&": r"\&", "$": r"\$", "~": r"\sim", "\\": r"\backslash", "_": r"\_"}
_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}",
                 "#": r"\#", "%": r"\%", "&": r"\&", "$": r"\$", "~": r"\~{}"}


def math(text: str) -> str:
    """``text`` (an equation's side, or a shape) as LaTeX math."""
    tokens = [(m.lastgroup or "op", m.group()) for m in _TOKEN.finditer(text)]
    return _join(_render(tokens))


def text(words: str) -> str:
    """``words`` as a LaTeX ``\\text{...}``, with its special characters escaped."""
    return r"\text{" + "".join(_TEXT_ESCAPES.get(char, char) for char in words) + "}"


def _render(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each token as ``(kind, latex)``; ``sqrt(...)`` and ``^(...)`` take their group."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "name" and value == "sqrt" and i + 1 < len(tokens) and tokens[i + 1][1] == "(":
            end = _closing(tokens, i + 1)
            out.append(("math", r"\sqrt{" + _join(_render(tokens[i + 2:end])) + "}"))
            i = end + 1
            continue
        if value in ("^", "**") and i + 1 < len(tokens):
            j = i + 1
            if tokens[j][1] == "(":
                end = _closing(tokens, j)
                exponent = _join(_render(tokens[j + 1:end]))
                i = end + 1
            else:
                exponent = _join(_render([tokens[j]]))
                i = j + 1
            out.append(("math", "^{" + exponent + "}"))
            continue
        out.append(_token(kind, value, out[-1][1] if out else ""))
        i += 1
    return out


def _closing(tokens: list[tuple[str, str]], start: int) -> int:
    """The index of the ``)`` that closes the ``(`` at ``start`` (the end if none)."""
    depth = 0
    for j in range(start, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[j][1], 0)
        if depth == 0:
            return j
    return len(tokens)


def _token(kind: str, value: str, before: str) -> tuple[str, str]:
    if kind == "frac":
        return "math", r"\frac{1}{m}"
    if kind == "space":
        return "space", " "
    if kind == "number":
        mantissa, _, exponent = value.partition("e")
        if exponent:
            return "math", rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return "math", value
    if kind == "name":
        return _name(value)
    if value == "*":
        return "math", r"\cdot" if re.fullmatch(r"[\d.]+", before) else r"\odot"
    return "math", _SYMBOLS.get(value, value)


def _name(value: str) -> tuple[str, str]:
    prime = "'" if value.endswith("'") else ""
    word = value.rstrip("'")
    if word in _BUILTIN:
        return "math", "\\" + word + prime
    if word in _OPERATORS:
        return "math", r"\operatorname{" + word + "}" + prime
    if word == "T":
        return "math", "T"
    if len(word) >= 3 and word.isalpha() and word.islower() and word not in _GREEK:
        return "word", text(word)
    match = _NAME.fullmatch(word)
    if match is None:  # underscores in odd places: set the whole name upright
        return "math", r"\mathrm{" + word.replace("_", r"\_") + "}" + prime
    base, number = match["base"], match["number"] or ""
    if match["d"] and not (len(base) == 1 or base in _GREEK):  # "double", not d + "ouble"
        base, match_d = "d" + base, ""
    else:
        match_d = match["d"]
    suffixes = [part for part in match["suffix"].split("_") if part]
    shown = "\\" + base if base in _GREEK else base if len(base) == 1 else r"\mathrm{" + base + "}"
    if "hat" in suffixes:
        suffixes.remove("hat")
        shown = r"\hat{" + shown + "}"
    subscript = ",".join([number] * bool(number) + [r"\text{" + s + "}" for s in suffixes])
    return "math", match_d + shown + (f"_{{{subscript}}}" if subscript else "") + prime


def _join(pieces: list[tuple[str, str]]) -> str:
    """Concatenate; a space between two words stays a visible space."""
    out = []
    for i, (kind, latex) in enumerate(pieces):
        if kind == "space":
            before = pieces[i - 1][0] if i else ""
            after = pieces[i + 1][0] if i + 1 < len(pieces) else ""
            out.append(r"\ " if "word" in (before, after) else " ")
        else:
            out.append(latex)
    return "".join(out).strip()
