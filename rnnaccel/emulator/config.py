"""One config object that gives a fixed-point format to every tensor class of a recurrent layer.

The defaults are a 16-bit datapath (see ``docs/datapath.md``). ``DatapathConfig.check`` proves,
from the formats and the layer sizes, that every float64-carried integer stays exact (< 2**53)
and refuses the configuration otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from ..configio import strict_kwargs
from .formats import Fmt, Rounding, check_exact

__all__ = ["DatapathConfig", "TENSOR_CLASSES", "per_layer_configs"]

#: The tensor classes that carry a format, in the order the docs list them.
TENSOR_CLASSES = ("weight", "bias", "input", "hidden", "cell", "preact", "act")


@dataclass(frozen=True)
class DatapathConfig:
    """Formats, rounding and activation-unit settings of one recurrent layer.

    ``acc_bits`` is the accumulator width; its fractional bits are derived
    (``weight.frac + max(input.frac, hidden.frac)``: products are accumulated exactly, never
    rounded) and :attr:`acc` returns the full format.
    """

    weight: Fmt = field(default_factory=lambda: Fmt(16, 12))
    bias: Fmt = field(default_factory=lambda: Fmt(16, 12))
    input: Fmt = field(default_factory=lambda: Fmt(16, 12))
    hidden: Fmt = field(default_factory=lambda: Fmt(16, 15))
    cell: Fmt = field(default_factory=lambda: Fmt(16, 11))
    preact: Fmt = field(default_factory=lambda: Fmt(16, 12))
    act: Fmt = field(default_factory=lambda: Fmt(16, 15))
    acc_bits: int = 40
    rounding: Rounding = Rounding.NEAREST_EVEN
    act_index_bits: int = 8  # the activation unit has 2**act_index_bits segments
    act_interp: bool = True  # piecewise-linear interpolation (True) or plain lookup (False)
    seed: int = 0  # stochastic rounding only

    def __post_init__(self):
        for name in TENSOR_CLASSES:
            try:
                object.__setattr__(self, name, Fmt.parse(getattr(self, name)))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"datapath.{name}: {e}") from None
        try:
            object.__setattr__(self, "rounding", Rounding(self.rounding))
        except ValueError:
            ok = ", ".join(r.value for r in Rounding)
            raise ValueError(f"datapath.rounding={self.rounding!r} unknown; choose one of {ok}") from None
        if not isinstance(self.acc_bits, int) or not 2 <= self.acc_bits <= 53:
            raise ValueError(f"datapath.acc_bits={self.acc_bits!r} out of range: need 2 <= acc_bits <= 53")
        if self.acc_frac > 62:
            raise ValueError(f"datapath: accumulator frac {self.acc_frac} too large")
        for name in ("bias", "preact"):
            f = getattr(self, name).frac
            if f > self.acc_frac:
                raise ValueError(
                    f"datapath.{name}.frac={f} exceeds the accumulator frac {self.acc_frac} "
                    "(weight.frac + max(input.frac, hidden.frac)); it cannot be aligned exactly"
                )
        for name in ("preact", "cell"):
            b = getattr(self, name).bits
            if not 1 <= self.act_index_bits <= min(b, 16):
                raise ValueError(
                    f"datapath.act_index_bits={self.act_index_bits} out of range: need "
                    f"1 <= act_index_bits <= min({name}.bits={b}, 16)"
                )
        if not isinstance(self.seed, int):
            raise ValueError(f"datapath.seed must be an int, got {self.seed!r}")
        # element-wise products of the cell/hidden update stay exact in float64
        a, c, h = self.act, self.cell, self.hidden
        fm = max(2 * a.frac, a.frac + c.frac)
        check_exact(
            a.max_abs * c.max_abs * 2 ** (fm - a.frac - c.frac) + a.max_abs**2 * 2 ** (fm - 2 * a.frac),
            "datapath: LSTM cell update f*c + i*g",
        )
        fg = max(a.frac, h.frac)
        check_exact(
            2 * (a.max_abs * 2) * max(a.max_abs * 2 ** (fg - a.frac), h.max_abs * 2 ** (fg - h.frac)),
            "datapath: GRU update (1-z)*n + z*h",
        )

    # --------------------------------------------------------------------------- derived
    @property
    def acc_frac(self) -> int:
        return self.weight.frac + max(self.input.frac, self.hidden.frac)

    @property
    def acc(self) -> Fmt:
        """The accumulator format (bits from ``acc_bits``, frac derived)."""
        return _unchecked_fmt(self.acc_bits, self.acc_frac)

    def check_gemm(self, input_size: int, hidden_size: int) -> None:
        """Refuse layer sizes whose exact dot products could reach 2**53 in float64."""
        fa, w = self.acc_frac, self.weight
        bound = (
            input_size * w.max_abs * self.input.max_abs * 2 ** (fa - w.frac - self.input.frac)
            + hidden_size * w.max_abs * self.hidden.max_abs * 2 ** (fa - w.frac - self.hidden.frac)
            + 2 * self.bias.max_abs * 2 ** (fa - self.bias.frac)
        )
        check_exact(bound, f"datapath: gate dot product over {input_size}+{hidden_size} terms")

    def replace(self, **kw) -> "DatapathConfig":
        return replace(self, **kw)

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Fmt):
                v = {"bits": v.bits, "frac": v.frac}
            elif isinstance(v, Rounding):
                v = v.value
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d) -> "DatapathConfig":
        return cls(**strict_kwargs(cls, d, "datapath"))


def _unchecked_fmt(bits: int, frac: int) -> Fmt:
    """An accumulator format may be wider than 32 bits: bypass Fmt's storage-format checks."""
    f = object.__new__(Fmt)
    object.__setattr__(f, "bits", bits)
    object.__setattr__(f, "frac", frac)
    return f


