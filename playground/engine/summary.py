"""What a model costs before it is trained: layers, parameters and a memory estimate, computed
on PyTorch's meta device (shapes only, no memory), so even an absurd request is answered
instantly with numbers instead of an out-of-memory crash."""
from __future__ import annotations

import copy
import functools
import os

OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2, "rmsprop": 1}


def _examples(shape, batch: int) -> tuple:
    """The inputs a blueprint describes: an input shape (zeros of it), an example batch (token
    ids), or a tuple of example batches for a model of several inputs (a denoiser's x and t)."""
    import torch

    if isinstance(shape, torch.Tensor):
        return (shape,)
    if shape and all(isinstance(s, torch.Tensor) for s in shape):
        return tuple(shape)
    return (torch.zeros((batch,) + tuple(shape)),)


def layer_table(model, example) -> list[dict]:
    """Run `example` (one input, or a tuple of them) through `model` once and record every leaf
    module's output shape."""
    import torch

    rows, hooks = [], []
    for name, mod in model.named_modules():
        if any(True for _ in mod.children()):
            continue

        def hook(m, _inp, out, name=name):
            if isinstance(out, tuple):              # recurrent layers: (outputs, state)
                out = out[0]
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
            numel = int(torch.Size(shape[1:]).numel()) if shape else 0
            rows.append({"layer": name or type(m).__name__, "type": type(m).__name__,
                         "output": "(B, " + ", ".join(map(str, shape[1:])) + ")",
                         "params": sum(p.numel() for p in m.parameters(recurse=False)),
                         "mult-adds": numel * _macs_per_output(m), "_numel": numel})
        hooks.append(mod.register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            model(*example) if isinstance(example, tuple) else model(example)
    finally:
        for h in hooks:
            h.remove()
    return rows


def _macs_per_output(m) -> int:
    """Multiply-adds behind each output value of a layer (per example)."""
    from torch import nn

    if hasattr(m, "macs_per_output"):            # a module that knows its own (attention)
        return int(m.macs_per_output)
    if isinstance(m, nn.Conv2d):
        return (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
    if isinstance(m, nn.Linear):
        return m.in_features
    if isinstance(m, nn.RNNBase):
        # per output value (one unit, one direction, one step): each layer's gates read its
        # input and the previous hidden state
        gates = {"LSTM": 4, "GRU": 3}.get(m.mode, 1)
        dirs = 2 if m.bidirectional else 1
        total = sum(gates * m.hidden_size * ((m.input_size if layer == 0 else
                                              m.hidden_size * dirs) + m.hidden_size)
                    for layer in range(m.num_layers))
        return total // m.hidden_size
    return 0


def describe(lab, cfg) -> dict:
    """{"rows", "params", "bytes", "macs", "flops_per_token"}: the layer table and the memory one
    training run needs (weights, gradients, optimizer state, activations of a batch, the dataset
    on the device). Cached: the form validates and the page shows the summary on every rerun."""
    key = (getattr(lab, "__name__", id(lab)), cfg)
    if key not in _DESCRIBED:
        if len(_DESCRIBED) > 256:
            _DESCRIBED.clear()
        _DESCRIBED[key] = _describe(lab, cfg)
    return copy.deepcopy(_DESCRIBED[key])


_DESCRIBED: dict = {}


def _describe(lab, cfg) -> dict:
    import torch

    with torch.device("meta"):
        # blueprint gives an input shape, or an example batch when the inputs are not floats
        # (token ids for an embedding)
        model, shape = lab.blueprint(cfg)
        examples = _examples(shape, 2)
        example = examples[0]
        shape = tuple(example.shape[1:])
        rows = layer_table(model, examples)
    params = sum(p.numel() for p in model.parameters())
    batch = int(getattr(cfg, "batch_size", 1))
    states = OPTIMIZER_STATE.get(getattr(cfg, "optimizer", "adam"), 2)
    weights = 4 * params * (2 + states)                       # fp32 weights, grads, state
    activations = 4 * batch * sum(r["_numel"] for r in rows) * 2
    samples = int(getattr(cfg, "n_samples", 0) or 70_000)
    data = 4 * samples * int(torch.Size(shape).numel())
    for r in rows:
        del r["_numel"]
    macs = sum(r["mult-adds"] for r in rows)
    # a sequence of token ids: the cost per token is what language models are compared by
    tokens = int(example.shape[1]) if example.dtype == torch.long and example.ndim == 2 else 0
    return {"rows": rows, "params": params, "bytes": weights + activations + data, "macs": macs,
            "flops_per_token": 2 * macs // tokens if tokens else None}


@functools.lru_cache(maxsize=1)
def gpu_total_bytes() -> int:
    """The first GPU's memory, read as a device property (no context, no allocation)."""
    import torch

    return int(torch.cuda.get_device_properties(0).total_memory)


def available_bytes(device: str = "cpu", proc: str = "/proc",
                    cgroup: str = "/sys/fs/cgroup") -> int:
    """Memory a new run may use: the GPU's whole memory, or MemAvailable (capped by the
    container's cgroup) on the CPU. On the GPU not what is free now: runs train one at a time
    there, so another's memory is free again by the time this one starts (and asking what is
    free would create a CUDA context, ~0.5 GB, in the process that checks a form)."""
    if device == "cuda":
        return gpu_total_bytes()
    free = None
    try:
        for line in open(f"{proc}/meminfo"):
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except OSError:
        pass
    if free is None:
        free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    try:
        limit = open(f"{cgroup}/memory.max").read().strip()
        if limit != "max":
            free = min(free, int(limit) - _cgroup_in_use(cgroup))
    except (OSError, ValueError):
        pass
    return max(0, free)


def _cgroup_in_use(cgroup: str) -> int:
    # memory.current counts the page cache too, and a container that has read files sits at its
    # limit with it (the kernel reclaims only there): limit - current would refuse every model.
    # Count the cache as the kernel's MemAvailable does: inactive file pages are free for the
    # taking, about half of the active ones too.
    used = int(open(f"{cgroup}/memory.current").read())
    stat = {}
    try:
        for line in open(f"{cgroup}/memory.stat"):
            key, _, value = line.partition(" ")
            stat[key] = int(value)
    except (OSError, ValueError):
        return used
    return max(0, used - stat.get("inactive_file", 0) - stat.get("active_file", 0) // 2)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"


def check(lab, cfg, device: str = "cpu", max_params: int | None = None,
          info: dict | None = None) -> list[str]:
    """Refuse, before training, what cannot fit: messages with the estimate, or []. `info`: the
    model's describe(), when the caller has it already."""
    if not hasattr(lab, "blueprint"):
        return []
    info = info or describe(lab, cfg)
    errors = []
    if max_params is not None and info["params"] > max_params:
        errors.append(f"This model has {info['params']:,} parameters; this server allows at most "
                      f"{max_params:,}. Use fewer or smaller layers.")
    free = available_bytes(device)
    if info["bytes"] > 0.8 * free:
        errors.append(f"This model needs about {human(info['bytes'])} to train "
                      f"({info['params']:,} parameters) but only {human(free)} is free "
                      f"on the {device.upper() if device == 'cuda' else 'machine'}. "
                      "Use fewer or smaller layers or a smaller batch.")
    return errors
