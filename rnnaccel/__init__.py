"""rnnaccel: bit-exact emulator and accuracy evaluator for energy-efficient RNN accelerators."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnnaccel")  # written once, in pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

#: top-level shortcuts, imported on first use so that ``import rnnaccel`` stays light
_LAZY = {
    "convert": "rnnaccel.emulator.convert",
    "set_mode": "rnnaccel.emulator.convert",
    "recurrent_modules": "rnnaccel.emulator.convert",
    "calibrate": "rnnaccel.emulator.calibrate",
    "session": "rnnaccel.emulator.session",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnaccel' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
