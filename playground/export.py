"""Take a finished run away: a standalone training script, its weights, ONNX, or the whole run.

The script is generated from the lab's own source, not kept by hand: starting from the lab's
`load_data`, `build`, `train_step` and `evaluate`, every top-level name they use is looked up in
the module that defines it (following `from playground... import` chains) and its source copied,
dependencies first. Third-party imports are copied as they are written. `Config` is replaced by a
plain dataclass holding the run's exact values, and a short loop does what the engine's loop does
(same seeding order, same device-side permutation, same batches) without the live dashboard.
So a change to a lab changes its exported scripts with it.
"""
from __future__ import annotations

import ast
import importlib.util
import io
import json
import sys
import textwrap
import zipfile
from functools import lru_cache

from playground import guides, params, registry
from playground.i18n import N_

ENTRY_POINTS = ("load_data", "build", "train_step", "evaluate")
_CONTRACT = ENTRY_POINTS + ("draw_batch", "finished", "epochs_of", "steps_of")
_PACKAGE = "playground"
_PIP_NAMES = {"sklearn": "scikit-learn", "PIL": "pillow"}


class NotExportable(ValueError):
    """This run cannot be exported in the asked form; the message says why."""


# ---------------------------------------------------------------------------------------------
# Source extraction

@lru_cache(maxsize=64)
def _module(name: str) -> tuple[str, ast.Module]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise NotExportable(f"the source of {name} cannot be read")
    with open(spec.origin, encoding="utf-8") as f:
        text = f.read()
    return text, ast.parse(text)


def _file_of(name: str) -> str:
    """A module's file as the repository has it: playground/labs/gan/__init__.py for a face."""
    spec = importlib.util.find_spec(name)
    package = spec is not None and (spec.origin or "").endswith("__init__.py")
    return name.replace(".", "/") + ("/__init__.py" if package else ".py")


