"""The labs, in display order. The UI and the engine find labs here and nowhere else."""
from __future__ import annotations

import importlib
from types import ModuleType

from playground import params

LABS = ("mlp",)
SECTIONS = ("Foundations", "Vision", "Sequences & text", "Generative", "Graphs & RL", "Tools")


class UnknownLab(LookupError):
    pass


def get(name: str) -> ModuleType:
    if name not in LABS:
        raise UnknownLab(f"unknown lab {str(name)[:40]!r}; labs: {', '.join(LABS)}")
    return importlib.import_module(f"playground.labs.{name}")


def parse_config(lab: ModuleType, raw: dict, limits: dict | None = None):
    """(Config, []) or (None, messages) - the same rules for the form, the URL and the CLI."""
    return params.parse(lab.Config, raw, check=getattr(lab, "check", None), limits=limits)
