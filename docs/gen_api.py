"""Write docs/api.md, the API reference, from minigrad's docstrings.

    python docs/gen_api.py           rewrite docs/api.md
    python docs/gen_api.py --check   exit 1 if docs/api.md is out of date

The page lists every public name by topic: its call signature, its docstring
and the public methods and properties a class defines itself. The output
depends only on the code, so ``tests/test_docs_generated.py`` can insist that
the committed page matches it.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent / "api.md"

# (title, what the section is about, dotted names under minigrad)
SECTIONS: list[tuple[str, str, list[str]]] = [
    ("Layers", "Every layer maps (rows, m) to (rows', m); see [conventions](conventions.md).",
     ["Layer", "Parameter", "Sequential", "Dense", "Dropout", "BatchNorm"]),
    ("Convolutional layers", "Images are batches (c, h, w, m), examples last; see "
     "[convolutional nets](convolution.md).",
     ["Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten"]),
    ("Activations", "A = g(Z) forward, dZ = dA * g'(Z) backward; "
     "see [adding an activation](custom-activation.md).",
     ["Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "SELU", "GELU",
      "SiLU", "Softplus", "Softsign", "HardTanh", "Softmax"]),
    ("Losses", "`forward(A, Y) -> J`, the mean cost; `backward() -> dA`, per example.",
     ["losses.Loss", "losses.MeanSquaredError", "losses.BinaryCrossEntropy",
      "losses.CategoricalCrossEntropy"]),
    ("Graphs", "Layers wired as a graph; see [beyond Sequential](graphs.md).",
     ["Input", "Node", "Graph", "Residual", "Merge", "Add", "Concat", "Multiply"]),
    ("Gradient checking", "", ["gradcheck", "GradCheckResult", "GradCheckEntry"]),
    ("Training", "See [training and callbacks](training.md).",
     ["fit", "evaluate", "History", "seed"]),
    ("Optimizers and schedules", "",
     ["optim.Optimizer", "optim.SGD", "optim.Adam", "optim.AdamW", "optim.RMSProp",
      "optim.clip_grad_norm", "optim.global_norm", "optim.Schedule", "optim.StepDecay",
      "optim.ExponentialDecay", "optim.CosineDecay", "optim.ReduceLROnPlateau"]),
    ("Callbacks", "", ["Callback", "TrainState", "EarlyStopping", "LearningRateScheduler",
                       "ReduceLROnPlateau", "ModelCheckpoint"]),
    ("Metrics", "", ["metrics.accuracy", "metrics.binary_accuracy",
                     "metrics.categorical_accuracy", "metrics.mean_squared_error",
                     "metrics.mean_absolute_error", "metrics.confusion_matrix"]),
    ("Equations", "`model.explain(loss, m)` prints them and `model.explanation(loss, m)` returns "
     "them (methods of every layer, above); a layer writes its own lines on the tape; "
     "see [explain()](explain.md).",
     ["explain.build", "explain.Explanation", "explain.Tape", "explain.Var", "explain.Grad",
      "explain.Term"]),
    ("Saving and loading", "See [saving and loading](saving.md).",
     ["save", "load", "load_checkpoint", "register"]),
    ("Interop", "ONNX Runtime, PyTorch and scikit-learn, each with its extra; see "
     "[interop](interop.md).",
     ["export.to_onnx", "export.register_onnx", "export.OnnxBuilder", "export.to_torch",
      "export.register_torch", "export.register_from_torch", "from_torch",
      "sklearn.NeuralNetClassifier", "sklearn.NeuralNetRegressor"]),
    ("Data sets", "See [data sets and plots](data-and-plots.md).",
     ["datasets.planar", "datasets.moons", "datasets.circles", "datasets.spirals",
      "datasets.xor", "datasets.curve", "datasets.digits", "datasets.sklearn_available",
      "datasets.mnist", "datasets.fashion_mnist", "datasets.default_cache_dir",
      "datasets.read_idx", "datasets.write_idx"]),
    ("Data helpers", "", ["data.train_test_split", "data.standardize", "data.Standardizer",
                          "data.one_hot", "data.from_one_hot", "data.from_rows",
                          "data.to_rows", "data.from_nhwc", "data.from_nchw", "data.to_nhwc",
                          "data.to_nchw"]),
    ("Plots", "Need matplotlib: `pip install \"minigrad[plot]\"`.",
     ["plot.decision_boundary", "plot.training_curves", "plot.activation",
      "plot.fit_curve", "plot.graph"]),
    ("Errors", "See [troubleshooting](troubleshooting.md) and [errors](errors.md).",
     ["InputError", "ShapeError", "DTypeError", "StateError", "ModelFileError",
      "DivergenceError", "ExportError"]),
    ("Building blocks", "", ["functional.sigmoid", "functional.softplus",
                             "functional.softmax", "functional.logsumexp", "init.he",
                             "init.xavier", "init.small_normal"]),
]

# Exports that are documented under another name, or are modules covered above.
ALIASES = {"Swish": "SiLU"}
MODULES = {"callbacks", "data", "datasets", "export", "functional", "init", "losses", "metrics",
           "optim", "plot", "sklearn"}


def resolve(dotted: str) -> Any:
    """``"optim.SGD"`` -> minigrad.optim.SGD (submodules are imported as needed)."""
    module_name, _, attribute = f"minigrad.{dotted}".rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def show_default(value: Any) -> str:
    if isinstance(value, type):
        module = value.__module__
        prefix = "np." if module.startswith("numpy") else ""
        return prefix + value.__qualname__
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if callable(value) and hasattr(value, "__qualname__"):
        return value.__qualname__
    text = repr(value)
    if text.startswith("dtype("):  # a numpy dtype: show it as the type people write
        return f"np.{value}"
    return text


def signature(obj: Any) -> str:
    """``(a, b=1, *, c=None)``: names and defaults, no annotations (they are in the code)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts: list[str] = []
    star_done = False
    previous = None
    for p in sig.parameters.values():
        if p.name in ("self", "cls"):
            continue
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if previous is p.POSITIONAL_ONLY and p.kind is not p.POSITIONAL_ONLY:
            parts.append("/")
        name = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        if p.default is not p.empty:
            name += "=" + show_default(p.default)
        parts.append(name)
        previous = p.kind
    if previous is inspect.Parameter.POSITIONAL_ONLY:
        parts.append("/")
    return "(" + ", ".join(parts) + ")"