def _definitions(tree: ast.Module) -> dict[str, ast.stmt]:
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            out[node.name] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out[n.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
    return out


def _imports(tree: ast.Module) -> dict[str, tuple[str, str | None, str | None]]:
    """Top-level imported name -> (module, imported name or None for `import x`, alias)."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                local = a.asname or a.name.split(".")[0]
                out[local] = (a.name, None, a.asname)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                out[a.asname or a.name] = (node.module, a.name, a.asname)
    return out


def _source(text: str, node: ast.stmt) -> str:
    """The node's source, decorators included (a @dataclass is part of the class)."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    lines = text.splitlines()[first - 1:node.end_lineno]
    return textwrap.dedent("\n".join(lines))


def _names_used(node: ast.AST) -> list[str]:
    seen, out = set(), []
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id not in seen:
            seen.add(n.id)
            out.append(n.id)
    return out


# A script speaks English: the playground's message functions, without their catalogues
_STANDINS = {
    ("playground.i18n", "_"): 'def _(message, /, **values):\n'
                              '    return message.format(**values) if values else message',
    ("playground.i18n", "N_"): "def N_(text):\n    return text",
}


class _Extractor:
    def __init__(self, provided: set[str], stubs: dict[str, str], lab_module: str):
        self.provided = provided                  # names the script defines itself (Config)
        self.stubs = stubs                        # the lab's stand-ins for code a script never runs
        self.lab_module = lab_module
        self.blocks: list[tuple[str, str, str]] = []     # (module, name, source), deps first
        self.imports: dict[str, str] = {}          # local name -> import line
        self._seen: set[tuple[str, str]] = set()
        self._owner: dict[str, str] = {}           # name -> the module it was taken from
        # (module, module that must come first): a module-level value computed from another
        # module's value (ACTIVATIONS from ACTIVATION_MODULES) runs where it is written
        self.before: set[tuple[str, str]] = set()

    def need(self, module: str, name: str) -> None:
        if (module, name) in self._seen or name in self.provided:
            return
        self._seen.add((module, name))
        if (module, name) in _STANDINS:
            self._owner.setdefault(name, module)
            self.blocks.append((module, name, _STANDINS[module, name]))
            return
        if module.startswith(self.lab_module) and name in self.stubs:
            self.blocks.append((module, name, self.stubs[name]))
            return
        text, tree = _module(module)
        node = _definitions(tree).get(name)
        if node is not None:
            if self._owner.setdefault(name, module) != module:
                raise NotExportable(f"{name} is defined both in {self._owner[name]} and {module}")
            for used in _names_used(node):
                if used != name:
                    self.need(module, used)
                    owner = self._owner.get(used)
                    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                            and owner not in (None, module):
                        self.before.add((module, owner))
            src = _source(text, node)
            if all(src != b[2] for b in self.blocks):
                self.blocks.append((module, name, src))
            return
        imported = _imports(tree).get(name)
        if imported is None:
            return                                # a builtin, or a local name of a function
        source_module, original, alias = imported
        if source_module.split(".")[0] == _PACKAGE:
            if original is None:
                raise NotExportable(f"{module} imports the module {source_module} whole")
            self.need(source_module, original)
            if original != name:
                self.blocks.append((module, name, f"{name} = {original}"))
        elif original is None:
            self.imports[name] = (f"import {source_module} as {alias}" if alias
                                  else f"import {source_module}")
        else:
            self.imports[name] = (f"from {source_module} import {original}"
                                  + (f" as {alias}" if alias else ""))


# ---------------------------------------------------------------------------------------------
# The script

def _config_source(lab, cfg, run_id: str) -> str:
    lines = ["@dataclass(frozen=True)", "class Config:",
             f'    """The settings of run {run_id}, exactly as it trained."""']
    for spec in params.specs(lab.Config):
        value = getattr(cfg, spec.name)
        kind = {"int": "int", "float": "float", "str": "str", "bool": "bool",
                "ints": "tuple[int, ...]", "strs": "tuple[str, ...]"}[spec.kind]
        if spec.help:
            for h in textwrap.wrap(spec.help, 92):
                lines.append(f"    # {h}")
        lines.append(f"    {spec.name}: {kind} = {value!r}")
    return "\n".join(lines)


_LOOP = '''
def train(cfg: Config, device: str | None = None, out: str | None = None):
    """The engine's loop without its dashboard: seed, data, model, then batches drawn as slices
    of a device-side permutation, one epoch after another, evaluating as it goes. Returns the
    final test metrics and the trained model."""
    if device is None:
        use_gpu = cfg.device in ("auto", "cuda") and torch.cuda.is_available()
        device = "cuda" if use_gpu else "cpu"
    dev = torch.device(device)
    torch.set_flush_denormal(True)          # as the app: tiny floats are zero, not slow
    import contextlib
    import dataclasses

    amp = contextlib.nullcontext()
    if dev.type == "cuda":                  # as the app: TF32, cuDNN's autotuner, bf16 autocast
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        if torch.cuda.get_device_capability(dev) >= (8, 0):     # bf16 in hardware
            # no weight cache: an update inside the block must be seen by the next forward
            amp = torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
    seed_everything(cfg.seed)
    data = load_data(cfg).to(dev)
    state = build(cfg, data)
    model = getattr(state, "model", None)
    if model is not None and any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        # NHWC, as the app: faster convolutions; batches sliced from NHWC tensors stay NHWC
        model.to(memory_format=torch.channels_last)
        nhwc = lambda ts: tuple(t.contiguous(memory_format=torch.channels_last)  # noqa: E731
                                if t.ndim == 4 else t for t in ts)
        data = dataclasses.replace(data, train=nhwc(data.train), test=nhwc(data.test))
    n = data.n_train
    batch_size = max(1, min(getattr(cfg, "batch_size", n), n))
    steps_per_epoch = math.ceil(n / batch_size)
    if hasattr(cfg, "epochs"):
        total, report_every = epochs_of(cfg) * steps_per_epoch, steps_per_epoch
    else:
        total = steps_of(cfg)
        report_every = max(1, total // 20)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    metrics, started = {}, time.perf_counter()
    for step in range(total):
        # CHANGES
        if data.n_examples is not None:       # a token stream: the lab cuts its own windows
            batch = draw_batch(data, batch_size, gen, state)
        else:
            pos = step % steps_per_epoch
            if pos == 0:
                perm = torch.randperm(n, device=dev, generator=gen)
            idx = perm[pos * batch_size:(pos + 1) * batch_size]
            batch = tuple(t[idx] for t in data.train)
        with amp:
            train_step(state, batch)
        ended = finished is not None and finished(state)      # early stopping, say
        if (step + 1) % report_every == 0 or step + 1 == total or ended:
            with torch.no_grad(), amp:
                metrics = {k: float(v) for k, v in evaluate(state, data).items()}
            shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            print(f"step {step + 1}/{total} ({(step + 1) / steps_per_epoch:.1f} epochs)  {shown}"
                  f"  [{time.perf_counter() - started:.1f} s]", file=sys.stderr)
        if ended:
            print(ended, file=sys.stderr)
            break
    if out:                                 # CPU tensors: loadable on a machine without a GPU
        torch.save({k: v.detach().cpu() for k, v in state.model.state_dict().items()}, out)
    return metrics, state.model


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\\n\\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), help="default: the GPU when there is one")
    ap.add_argument("--out", default="model.pt", help="where to save the trained weights")
    ap.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    args = ap.parse_args()
    final, _ = train(Config(), args.device, args.out)
    print(json.dumps(final) if args.json else final)
'''


_REPLAY = """\
        if step in CHANGES:                   # as the run's settings were changed while it trained
            cfg = dataclasses.replace(cfg, **CHANGES[step])
            retune(state, cfg)
"""


def _changes_source(changes: list[dict]) -> str:
    lines = ["# Settings changed while the run trained: before step k (k steps done), these values.",
             "CHANGES = {"]
    for c in changes:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in c.items() if k != "step"}
        lines.append(f"    {int(c['step'])}: {values!r},")
    return "\n".join(lines + ["}"])


