"""One way for a model to put its recurrent stacks on the accelerator datapath.

A model (an ``nn.Module``) names the attributes that hold its emulator stacks
(:class:`~rnnaccel.emulator.LSTM` / :class:`~rnnaccel.emulator.GRU`) in ``STACKS`` and inherits
:class:`OnDatapath`: ``set_mode`` switches every emulator module (as :func:`rnnaccel.set_mode`),
``set_datapath`` gives each stack its formats (one config for every layer, or one per layer) and
checks that every layer's GEMM fits the accumulator (:meth:`DatapathConfig.check_gemm`),
``mode`` / ``datapath`` read them back.

    class SpeechRecognizer(OnDatapath, nn.Module):
        STACKS = ("rnn",)                          # model.set_datapath(cfg)
    class Translator(OnDatapath, nn.Module):
        STACKS = ("encoder", "decoder")            # model.set_datapath(enc_cfgs, dec_cfgs)
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..emulator import DatapathConfig, per_layer_configs
from ..emulator.convert import set_mode

__all__ = ["OnDatapath", "check_stack"]

StackConfig = DatapathConfig | list[DatapathConfig]


def check_stack(rnn: Any, configs: list[DatapathConfig] | None = None) -> None:
    """Every layer's GEMM of ``rnn`` fits its config (default: the configs ``rnn`` holds)."""
    for layer, dp in enumerate(rnn.datapath if configs is None else configs):
        d_in = rnn.input_size if layer == 0 else rnn.hidden_size * rnn.num_directions
        dp.check_gemm(d_in, rnn.hidden_size)


class OnDatapath:
    """``mode`` / ``set_mode`` / ``datapath`` / ``set_datapath`` over the stacks named in ``STACKS``."""

    STACKS: ClassVar[tuple[str, ...]] = ()

    def recurrent_layers(self) -> list[Any]:
        """The modules that run on the datapath, in ``STACKS`` order."""
        return [getattr(self, name) for name in self.STACKS]

    @property
    def mode(self) -> str:
        return self.recurrent_layers()[0].mode

    def set_mode(self, mode: str):
        """Switch every emulator module of the model to ``"float"``, ``"fakequant"`` or ``"emulate"``
        (:func:`rnnaccel.emulator.set_mode`: the stacks in ``STACKS`` and any other one)."""
        return set_mode(self, mode)

    @property
    def datapath(self) -> Any:
        """The per-layer configs: a list for a one-stack model, else ``{stack name: list}``."""
        per_stack = {name: rnn.datapath for name, rnn in zip(self.STACKS, self.recurrent_layers())}
        return next(iter(per_stack.values())) if len(per_stack) == 1 else per_stack

    def set_datapath(self, *configs: StackConfig):
        """One entry per stack (``STACKS`` order), each a config for all its layers or one per layer;
        a single entry serves every stack. Refused (ValueError) when a layer's GEMM does not fit."""
        stacks = self.recurrent_layers()
        if len(configs) == 1:
            configs = configs * len(stacks)
        if len(configs) != len(stacks):
            raise ValueError(
                f"set_datapath: {type(self).__name__} has {len(stacks)} recurrent stacks "
                f"{self.STACKS}; got {len(configs)} configs"
            )
        per_layer = [per_layer_configs(cfg, rnn.num_layers) for rnn, cfg in zip(stacks, configs)]
        for rnn, cfgs in zip(stacks, per_layer):
            check_stack(rnn, cfgs)  # all checked before any stack changes
        for rnn, cfgs in zip(stacks, per_layer):
            rnn.datapath = cfgs
        return self
