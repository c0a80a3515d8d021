"""Where training runs: cuda > mps > cpu unless the user asks otherwise, and the per-device
speed policy (threads on CPU; TF32, bf16 autocast and channels_last on CUDA)."""
from __future__ import annotations

import contextlib
import os

from playground.i18n import N_

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_cpus() -> int:
    """Cores this process may really use: affinity and the cgroup quota (hosted containers
    report the host's cores in os.cpu_count(), and oversubscribed threads are slower)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()
        if quota != "max":
            n = min(n, max(1, int(float(quota) / float(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


_configured = False


def configure_torch(threads: int | None = None) -> None:
    """Once per process. `threads`: intra-op threads; PLAYGROUND_THREADS overrides; default all
    usable cores. The app passes cores - 1 (see ui_threads)."""
    global _configured
    if _configured:
        return
    import torch

    threads = int(os.environ.get("PLAYGROUND_THREADS") or 0) or threads or available_cpus()
    torch.set_num_threads(max(1, threads))
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    _configured = True


def ui_threads() -> int:
    """Threads for training inside the app: one core stays free for the server, the page
    reruns and (on a laptop) the browser. Measured on 2 cores: the default spiral run took
    7.2 s with 2 spinning OpenMP threads against the UI, 2.4 s with 1."""
    return max(1, available_cpus() - 1)


def _mps_ok(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def pick(requested: str = "auto"):
    """The torch.device for a request; an unavailable accelerator is an error the user can fix."""
    import torch

    configure_torch()
    forced = os.environ.get("PLAYGROUND_DEVICE", "").strip().lower()
    if requested == "auto" and forced in DEVICE_CHOICES and forced != "auto":
        requested = forced                  # PLAYGROUND_DEVICE: what "auto" means here
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_ok(torch) else torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
    if requested == "mps" and not _mps_ok(torch):
        raise ValueError("device 'mps' was requested but Apple's MPS is not available; use 'auto' or 'cpu'")
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {requested!r}; pick one of {', '.join(DEVICE_CHOICES)}")
    return torch.device(requested)


def describe() -> str:
    """One line for the Home page and the CLI."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    if _mps_ok(torch):
        return "GPU: Apple MPS"
    return N_("no GPU found, training on CPU ({threads} threads)").format(threads=available_cpus())


def autocast(device, lab=None):
    """Mixed precision for a training step and an evaluation: bf16 autocast on a GPU that does
    bf16 natively (compute capability 8.0 and later; older ones emulate it, slowly), on the CPU
    only with PLAYGROUND_AUTOCAST=bf16 (how the suite catches autocast bugs without a GPU);
    never with PLAYGROUND_AUTOCAST=off or for a lab whose AUTOCAST is False. A module keeps a
    part in fp32 with `full_precision` (sparse products, recurrent cells).

    cache_enabled=False: autocast's cache keeps each weight's bf16 copy for the whole block, and
    a step's optimizer update inside the block would leave later forwards on the old copies (a
    GAN's critic steps after the first, a best-weights restore)."""
    import torch

    mode = os.environ.get("PLAYGROUND_AUTOCAST", "").strip().lower()
    if mode in ("off", "0", "fp32", "no") or getattr(lab, "AUTOCAST", True) is False:
        return contextlib.nullcontext()
    if device.type == "cuda" and native_bf16():
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
    if device.type == "cpu" and mode == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def native_bf16() -> bool:
    """bf16 in hardware (Ampere and later); torch.cuda.is_bf16_supported() counts emulation."""
    import torch

    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)


def full_precision(x):
    """A block autocast leaves alone, for the tensor `x`'s device: kernels without a bf16 form
    (CUDA's sparse products) or that autocast would run in fp16 without a scaler (cuDNN's RNNs,
    whose exploding or vanishing gradients are the lesson). Cast the inputs with .float()."""
    import torch

    if x.device.type not in ("cpu", "cuda"):      # "meta": a model measured, not run
        return contextlib.nullcontext()
    return torch.autocast(x.device.type, enabled=False)


def channels_last(state, data):
    """NHWC layout for networks with 2-D convolutions: faster convolutions and pooling on CUDA
    (tensor cores) and on CPUs with oneDNN (LeNet-5 step here: 3.1 ms instead of 3.6 ms).
    Every network of a lab's state is converted - the one the optimizer trains, not only the
    one it saves (diffusion's EMA copy; a GAN's two players). Batches sliced from NHWC tensors
    stay NHWC, so the data is converted once. `state`: a lab's state, or one module."""
    import torch
    from dataclasses import replace

    found = [state] if isinstance(state, torch.nn.Module) else \
        [v for v in getattr(state, "__dict__", {"model": getattr(state, "model", None)}).values()
         if isinstance(v, torch.nn.Module)]
    convs = [m for m in {id(m): m for m in found}.values()
             if any(isinstance(x, torch.nn.Conv2d) for x in m.modules())]
    if not convs:
        return data
    for m in convs:
        m.to(memory_format=torch.channels_last)
    to_nhwc = lambda ts: tuple(t.contiguous(memory_format=torch.channels_last)  # noqa: E731
                               if t.ndim == 4 else t for t in ts)
    return replace(data, train=to_nhwc(data.train), test=to_nhwc(data.test))
