"""Summaries of the ``memo.*`` counters of a :class:`~rnnaccel.emulator.Trace`."""

from __future__ import annotations

from ..trace import Trace

__all__ = ["memo_stats"]


def memo_stats(trace: Trace) -> dict:
    """Per (layer, direction), per module and total: gate neurons computed/reused, the reused
    fraction, MACs skipped (``reused * (D + H)``), weight bytes read and skipped.

    Returns ``{"layers": {"L0.d0": {...}, ...}, "modules": {"decoder": {...}, ...}, "total": {...}}``
    (layer keys are :attr:`LayerTrace.key`, ``"decoder:L0.d0"`` for a named module; every
    LayerTrace of one key — evaluation batches — is summed; unnamed LayerTraces form module
    ``""``); each entry has ``computed``,
    ``reused``, ``reuse_fraction``, ``macs_skipped``, ``macs``, ``mac_fraction_skipped``,
    ``weight_bytes``, ``weight_bytes_skipped``, ``weight_fraction_skipped``.
    """

    def entry(computed, reused, skipped_macs, macs, wbytes, wskip):
        n = computed + reused
        return {
            "computed": computed,
            "reused": reused,
            "reuse_fraction": reused / n if n else 0.0,
            "macs_skipped": skipped_macs,
            "macs": macs,
            "mac_fraction_skipped": skipped_macs / (macs + skipped_macs) if macs + skipped_macs else 0.0,
            "weight_bytes": wbytes,
            "weight_bytes_skipped": wskip,
            "weight_fraction_skipped": wskip / (wbytes + wskip) if wbytes + wskip else 0.0,
        }

    add = lambda a, b: [x + y for x, y in zip(a, b)]  # noqa: E731
    layers: dict[str, list] = {}
    modules: dict[str, list] = {}
    tot = [0] * 6
    for lt in trace:
        reused = lt.total("memo.reused")
        macs = sum(lt.total(k) for k in lt.counters if k.startswith("mac."))
        vals = [
            lt.total("memo.computed"),
            reused,
            reused * (lt.input_size + lt.hidden_size),
            macs,
            lt.total("weight_bytes"),
            lt.total("memo.weight_bytes_skipped"),
        ]
        layers[lt.key] = add(layers.get(lt.key, [0] * 6), vals)
        modules[lt.module] = add(modules.get(lt.module, [0] * 6), vals)
        tot = add(tot, vals)
    return {
        "layers": {k: entry(*v) for k, v in layers.items()},
        "modules": {k: entry(*v) for k, v in modules.items()},
        "total": entry(*tot),
    }
