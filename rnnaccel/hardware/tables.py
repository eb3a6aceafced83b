"""Markdown tables of the packaged price tables (the tables in docs/cost_model.md §9).

``python -m rnnaccel.hardware.tables`` prints, for every packaged table: the numbers that are not
CACTI outputs (value, sensitivity range, unit, node/width, basis, source), one row per on-chip
memory with its CACTI outputs, the static-power parts and the area by component. A test checks the
docs hold them verbatim.
"""

from __future__ import annotations

from dataclasses import fields

from .area import report_text
from .pricing import price_book
from .schema import HwConfig, available_hw, load_hw
from .units import Param, Price

__all__ = ["tag", "price_table_markdown", "memory_table_markdown", "static_table_markdown", "all_tables"]


def _at(p: Param) -> str:
    if not isinstance(p, Price):
        return ""
    at = "off-chip" if p.node_nm is None else f"{p.node_nm:g} nm"
    return at + (f", {p.bits} b" if p.bits is not None else "")


def _choices(obj, prefix: str) -> list[tuple[str, str]]:
    """``(dotted name, value)`` of every choice field outside the memory sections."""
    out = []
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, str):
            out.append((f"{prefix}.{f.name}", v))
    return out


def tag(p: Param) -> str:
    """verified ([V] in the source), recalled ([R]), assumption, or derived (from the design or
    the project's own defaults)."""
    if "[V" in p.source:
        return "verified"
    if "[R" in p.source:
        return "recalled"
    return "assumption" if "assumption" in p.source else "derived"


def price_table_markdown(hw: HwConfig) -> str:
    """One row per number that is not a CACTI output, then the choice fields."""
    rows = [
        f"#### `{hw.kind}`: {hw.name}",
        "",
        "| parameter | value | range | unit | node / width | basis | tag | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in hw.params():
        if p.basis == "cacti":
            continue
        rng = f"{p.low:g} – {p.high:g}" if p.has_range else ""
        src = p.source.replace("|", "/")
        rows.append(f"| `{p.name}` | {p.value:g} | {rng} | {p.unit} | {_at(p)} | {p.basis} | {tag(p)} | {src} |")
    for name, v in _choices(hw.chip, "chip") + _choices(hw.arch, hw.kind):
        rows.append(f"| `{name}` | {v} | | | | choice | | see docs/cost_model.md |")
    return "\n".join(rows) + "\n"


def memory_table_markdown(hw: HwConfig) -> str:
    """One row per on-chip memory: its description and its cached CACTI outputs."""
    rows = [
        f"CACTI outputs cached in `{hw.kind}.yaml` (`python -m rnnaccel.hardware.cacti --hw {hw.kind}`; "
        f"{_version(hw)}; every other key as CACTI's `cache.cfg_temp`):",
        "",
        "| memory | x | capacity | width | banks | cell / periphery | read pJ | write pJ | leakage mW "
        "| area mm² | access ns |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path, m, n in hw.memories():
        rows.append(
            f"| `{path}` | {n} | {m.capacity.value:g} {m.capacity.unit} | {m.width.value} b | {m.banks.value} "
            f"| {m.cell} / {m.periphery} | {m.read.value:g} | {m.write.value:g} | {m.leakage.value:g} "
            f"| {m.area.value:g} | {m.access_time.value:g} |"
        )
    return "\n".join(rows) + "\n"


def _version(hw: HwConfig) -> str:
    src = hw.memories()[0][1].read.source
    return src.split(":")[0] if src.startswith("CACTI") else "not yet computed"


def static_table_markdown(hw: HwConfig) -> str:
    book = price_book(hw)
    rows = [
        f"Static power of `{hw.kind}` (charged for the whole run time):",
        "",
        "| part | mW | how |",
        "|---|---|---|",
    ]
    for name, w, how in book.static_parts():
        rows.append(f"| `{name}` | {w * 1e3:.4g} | {how} |")
    rows.append(f"| **total** | **{book.static().joules * 1e3:.4g}** | |")
    return "\n".join(rows) + "\n"


def all_tables(hw: HwConfig) -> str:
    return "\n".join([price_table_markdown(hw), memory_table_markdown(hw), static_table_markdown(hw), report_text(hw)])


def main() -> None:
    print("\n".join(all_tables(load_hw(n)) for n in available_hw()))


if __name__ == "__main__":
    main()
