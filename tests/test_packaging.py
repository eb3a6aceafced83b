"""The house rules of packaging: one version, a typed package, every direct dependency pinned, the
project's own ``tests`` package (zigzag-dse installs a top-level ``tests`` too), tests that import
the package and never a script file."""

import re
import sys
import tomllib
from pathlib import Path

import rnnaccel

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_the_version_is_written_once_in_pyproject():
    assert rnnaccel.__version__ == PYPROJECT["project"]["version"]
    assert PYPROJECT["project"]["version"] not in (ROOT / "rnnaccel" / "__init__.py").read_text()


def test_the_package_is_marked_typed_and_ships_the_marker():
    assert (ROOT / "rnnaccel" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["rnnaccel"]


def test_constraints_pin_every_direct_dependency():
    project = PYPROJECT["project"]
    direct = {_name(r) for r in project["dependencies"]}
    direct |= {_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, ver = line.partition("==")
            pins[name.strip().lower()] = ver.strip()
    assert direct - set(pins) == set(), "add these to constraints.txt (pip freeze)"
    assert all(pins.values()), "every constraint is an exact pin (==)"


def test_the_tests_package_is_this_repository_s():
    assert Path(sys.modules["tests"].__file__).resolve() == ROOT / "tests" / "__init__.py"


def test_tests_import_the_package_never_a_script_file():
    """Tests exercise the package; a doc's runnable example (examples/) may be loaded to check the doc."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("*.py")
        if p.name != "test_packaging.py"
        and re.search(r"spec_from_file_location\((?![^)]*examples)|\bscripts/", p.read_text())
    ]
    assert offenders == []


def test_scripts_are_thin_entry_points():
    long = {p.name: n for p in (ROOT / "scripts").glob("*.py") if (n := len(p.read_text().splitlines())) > 15}
    assert long == {}, "move the code into the rnnaccel package"
