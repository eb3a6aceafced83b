"""``--help`` of every app starts with a sentence on what it does and lists only its own groups,
each with exactly the options that exist."""

import re

import pytest
import yaml
from hydra import compose, initialize_config_module

import rnnaccel.apps.batching  # noqa: F401  (registers the schemas)
import rnnaccel.apps.evaluate  # noqa: F401
import rnnaccel.apps.quantize  # noqa: F401
import rnnaccel.apps.report  # noqa: F401
import rnnaccel.apps.train as train
from rnnaccel.configio import packaged

from .conftest import ROOT, run_app

APPS = ("evaluate", "quantize", "report", "batching", "train")


def template(app: str) -> str:
    with initialize_config_module("rnnaccel.conf", version_base="1.3"):
        return compose(app, return_hydra_config=True).hydra.help.template


def own_groups(app: str) -> set[str]:
    """The groups of the app's defaults list (the schema and _self_ aside), + sweep presets for evaluate."""
    defaults = yaml.safe_load((ROOT / "rnnaccel" / "conf" / f"{app}.yaml").read_text())["defaults"]
    groups = {next(iter(d)) for d in defaults if isinstance(d, dict) and not next(iter(d)).startswith("override")}
    return groups | ({"+sweep"} if app == "evaluate" else set())


def options(group: str) -> list[str]:
    if group == "task":
        return sorted(train.TASKS)
    return packaged(group.lstrip("+"))


@pytest.mark.parametrize("app", APPS)
def test_help_starts_with_what_the_app_does_and_lists_its_own_groups(app):
    text = template(app)
    first = text.splitlines()[0]
    assert first.startswith(f"rnnaccel-{app} ") and first.endswith("."), first
    listed = (
        dict(
            re.findall(
                r"^(\+?[a-z_]+): ([a-z0-9_, ]+?)(?:  \(.*\))?$",
                text.split("== Config groups")[1].split("== Config (")[0],
                re.M,
            )
        )
        if "== Config groups" in text
        else {}
    )
    assert set(listed) == own_groups(app)
    for group, opts in listed.items():
        assert opts.split(", ") == options(group), group


def test_help_on_the_command_line():
    p = run_app("evaluate", "--help")
    assert p.returncode == 0 and p.stdout.startswith("rnnaccel-evaluate runs a checkpoint")
    assert "\nbatching:" not in p.stdout and "\nmodel:" not in p.stdout and "memo:\n  predictor:" in p.stdout
