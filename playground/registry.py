"""The labs, in display order. The UI and the engine find labs here and nowhere else."""
from __future__ import annotations

import ast
import importlib
from functools import lru_cache
from pathlib import Path
from types import ModuleType, SimpleNamespace

from playground import params
from playground.labs import parse, torch_names

LABS = ("mlp", "fundamentals", "cnn", "resnet", "distill", "transfer", "rnn", "word2vec",
        "transformer", "gan", "vae", "diffusion", "gnn", "dqn")
SECTIONS = ("Foundations", "Vision", "Sequences & text", "Generative", "Graphs & RL", "Tools")


class UnknownLab(LookupError):
    pass


def get(name: str) -> ModuleType:
    if name not in LABS:
        raise UnknownLab(f"unknown lab {str(name)[:40]!r}; labs: {', '.join(LABS)}")
    return importlib.import_module(f"playground.labs.{name}")


def has(name: str, attr: str) -> bool:
    """Does the lab define `attr`, in its face or its torch part? Answered without importing the
    torch part (a plain hasattr on a torch name would import it)."""
    lab = get(name)
    return attr in vars(lab) or attr in torch_names(lab.__name__)


META = ("TITLE", "ICON", "SECTION", "TRY_THIS")
OPTIONAL_META = ("HEADLINE",)
# a run's headline result where its lab names none: test accuracy, else the test loss
DEFAULT_HEADLINE = (("val/acc", "test acc"), ("val/loss", "test loss"))


@lru_cache(maxsize=None)
def meta(name: str) -> SimpleNamespace:
    """A lab's title, icon, section, TRY_THIS and docstring, read from its face's source without
    importing it: navigation and Home need only these, and a face brings its datasets' modules
    (scikit-learn, ...) with it."""
    if name not in LABS:
        raise UnknownLab(f"unknown lab {str(name)[:40]!r}; labs: {', '.join(LABS)}")
    source = Path(__file__).parent / "labs" / name / "__init__.py"
    tree = parse(source)
    found = {"__doc__": ast.get_docstring(tree, clean=False) or ""}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        names = ([t.id for t in target.elts if isinstance(t, ast.Name)]
                 if isinstance(target, ast.Tuple) else
                 [target.id] if isinstance(target, ast.Name) else [])
        if not set(names) & set(META + OPTIONAL_META):
            continue
        values = ast.literal_eval(value)
        for n, v in (zip(names, values) if isinstance(target, ast.Tuple) else [(names[0], values)]):
            found[n] = v
    missing = [k for k in META if k not in found]
    if missing:
        return get(name)                # not plain literals: the module itself says
    return SimpleNamespace(**found)


def headlines(name: str) -> tuple:
    """A lab's headline metrics, ((metric, what it is), ...) in order of preference (HEADLINE),
    without importing it."""
    heads = getattr(meta(name), "HEADLINE", None) or DEFAULT_HEADLINE
    return (tuple(heads),) if isinstance(heads[0], str) else tuple(tuple(h) for h in heads)


def is_share(column: str) -> bool:
    """Is a headline a share of 0..1 (shown as a percentage)?"""
    return "acc" in column or "confident" in column


def headline(name: str, final: dict | None) -> tuple[str, float] | None:
    """(what, value) of a finished run's headline result, or None when it has none."""
    final = final if isinstance(final, dict) else {}
    for metric, column in headlines(name) + DEFAULT_HEADLINE:
        value = final.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return column, float(value)
    return None


def parse_config(lab: ModuleType, raw: dict, *, budget: bool = True, caps=None):
    """(Config, []) or (None, messages) - the same rules for the form, the URL and the CLI:
    declared ranges, the hosting caps (`caps`, else this process's), the lab's own checks, and
    (with `budget`) whether the model fits in memory and under the parameter cap, estimated
    before anything is allocated."""
    from playground.engine import hosting

    c = caps or hosting.caps()
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
