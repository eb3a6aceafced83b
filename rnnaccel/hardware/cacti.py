"""CACTI 7 driver: energy per access, leakage, area and access time of every on-chip memory of a
price table, computed by the field's SRAM model instead of typed by hand.

The compiled CACTI 7 binary ships in the ``zigzag-dse`` wheel (extra ``hwtools``) at
``zigzag/cacti/cacti_master/``. It reads ``tech_params/`` relative to its working directory, so
every call runs in a fresh temporary directory holding symlinks to ``tech_params`` and
``contention.dat`` and a config generated from the wheel's ``cache.cfg_temp`` with the keys of
:func:`overrides` replaced; nothing is written into site-packages. Stdout is parsed (CACTI exits 0
on an invalid technology node, so the text is checked, not the exit code).

``python -m rnnaccel.hardware.cacti --hw epur`` (``--hw tpu``, ``--all``) runs CACTI for every
memory of the table (:meth:`HwConfig.memories`) at the table's node and rewrites only the CACTI
lines of the packaged YAML (read, write, leakage, area, access_time of each memory), with the
CACTI version and the config overrides as the source. When the binary is absent or fails, the
command says so in one line and the cached values stay; tests and users never need CACTI.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from .schema import Memory, available_hw, load_hw

__all__ = [
    "MemorySpec",
    "CactiResult",
    "CactiError",
    "cacti_dir",
    "spec_of",
    "overrides",
    "config_text",
    "run_cacti",
    "memory_lines",
    "update_yaml_text",
    "main",
]

#: the CACTI outputs a price table caches, and the unit each is written in
OUTPUTS = {"read": "pJ", "write": "pJ", "leakage": "mW", "area": "mm2", "access_time": "ns"}


class CactiError(RuntimeError):
    """CACTI is absent, crashed, or printed no result (the message is one line)."""


@dataclass(frozen=True)
class MemorySpec:
    """What CACTI is asked about one memory (a scratchpad RAM, no tag array)."""

    capacity_bytes: int
    width_bits: int
    banks: int
    node_nm: float
    cell: str
    periphery: str

    def describe(self) -> str:
        return (
            f"ram {self.capacity_bytes} B, {self.width_bits}-bit port, {self.banks} bank(s), "
            f"{self.node_nm:g} nm, cell {self.cell}, periphery {self.periphery}"
        )


@dataclass(frozen=True)
class CactiResult:
    """CACTI's answer for one memory, in SI units. ``leakage_w`` covers all banks
    (CACTI reports subthreshold and gate leakage per bank); ``area_mm2`` is the total."""

    spec: MemorySpec
    read_j: float
    write_j: float
    leakage_w: float
    area_mm2: float
    access_s: float
    cycle_s: float
    version: str

    def source(self) -> str:
        return (
            f"CACTI {self.version}: {self.spec.describe()}; other keys as its cache.cfg_temp (docs/references.md#cacti)"
        )

    def values(self) -> dict[str, float]:
        """The five cached outputs in the units of :data:`OUTPUTS`."""
        return {
            "read": self.read_j * 1e12,
            "write": self.write_j * 1e12,
            "leakage": self.leakage_w * 1e3,
            "area": self.area_mm2,
            "access_time": self.access_s * 1e9,
        }


def cacti_dir() -> Path | None:
    """The wheel's ``cacti_master`` folder, or None when zigzag-dse is not installed."""
    spec = importlib.util.find_spec("zigzag")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "cacti" / "cacti_master"
    return d if (d / "cacti").is_file() else None


def tool_version() -> str:
    try:
        return f"zigzag-dse {metadata.version('zigzag-dse')}"
    except metadata.PackageNotFoundError:
        return "zigzag-dse (version unknown)"


def spec_of(mem: Memory, node_nm: float) -> MemorySpec:
    """The CACTI question for a memory section of a price table at the chip's node."""
    cap = mem.capacity.si
    if cap != int(cap):
        raise ValueError(f"capacity {mem.capacity.value} {mem.capacity.unit} is not a whole number of bytes")
    return MemorySpec(int(cap), mem.width.value, mem.banks.value, node_nm, mem.cell, mem.periphery)


