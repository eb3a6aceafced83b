"""Hydra applications (docs/cli.md): rnnaccel-train, -quantize, -evaluate, -batching, -report."""
