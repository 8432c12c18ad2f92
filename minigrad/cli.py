"""The ``minigrad`` command (also ``python -m minigrad``).

    minigrad demo                 train the notes' planar net, compare, draw
    minigrad demo moons --sweep   another demo, with the hidden-size sweep
    minigrad demo --list          every demo and its settings

Errors in the options (an unknown option or demo, an --out folder that
cannot be written) print one line and the command's usage (exit status 2),
before any training; errors while running print the message without a
traceback (exit status 1).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_OUT = "minigrad-out"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser, demo_parser = _parser()
    # unknown options are reported by the parser of the command they were given to,
    # so that `minigrad demo --bogus` shows the demo's usage, not the top level's
    args, unknown = parser.parse_known_args(argv)
    used = demo_parser if args.command == "demo" else parser
    if unknown:
        used.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "demo":
        _check_demo_arguments(args, demo_parser)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("minigrad: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError, RuntimeError, FloatingPointError) as err:
        print(f"minigrad {args.command}: error: {err}", file=sys.stderr)
        for note in getattr(err, "__notes__", ()):
            print(f"  {note}", file=sys.stderr)
        return 1


def _number(
    convert: Callable[[str], float], ok: Callable[[float], bool], what: str
) -> Callable[[str], Any]:
    """An argparse ``type`` that converts, checks, and names what it expected."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = math.nan
        if (isinstance(value, float) and not math.isfinite(value)) or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_positive_float = _number(float, lambda v: v > 0, "a positive number")
_seed = _number(int, lambda v: v >= 0, "a non-negative integer")


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The top-level parser and the demo command's."""
    from minigrad._version import __version__

    parser = argparse.ArgumentParser(
        prog="minigrad",
        description="minigrad: a small, clear neural-network framework on numpy.",
        epilog="Start with: minigrad demo",
    )
    parser.add_argument("--version", action="version", version=f"minigrad {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="train a small net on a generated data set and draw what it learned",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Train a one-hidden-layer net with mg.fit and gradient descent, compare it\n"
            "with the same data and no hidden layer (logistic, softmax or linear\n"
            "regression, also trained by minigrad), and save the training curves and\n"
            "the decision boundary (or the fitted curve) as PNG files."
        ),
        epilog=(
            "examples:\n"
            "  minigrad demo                      the notes' planar net\n"
            "  minigrad demo --sweep              ... and the hidden-size sweep\n"
            "  minigrad demo spirals --hidden 64  another demo, another size\n"
            "  minigrad demo --list               every demo and its defaults"
        ),
    )
    demo.add_argument("name", nargs="?", default="planar", metavar="NAME",
                      help="which demo to run (default: planar); see --list")
    demo.add_argument("--list", action="store_true", help="list the demos and exit")
    demo.add_argument("--epochs", type=_positive_int, metavar="N",
                      help="passes over the data (default: per demo)")
    demo.add_argument("--hidden", type=_positive_int, metavar="H",
                      help="units in the hidden layer (default: per demo)")
    demo.add_argument("--lr", type=_positive_float, metavar="LR",
                      help="learning rate of gradient descent (default: per demo)")
    demo.add_argument("--seed", type=_seed, default=1, metavar="S",
                      help="seeds the data and the weights (default: 1, the notes' planar set)")
    demo.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), metavar="DIR",
                      help=f"folder for the PNG files (default: ./{DEFAULT_OUT})")
    demo.add_argument("--sweep", action="store_true",
                      help="also train with 1, 2, 3, 4, 5, 20 and 50 hidden units")
    demo.add_argument("--explain", action="store_true",
                      help="print the net's forward and backward equations first")
    demo.add_argument("--quiet", action="store_true", help="no progress line while training")
    demo.set_defaults(handler=_demo)
    return parser, demo


def _check_demo_arguments(args: Any, demo_parser: argparse.ArgumentParser) -> None:
    """Usage errors found before any work: an unknown demo, an --out that cannot be written."""
    from minigrad.demos import DEMOS

    if args.list:
        return
    if args.name not in DEMOS:
        demo_parser.error(f"no demo named {args.name!r}; choose from {', '.join(DEMOS)}")
    problem = _unwritable(args.out)
    if problem:
        demo_parser.error(f"argument --out: cannot write the pictures to {str(args.out)!r}: "
                          f"{problem}")


def _unwritable(out: Path) -> str:
    """Why the folder ``out`` could not be made or written to ("" when it can), creating nothing."""
    folder = out.resolve()
    if folder.exists():
        if not folder.is_dir():
            return "it is a file, not a folder"
        return "" if os.access(folder, os.W_OK | os.X_OK) else "the folder is not writable"
    parent = folder.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{str(parent)!r} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot make a folder in {str(parent)!r}: it is not writable"
    return ""


def _demo(args: Any) -> int:
    from minigrad.demos import DEMOS, run

    if args.list:
        print(_list_text())
        return 0
    demo = DEMOS[args.name]  # checked by _check_demo_arguments
    if not demo.available():
        from minigrad.datasets.digits import INSTALL_HINT

        raise ImportError(f"the {demo.name} demo needs {demo.needs}: {INSTALL_HINT}")
    run(demo, hidden=args.hidden, lr=args.lr, epochs=args.epochs, seed=args.seed,
        out=args.out.resolve(), sweep=args.sweep, explain=args.explain, verbose=not args.quiet)
    return 0


def _list_text() -> str:
    from minigrad.demos import DEMOS

    lines = ["Demos (run one with: minigrad demo NAME):"]
    for demo in DEMOS.values():
        if not demo.available():
            continue
        lines.append(f"  {demo.name:<11} {demo.summary}")
        lines.append(f"  {'':<11} defaults: --hidden {demo.hidden} --lr {demo.lr:g} "
                     f"--epochs {demo.epochs}")
    missing = [demo for demo in DEMOS.values() if not demo.available()]
    for demo in missing:
        from minigrad.datasets.digits import INSTALL_HINT

        lines.append(f"  ({demo.name} needs {demo.needs}: {INSTALL_HINT})")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
