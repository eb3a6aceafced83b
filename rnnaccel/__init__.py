"""rnnaccel: bit-exact emulator and accuracy evaluator for energy-efficient RNN accelerators."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnnaccel")  # written once, in pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
