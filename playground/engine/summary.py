"""A layer-by-layer table of a model (output shape, parameters), shown before Train."""
from __future__ import annotations


def layer_table(model, example) -> list[dict]:
    """Run `example` through `model` once on the CPU and record every leaf module's output."""
    import torch

    rows, hooks = [], []
    for name, mod in model.named_modules():
        if any(True for _ in mod.children()):
            continue

        def hook(m, _inp, out, name=name):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
            rows.append({"layer": name or type(m).__name__, "type": type(m).__name__,
                         "output": "(B, " + ", ".join(map(str, shape[1:])) + ")",
                         "params": sum(p.numel() for p in m.parameters(recurse=False))})
        hooks.append(mod.register_forward_hook(hook))
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(example)
        model.train(was_training)
    finally:
        for h in hooks:
            h.remove()
    return rows
