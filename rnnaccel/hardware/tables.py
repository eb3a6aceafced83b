"""Markdown tables of the packaged price tables (the tables in docs/cost_model.md).

``python -m rnnaccel.hardware.tables`` prints them; a test checks the docs hold them verbatim.
"""
from __future__ import annotations

from .schema import HwConfig, available_hw, load_hw
from .units import Price

__all__ = ["price_table_markdown"]


def price_table_markdown(hw: HwConfig) -> str:
    """One row per parameter: name, value, unit, measured at (node, width), source."""
    rows = [f"#### `{hw.kind}`: {hw.name}", "",
            "| parameter | value | unit | node / width | source |", "|---|---|---|---|---|"]
    for p in hw.params():
        at = ""
        if isinstance(p, Price):
            at = "off-chip" if p.node_nm is None else f"{p.node_nm:g} nm"
            if p.bits is not None:
                at += f", {p.bits} b"
        src = p.source.replace("|", "/")
        rows.append(f"| `{p.name}` | {p.value:g} | {p.unit} | {at} | {src} |")
    if hasattr(hw.arch, "mac_time_rule"):
        rows.append(f"| `{hw.kind}.mac_time_rule` | {hw.arch.mac_time_rule} | | | see MAC time rule |")
    return "\n".join(rows) + "\n"


def main() -> None:
    print("\n".join(price_table_markdown(load_hw(n)) for n in available_hw()))


if __name__ == "__main__":
    main()