def docstring(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip()


def fenced(text: str) -> list[str]:
    return ["```text", text, "```"] if text else []


def members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined in the class itself, in source order."""
    found = []
    for name, value in vars(cls).items():
        builtin_activation = cls.__module__.endswith("activations") and cls is not mg_activation()
        if name.startswith("_") or (builtin_activation and name in ("g", "g_prime")):
            continue  # the docstring of a built-in activation already gives g and g'
        overrides = any(name in vars(base) for base in cls.__mro__[1:])
        function = value.fget if isinstance(value, property) else getattr(
            value, "__func__", value)
        if overrides and not getattr(function, "__doc__", None):
            continue  # an override without its own docstring: the base class documents it
        if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value):
            found.append((name, value))
    return found


def mg_activation() -> type:
    from minigrad.activations import Activation

    return Activation


def describe(label: str, obj: Any) -> list[str]:
    out: list[str] = []
    if inspect.isclass(obj):
        bases = [b.__name__ for b in obj.__bases__ if b is not object and b.__name__ != "Generic"]
        base_text = f" (subclass of {', '.join(bases)})" if bases else ""
        title = f"`class {obj.__name__}{signature(obj)}`{base_text}"
        out += [f"### {heading(label)}", "", title, ""]
        out += fenced(docstring(obj))
        for name, member in members(obj):
            if isinstance(member, property):
                out += ["", f"**`.{name}`** (property)"]
                doc = docstring(member.fget) if member.fget else ""
            else:
                function = member.__func__ if isinstance(member, staticmethod | classmethod) \
                    else member
                out += ["", f"**`.{name}{signature(function)}`**"]
                doc = docstring(function)
            if doc:
                out += ["", *fenced(doc)]
    else:
        out += [f"### {heading(label)}", "", f"`{label.split('.')[-1]}{signature(obj)}`", ""]
        out += fenced(docstring(obj))
    return [*out, ""]


def heading(label: str) -> str:
    """How a name is reached: ``mg.<label>``, or its module where mg does not export it."""
    return f"minigrad.{label}" if label.startswith("explain.") else f"mg.{label}"


def render() -> str:
    lines = [
        "# API reference",
        "",
        "<!-- Generated by docs/gen_api.py from the docstrings; do not edit by hand. -->",
        "",
        "Everything below is reached through `import minigrad as mg`. Signatures show names",
        "and defaults; the type hints are in the code. This page is generated from the",
        "docstrings by `python docs/gen_api.py`, and a test fails when it is out of date.",
        "",
        "Contents: " + ", ".join(f"[{title}](#{anchor(title)})" for title, _, _ in SECTIONS),
        "",
    ]
    for title, intro, names in SECTIONS:
        lines += [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        for name in names:
            lines += describe(name, resolve(name))
    return "\n".join(lines).rstrip() + "\n"


def anchor(title: str) -> str:
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c == "-")


def undocumented() -> list[str]:
    """Names in ``mg.__all__`` that no section covers."""
    import minigrad

    covered = {name for _, _, names in SECTIONS for name in names}
    return sorted(
        name for name in minigrad.__all__
        if name not in covered and name not in ALIASES and name not in MODULES
        and not name.startswith("__")
    )


def main(argv: list[str] | None = None, write: Callable[[str], Any] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that api.md is current")
    args = parser.parse_args(argv)
    text = render()
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if args.check:
        if current != text:
            write(f"{PAGE} is out of date: run python docs/gen_api.py")
            return 1
        return 0
    if current != text:
        PAGE.write_text(text, encoding="utf-8")
        write(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
