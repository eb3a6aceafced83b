"""The package layout is the pipeline: emulator counts -> hardware prices -> serving schedules ->
apps. No module imports a package that comes after it, and the serving simulator's modules form no
import circle."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "rnnaccel"
ORDER = ["emulator", "hardware", "serving", "apps"]  # each may import only the ones before it


def _imports(path: Path) -> set[str]:
    """Absolute dotted names of every rnnaccel module ``path`` imports (module level or inside functions)."""
    mod = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
    pkg = mod.rsplit(".", 1)[0] if path.name != "__init__.py" else mod.removesuffix(".__init__")
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {n for n in out if n.startswith("rnnaccel")}


@pytest.mark.parametrize("i,layer", list(enumerate(ORDER)))
def test_no_import_runs_back_up(i, layer):
    later = ORDER[i + 1 :]
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in later:
                bad.append(f"{path.relative_to(PKG.parent)} imports {name}")
    assert not bad, "\n".join(bad)


def test_serving_modules_form_no_circle():
    mods = {p.stem: p for p in (PKG / "serving").glob("*.py") if p.stem != "__init__"}
    graph = {m: {n.split(".")[2] for n in _imports(p) if n.startswith("rnnaccel.serving.")} for m, p in mods.items()}

    def reach(start):
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen and m in graph:
                seen.add(m)
                todo.extend(graph[m])
        return seen

    circles = [m for m in graph if m in reach(m)]
    assert not circles, f"import circle through {circles}"