def per_layer_configs(cfg: "DatapathConfig | list[DatapathConfig]", num_layers: int) -> list[DatapathConfig]:
    """Expand one config to every layer, or validate a per-layer list.

    With one config, layers after the first read their input in the previous layer's hidden
    format (outputs are stored once and read as the next layer's inputs: no requantization).
    With a list, each layer's ``input`` format is honoured and the previous layer's outputs are
    requantized into it (a narrowing step with rounding and counted saturation).
    """
    if isinstance(cfg, DatapathConfig):
        return [cfg] + ([_upper_layer_config(cfg)] * (num_layers - 1) if num_layers > 1 else [])
    cfgs = list(cfg)
    if len(cfgs) != num_layers:
        raise ValueError(f"datapath: got {len(cfgs)} per-layer configs for {num_layers} layers")
    for i, c in enumerate(cfgs):
        if not isinstance(c, DatapathConfig):
            raise ValueError(f"datapath[{i}]: expected DatapathConfig, got {type(c).__name__}")
    return cfgs


def _upper_layer_config(cfg: DatapathConfig) -> DatapathConfig:
    """Layer ``l >= 1`` of a one-config stack: ``cfg`` reading the previous layer's hidden format as
    its input, so its accumulator frac is ``weight.frac + hidden.frac`` (which can be below layer 0's).
    Refused here, with the reason in the stack's terms, when bias or preact cannot be aligned to it."""
    f_acc = cfg.weight.frac + cfg.hidden.frac
    for name in ("bias", "preact"):
        f = getattr(cfg, name).frac
        if f > f_acc:
            raise ValueError(
                f"datapath: layers after the first read the previous layer's outputs in the hidden format "
                f"{cfg.hidden}, so their accumulator frac is weight.frac + hidden.frac = {f_acc}, below "
                f"{name}.frac={f}; lower {name}.frac to <= {f_acc}, raise hidden.frac, or give one config per layer"
            )
    return cfg.replace(input=cfg.hidden)