def overrides(spec: MemorySpec) -> dict[str, str]:
    """Template key (line prefix of cache.cfg_temp) -> the line that replaces it."""
    if spec.width_bits % 8:
        raise ValueError(f"CACTI needs a port width in whole bytes, got {spec.width_bits} bits")
    return {
        "-size (bytes)": f"-size (bytes) {spec.capacity_bytes}",
        "-block size (bytes)": f"-block size (bytes) {spec.width_bits // 8}",
        "-output/input bus width": f"-output/input bus width {spec.width_bits}",
        "-UCA bank count": f"-UCA bank count {spec.banks}",
        "-technology (u)": f"-technology (u) {spec.node_nm / 1000:g}",
        "-cache type": '-cache type "ram"',
        "-Data array cell type -": f'-Data array cell type - "{spec.cell}"',
        "-Data array peripheral type -": f'-Data array peripheral type - "{spec.periphery}"',
    }


def config_text(spec: MemorySpec, template: str) -> str:
    """``template`` (cache.cfg_temp) with every key of :func:`overrides` replaced exactly once."""
    todo = overrides(spec)
    out = []
    for line in template.splitlines():
        key = next((k for k in todo if line.startswith(k)), None)
        out.append(todo.pop(key) if key else line)
    if todo:
        raise CactiError(f"CACTI template lacks the key {next(iter(todo))!r}; cannot build a config")
    return "\n".join(out) + "\n"


_FLOAT = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_PATTERNS = {
    "access_ns": rf"Access time \(ns\):\s*{_FLOAT}",
    "cycle_ns": rf"Cycle time \(ns\):\s*{_FLOAT}",
    "read_nj": rf"Total dynamic read energy per access \(nJ\):\s*{_FLOAT}",
    "write_nj": rf"Total dynamic write energy per access \(nJ\):\s*{_FLOAT}",
    "leak_mw": rf"Total leakage power of a bank \(mW\):\s*{_FLOAT}",
    "gate_mw": rf"Total gate leakage power of a bank \(mW\):\s*{_FLOAT}",
    "hxw": rf"Cache height x width \(mm\):\s*{_FLOAT}\s*x\s*{_FLOAT}",
}


def parse_output(text: str, spec: MemorySpec) -> CactiResult:
    """The first UCA result block of CACTI's stdout."""
    if "Invalid technology" in text:
        raise CactiError(f"CACTI: invalid technology node {spec.node_nm:g} nm (CACTI 7 covers 22-180 nm)")
    found = {k: re.search(p, text) for k, p in _PATTERNS.items()}
    missing = [k for k, m in found.items() if m is None]
    if missing:
        tail = " | ".join(line.strip() for line in text.strip().splitlines()[-3:])
        raise CactiError(f"CACTI printed no {missing[0]} for {spec.describe()} (last lines: {tail})")
    g = {k: float(m.group(1)) for k, m in found.items()}
    h, w = (float(x) for x in found["hxw"].groups())
    ver = re.search(r"CACTI \(version (\S+)", text)
    version = f"{ver.group(1).strip() if ver else '7 (version line not found)'}, {tool_version()}"
    return CactiResult(
        spec,
        g["read_nj"] * 1e-9,
        g["write_nj"] * 1e-9,
        (g["leak_mw"] + g["gate_mw"]) * 1e-3 * spec.banks,
        h * w,
        g["access_ns"] * 1e-9,
        g["cycle_ns"] * 1e-9,
        version,
    )