def script(lab_name: str, config: dict, run_id: str = "", final: dict | None = None,
           changes: list[dict] = ()) -> str:
    """A single runnable file that trains `config` as the lab does (see the module docstring),
    replaying `changes` made while the run trained ([{"step": k, field: value}])."""
    lab = registry.get(lab_name)
    cfg, errors = registry.parse_config(lab, config, budget=False)
    if errors:
        raise NotExportable(N_("this run's settings are no longer valid: {errors}").format(
            errors="; ".join(errors)))
    exportable = getattr(lab, "exportable", None)
    if exportable is not None:
        why = exportable(cfg)
        if why:
            raise NotExportable(why)
    stubs = lab.export_stubs(cfg) if registry.has(lab_name, "export_stubs") else {}
    # a lab is a package: its face and its torch part (see playground/labs); the names of the
    # contract are read from the module that defines them, without importing the torch part
    model = f"{lab.__name__}.model"
    home = {n: (lab.__name__ if n in vars(lab) else model) for n in _CONTRACT
            if registry.has(lab_name, n)}
    ex = _Extractor(provided={"Config"}, stubs=stubs, lab_module=lab.__name__)
    ex.need("playground.engine.loop", "seed_everything")
    for fn in ENTRY_POINTS:
        ex.need(home[fn], fn)
    for fn, fallback in (("draw_batch", "draw_batch = None"), ("finished", "finished = None"),
                         ("epochs_of", "def epochs_of(cfg: Config) -> int:\n    return cfg.epochs")):
        if fn in home:
            ex.need(home[fn], fn)
        else:
            ex.blocks.append((model, fn, fallback))
    changes = [c for c in changes if isinstance(c.get("step"), int) and len(c) > 1]
    if changes:
        if not registry.has(lab_name, "retune"):
            raise NotExportable(N_("this run's settings were changed while it trained, and its "
                                   "lab cannot replay that"))
        ex.need(model, "retune")
    if "steps_of" in home:
        ex.need(home["steps_of"], "steps_of")
    elif "epochs" not in lab.Config.__dataclass_fields__:
        ex.blocks.append((model, "steps_of",
                          "def steps_of(cfg: Config) -> int:\n    return cfg.steps"))
    body = [f"# {'-' * 93}\n# {_file_of(mod)}\n\n" + "\n\n\n".join(srcs)
            for mod, srcs in _by_module(ex.blocks, last=model, before=ex.before)]
    imports = _merge_imports({"import argparse", "import json", "import math", "import sys",
                              "import time", "from dataclasses import dataclass",
                              *ex.imports.values()})
    needs = _requirements(imports, "\n".join(b[2] for b in ex.blocks))
    doc = textwrap.fill(guides.intro(lab_name), 96)
    result = ""
    if final and isinstance(final.get("val/acc"), (int, float)):
        result = f"\nThe run reached {final['val/acc']:.2%} test accuracy; this script should " \
                 "land within noise of it.\n"
    if changes:
        steps = "; ".join(f"step {c['step']}: " + ", ".join(f"{k} {v}" for k, v in c.items()
                                                           if k != "step") for c in changes)
        result += "\n" + textwrap.fill(f"Settings changed while it trained, replayed here: {steps}.",
                                       96) + "\n"
    header = (f'"""train_{lab_name}.py: {lab.TITLE} exported from Neural Playground'
              + (f" (run {run_id})" if run_id else "") + ".\n\n"
              + doc + "\n" + result + "\n"
              f"Needs only {', '.join(needs)}. Datasets that download (MNIST, ...) go to\n"
              "$PLAYGROUND_DATA_DIR, by default ~/.neural_playground/data.\n\n"
              f"    python train_{lab_name}.py [--device cpu|cuda] [--out model.pt] [--json]\n"
              '"""')
    ordered = sorted(imports, key=_import_order)
    stdlib = [i for i in ordered if _import_order(i)[0] is False]
    settings = _config_source(lab, cfg, run_id or "(unsaved)")
    loop = _LOOP.replace("        # CHANGES\n", _REPLAY if changes else "")
    if changes:
        settings += "\n\n\n" + _changes_source(changes)
    sections = [f"# {'-' * 93}\n# The run's settings\n\n" + settings,
                *body, f"# {'-' * 93}\n# Training\n\n" + loop.strip("\n")]
    return (header + "\nfrom __future__ import annotations\n\n" + "\n".join(stdlib) + "\n\n"
            + "\n".join(i for i in ordered if i not in stdlib) + "\n\n\n"
            + "\n\n\n".join(sections) + "\n")


