"""The labs, one package each, in two parts.

The face (`labs/<name>/__init__.py`) is what the Streamlit server needs to draw the page and
never imports torch: the docstring, TITLE/ICON/SECTION/TRY_THIS, `Config` and `PRESETS`, checks
that need no model, COMPARE plans and their tables, CURVES, EXPLORE's and STEPS' words. The torch
part (`model.py`, or several modules for a lab of several experiments) holds the data tensors,
the networks, `build`, `train_step`, `evaluate`, `artifacts` and the looks into a finished run.

The face ends with `__getattr__ = torch_part(__name__)`: the engine still reads every name of the
contract from the face (`registry.get(lab).build`), and the torch part is imported on the first
such read - in the worker process. A name the torch part does not define is an AttributeError at
once, without importing it, so `getattr(lab, "CURVES", ())` costs the server nothing.
"""
from __future__ import annotations

import ast
import importlib
import threading
from functools import lru_cache
from pathlib import Path

TORCH_PART = "model"
# CPython 3.11's AST builder keeps its recursion count in state shared by all threads: two
# Streamlit sessions parsing at once can fail with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905). Ours parse one at a time, and once more if Streamlit's own
# parse of a page script ran beside it.
_PARSING = threading.Lock()


def parse(path: Path) -> ast.Module:
    text = path.read_text(encoding="utf-8")
    with _PARSING:
        try:
            return ast.parse(text, filename=str(path))
        except SystemError:
            return ast.parse(text, filename=str(path))


@lru_cache(maxsize=None)
def torch_names(face: str) -> frozenset[str]:
    """The top-level names the face's torch part binds, read from its source without running
    it."""
    package = face.rsplit(".", 1)[-1]
    source = Path(__file__).parent / package / f"{TORCH_PART}.py"
    if not source.exists():
        return frozenset()
    names = set()
    for node in parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def torch_part(face: str):
    """The face's module `__getattr__`: a name of its torch part, imported on first use."""
    def __getattr__(name: str):
        if name not in torch_names(face):
            raise AttributeError(f"module {face!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{face}.{TORCH_PART}"), name)
    return __getattr__