def run_cacti(spec: MemorySpec, directory: Path | None = None, timeout: float = 300) -> CactiResult:
    """Run the CACTI binary on one memory in a temporary directory."""
    d = directory or cacti_dir()
    if d is None:
        raise CactiError("CACTI not found: install the hwtools extra (pip install -e '.[hwtools]', zigzag-dse)")
    cfg = config_text(spec, (d / "cache.cfg_temp").read_text())
    with tempfile.TemporaryDirectory(prefix="rnnaccel-cacti-") as tmp:
        t = Path(tmp)
        for name in ("tech_params", "contention.dat"):
            (t / name).symlink_to(d / name)
        (t / "in.cfg").write_text(cfg)
        try:
            proc = subprocess.run(
                [str(d / "cacti"), "-infile", "in.cfg"], cwd=t, capture_output=True, text=True, timeout=timeout
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise CactiError(f"CACTI could not run on {spec.describe()}: {e}") from None
    if proc.returncode < 0 and "Access time" not in proc.stdout:
        raise CactiError(f"CACTI crashed (signal {-proc.returncode}) on {spec.describe()}")
    return parse_output(proc.stdout, spec)


# ---------------------------------------------------------------------------- the price table
def _fmt(v: float) -> str:
    return f"{v:.5g}"


def memory_lines(res: CactiResult, width_bits: int, node_nm: float) -> dict[str, str]:
    """Field name -> the YAML flow mapping CACTI's outputs are cached as."""
    vals, src = res.values(), res.source().replace('"', "'")
    out = {}
    for name, unit in OUTPUTS.items():
        extra = f", bits: {width_bits}, node_nm: {node_nm:g}" if name in ("read", "write") else ""
        note = "; per bank x banks, subthreshold + gate" if name == "leakage" else ""
        out[name] = f'{{value: {_fmt(vals[name])}, unit: {unit}{extra}, basis: cacti, source: "{src}{note}"}}'
    return out


def update_yaml_text(text: str, new: dict[str, str]) -> str:
    """Replace the flow mapping of each dotted path of ``new`` in a block-style YAML text, keeping
    every other line (comments included) as it is. Every path must already be in the text."""
    out, stack, done = [], [], set()
    for line in text.splitlines():
        m = re.match(r"^(\s*)([A-Za-z_][\w]*):(.*)$", line)
        if m and not line.lstrip().startswith("#"):
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m.group(2)))
            path = ".".join(k for _, k in stack)
            if path in new:
                line = f"{m.group(1)}{m.group(2)}: {new[path]}"
                done.add(path)
        out.append(line)
    missing = sorted(set(new) - done)
    if missing:
        raise ValueError(f"the price table has no line for {missing[0]}; add the memory's fields first")
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def refresh_table(name: str, write: bool = True) -> list[tuple[str, CactiResult]]:
    """Run CACTI for every memory of the packaged table ``name``; rewrite its YAML when ``write``."""
    hw = load_hw(name)
    node = hw.chip.node.value
    results, new = [], {}
    for path, mem, _ in hw.memories():
        res = run_cacti(spec_of(mem, node))
        results.append((path, res))
        for field, flow in memory_lines(res, mem.width.value, node).items():
            new[f"{path}.{field}"] = flow
    if write:
        f = Path(str(resources.files("rnnaccel.conf") / "hw" / f"{name}.yaml"))
        text = update_yaml_text(f.read_text(), new)
        import yaml

        load_hw(yaml.safe_load(text))  # never write a table that does not validate
        f.write_text(text)
    return results


def _row(path: str, inst: int, r: CactiResult) -> str:
    v = r.values()
    return (
        f"{path:28s} x{inst:<3d} {r.spec.capacity_bytes / 1024:9.0f} KiB {r.spec.width_bits:5d} b "
        f"{r.spec.banks:4d} bk  read {v['read']:8.2f} pJ  write {v['write']:8.2f} pJ  "
        f"leak {v['leakage']:8.3f} mW  area {v['area']:7.3f} mm2  {v['access_time']:6.3f} ns"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rnnaccel.hardware.cacti",
        description="Run CACTI 7 for every on-chip memory of a price table and cache the results in the packaged YAML.",
    )
    ap.add_argument("--hw", action="append", default=[], help="packaged table name (repeatable)")
    ap.add_argument("--all", action="store_true", help="every packaged table")
    ap.add_argument("--dry-run", action="store_true", help="print the results, leave the YAML as it is")
    a = ap.parse_args(argv)
    names = available_hw() if a.all else a.hw
    unknown = [n for n in names if n not in available_hw()]
    if not names or unknown:
        print(
            f"cacti: give --hw NAME or --all (packaged tables: {', '.join(available_hw())})"
            + (f"; unknown: {unknown[0]}" if unknown else ""),
            file=sys.stderr,
        )
        return 2
    for name in names:
        try:
            results = refresh_table(name, write=not a.dry_run)
        except CactiError as e:
            print(f"cacti: {e}; the cached values in rnnaccel/conf/hw/{name}.yaml stay", file=sys.stderr)
            return 1
        hw = load_hw(name)
        inst = {p: i for p, _, i in hw.memories()}
        print(f"# {name}: {'printed only' if a.dry_run else 'written to rnnaccel/conf/hw/' + name + '.yaml'}")
        for path, r in results:
            print(_row(path, inst[path], r))
            note = cycle_note(r, hw.chip.frequency.si)
            if note:
                print(f"  note: {path}: {note}")
    return 0


def cycle_note(r: CactiResult, clock_hz: float) -> str:
    """A warning when the banks cannot sustain one access per clock (cycle time / banks > period)."""
    period = 1.0 / clock_hz
    if r.cycle_s / r.spec.banks <= period:
        return ""
    return (
        f"CACTI cycle time {r.cycle_s * 1e9:.3g} ns over {r.spec.banks} bank(s) exceeds the "
        f"{period * 1e9:.3g} ns clock; one access per cycle needs more interleaved banks"
    )


if __name__ == "__main__":
    raise SystemExit(main())
