"""Config plumbing shared by every config class: strict mapping -> dataclass, and packaged YAML.

- :func:`strict_kwargs` turns a mapping or a hydra ``DictConfig`` into keyword arguments for a
  dataclass, refusing unknown keys with a one-line error naming them (a typo is an error, not a
  silent new key).
- :func:`packaged` lists the YAML files of a group under ``rnnaccel/conf/<group>``;
  :func:`read_yaml_source` reads a packaged name or a YAML path into a mapping, with errors that
  name the source.
"""

from __future__ import annotations

from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

__all__ = ["plain_mapping", "strict_kwargs", "packaged", "read_yaml_source"]


def plain_mapping(d: Any, label: str) -> dict:
    """A plain dict from a mapping or an OmegaConf ``DictConfig``."""
    if hasattr(d, "_content"):  # an OmegaConf node (hydra's cfg.<group>)
        from omegaconf import OmegaConf

        d = OmegaConf.to_container(d, resolve=True)
    if not isinstance(d, Mapping):
        raise ValueError(f"{label}: expected a mapping, got {type(d).__name__}")
    return dict(d)


def strict_kwargs(cls, d: Any, label: str) -> dict:
    """``d`` as keyword arguments of dataclass ``cls``; unknown keys are a ValueError."""
    d = plain_mapping(d, label)
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{label}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    return d


def _group_dir(group: str):
    root = resources.files("rnnaccel.conf")
    for part in group.split("/"):
        root = root / part
    return root


def packaged(group: str) -> list[str]:
    """Names of the packaged configs ``rnnaccel/conf/<group>/*.yaml`` (``group`` may be nested)."""
    return sorted(p.name[:-5] for p in _group_dir(group).iterdir() if p.name.endswith(".yaml"))


def read_yaml_source(group: str, src: "str | Path", what: str | None = None, noun: str = "configs") -> tuple[dict, str]:
    """Read a packaged config by name, or a ``.yaml``/``.yml`` path. Returns ``(mapping, label)``.

    ``what`` names the thing in error messages (default: the group), ``noun`` the packaged files."""
    import yaml

    what = what or group
    p = Path(src)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ValueError(f"{what} config {str(p)!r} does not exist")
        text, label = p.read_text(), f"{what} {p.name}"
    else:
        names = packaged(group)
        if str(src) not in names:
            raise ValueError(f"{what} {str(src)!r} unknown; packaged {noun}: {', '.join(names)} (or give a .yaml path)")
        text, label = (_group_dir(group) / f"{src}.yaml").read_text(), f"{what} {src}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{label}: not valid YAML ({str(e).splitlines()[0]})") from None
    return (data if data is not None else {}), label