def _by_module(blocks, last: str, before: set = frozenset()) -> list[tuple[str, list[str]]]:
    """Blocks grouped by the module they came from, each in its file's order (which is a valid
    definition order); modules ordered by when they were first needed, the lab's own last, but
    a module whose values are computed from another's after that one (`before`)."""
    first: list[str] = []
    for mod, _name, _src in blocks:
        if mod not in first:
            first.append(mod)
    first.sort(key=lambda m: m == last)
    order: list[str] = []

    def place(mod: str, path: tuple = ()) -> None:
        if mod in order or mod in path:
            return
        for m, dep in sorted(before):
            if m == mod and dep in first:
                place(dep, path + (mod,))
        order.append(mod)
    for mod in first:
        place(mod)
    out = []
    for mod in order:
        text, _tree = _module(mod)
        srcs = [src for m, _n, src in blocks if m == mod]
        srcs.sort(key=text.find)
        out.append((mod, srcs))
    return out


def _merge_imports(lines: set[str]) -> set[str]:
    """`from x import a` and `from x import b` -> `from x import a, b`."""
    plain = {line for line in lines if not line.startswith("from ")}
    grouped: dict[str, list[str]] = {}
    for line in lines - plain:
        module, names = line[5:].split(" import ", 1)
        grouped.setdefault(module, []).append(names)
    return plain | {f"from {m} import {', '.join(sorted(n))}" for m, n in grouped.items()}


def _import_order(line: str) -> tuple:
    root = line.split()[1].split(".")[0]
    return (root not in sys.stdlib_module_names, line.startswith("from"), line)


def _requirements(imports: set[str], source: str) -> list[str]:
    """The third-party packages a script imports, at the top or inside its functions."""
    roots = {line.split()[1].split(".")[0] for line in imports}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    third = sorted(r for r in roots if r not in sys.stdlib_module_names and r != "__future__")
    return [_PIP_NAMES.get(r, r) for r in third]


