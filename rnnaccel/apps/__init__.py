"""Hydra applications: rnnaccel-train, rnnaccel-quantize, rnnaccel-evaluate."""
