"""rnnaccel: bit-exact emulator and accuracy evaluator for energy-efficient RNN accelerators."""
__version__ = "0.1.0"
