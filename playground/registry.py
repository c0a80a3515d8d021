"""The labs, in display order. The UI and the engine find labs here and nowhere else."""
from __future__ import annotations

import importlib
from types import ModuleType

from playground import params

LABS = ("mlp", "cnn", "resnet", "distill")
SECTIONS = ("Foundations", "Vision", "Sequences & text", "Generative", "Graphs & RL", "Tools")


class UnknownLab(LookupError):
    pass


def get(name: str) -> ModuleType:
    if name not in LABS:
        raise UnknownLab(f"unknown lab {str(name)[:40]!r}; labs: {', '.join(LABS)}")
    return importlib.import_module(f"playground.labs.{name}")


def parse_config(lab: ModuleType, raw: dict, *, budget: bool = True):
    """(Config, []) or (None, messages) - the same rules for the form, the URL and the CLI:
    declared ranges, the hosting caps, the lab's own checks, and (with `budget`) whether the
    model fits in memory and under the parameter cap, estimated before anything is allocated."""
    from playground.engine import hosting

    c = hosting.caps()
    cfg, errors = params.parse(lab.Config, raw, check=getattr(lab, "check", None),
                               limits=hosting.limits(lab.Config, c))
    if cfg is not None and budget:
        from playground.engine import summary

        device = "cuda" if _device_type(cfg) == "cuda" else "cpu"
        errors = summary.check(lab, cfg, device=device, max_params=c.params)
        if errors:
            return None, errors
    return cfg, errors


def _device_type(cfg) -> str:
    from playground.engine import device

    try:
        return device.pick(getattr(cfg, "device", "auto")).type
    except ValueError:
        return "cpu"