# ---------------------------------------------------------------------------------------------
# Weights, ONNX and the whole run

def _finished(store, run_id: str):
    """(lab, cfg, model path) of a completed run, or NotExportable saying why not."""
    info = store.info(run_id)
    if info.damaged:
        raise NotExportable(N_("run {run} is damaged: {why}").format(run=run_id, why=info.damaged))
    if info.status.get("status") != "completed":
        raise NotExportable(N_("run {run} is {status}: only a completed run has final weights to "
                               "export").format(run=run_id, status=info.status.get("status")))
    try:
        lab = registry.get(info.lab)
    except registry.UnknownLab as e:
        raise NotExportable(str(e)) from None
    cfg, errors = registry.parse_config(lab, info.config, budget=False)
    if errors:
        raise NotExportable(N_("this run's settings are no longer valid: {errors}").format(
            errors="; ".join(errors)))
    path = store.model_path(run_id)
    if path is None:
        raise NotExportable(N_("run {run} has no saved weights (model.pt)").format(run=run_id))
    return lab, cfg, path


def run_script(store, run_id: str) -> str:
    info = store.info(run_id)
    _finished(store, run_id)
    return script(info.lab, info.config, run_id, info.status.get("final") or {}, info.changes)


def onnx_bytes(store, run_id: str) -> bytes:
    """The trained network as ONNX (opset 17, dynamic batch), input named "x", output "logits"."""
    import warnings

    import torch

    from playground.engine import inference, server, summary

    lab, cfg, path = _finished(store, run_id)
    if not hasattr(lab, "blueprint") or getattr(lab, "ONNX", True) is False:
        raise NotExportable(f"ONNX export does not apply to the {lab.TITLE} lab")
    try:
        server.check_model(lab, cfg)        # hosted: the page exports in the shared server
    except server.TooMuch as e:
        raise NotExportable(str(e)) from None
    model = inference.load_model(lab, cfg, path)
    _, shape = lab.blueprint(cfg)
    examples = tuple(e[:1] for e in summary._examples(shape, 1))
    # a lab whose model takes several inputs names them (a denoiser: x, t -> noise)
    inputs, outputs = getattr(lab, "ONNX_IO", (("x",), ("logits",)))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # the TorchScript exporter's deprecation notice
        try:
            torch.onnx.export(model, examples, buf, dynamo=False,
                              input_names=list(inputs), output_names=list(outputs),
                              opset_version=17,
                              dynamic_axes={n: {0: "batch"} for n in (*inputs, *outputs)})
        except Exception as e:  # noqa: BLE001 - a missing package or an unsupported layer alike
            raise NotExportable(f"ONNX export failed ({type(e).__name__}: {e})") from None
    return buf.getvalue()


def bundle(store, run_id: str, detail: bool = True) -> bytes:
    """A zip of the run: config.json, status.json, metrics.csv, model.pt (when saved) and
    train_<lab>.py (when the run completed). `detail=False`: without a failure's traceback
    (hosted, for anyone but the run's owner)."""
    info = store.info(run_id)
    if info.damaged:
        raise NotExportable(N_("run {run} is damaged: {why}").format(run=run_id, why=info.damaged))
    folder = store.path(run_id)
    status = info.status if detail else {k: v for k, v in info.status.items() if k != "detail"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{run_id}/config.json", json.dumps(
            {"run_id": run_id, "lab": info.lab, "config": info.config, "created": info.created},
            indent=1))
        z.writestr(f"{run_id}/status.json", json.dumps(status, indent=1))
        z.writestr(f"{run_id}/metrics.csv", store.metrics_csv(run_id))
        if (folder / "model.pt").is_file():
            z.write(folder / "model.pt", f"{run_id}/model.pt")
        if info.status.get("status") == "completed":
            try:
                z.writestr(f"{run_id}/train_{info.lab}.py", run_script(store, run_id))
            except NotExportable:
                pass
    return buf.getvalue()
