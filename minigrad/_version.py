"""The version of minigrad, in one place (the package, the CLI and model files read it)."""

__version__ = "0.2.0"
