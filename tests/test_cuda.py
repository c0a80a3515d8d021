"""The GPU path. Where there is no GPU (here, CI) the parts that can be checked on the CPU are:
how CUDA's failures become messages and a fresh worker, and that checking a form never creates a
CUDA context in the server. The tests marked `cuda` train on the GPU itself and run only where
one is present (`python -m playground check --device cuda` is the whole acceptance run)."""
import types

import pytest
import torch

from playground import params, registry
from playground.engine import loop, summary
from playground.engine import worker as workers

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


@pytest.mark.parametrize("error", [
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_MEMORY",
])
def test_cublas_and_cudnn_running_out_of_memory_is_the_out_of_memory_message(error):
    cfg = types.SimpleNamespace(batch_size=512)
    status, message = loop._failure(RuntimeError(error), cfg)
    assert (status, message) == ("failed", loop._oom_message(cfg, "GPU"))
    assert not loop._sticky(RuntimeError(error))


def test_a_sticky_cuda_error_fails_the_run_and_replaces_the_worker():
    e = RuntimeError("CUDA error: an illegal memory access was encountered")
    status, message = loop._failure(e, types.SimpleNamespace())
    assert status == "failed" and "the process is replaced" in message
    assert loop._sticky(e)

    class FakeWorker:
        info = {"cuda": True, "rss_mb": 2500.0}
        stopped = False

        def stop(self):
            self.stopped = True

    executor = workers.ProcessExecutor.__new__(workers.ProcessExecutor)
    import threading

    executor._lock, executor._idle, executor._busy, executor._closed = \
        threading.Lock(), [], {}, False
    healthy, broken = FakeWorker(), FakeWorker()
    # a CUDA worker's mapped libraries (2.5 GB after warm-up) do not count against its limit
    executor._released(healthy, rss_mb=2500.0 + workers.recycle_rss_mb() - 100)
    assert executor._idle == [healthy] and not healthy.stopped
    executor._idle.clear()
    executor._released(broken, rss_mb=2600.0, broken=True)
    assert broken.stopped and executor._idle == []


def test_checking_a_form_for_the_gpu_creates_no_cuda_context(monkeypatch):
    def context(*_a, **_k):
        raise AssertionError("mem_get_info creates a CUDA context in the server")

    monkeypatch.setattr(torch.cuda, "mem_get_info", context)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: types.SimpleNamespace(total_memory=80 * 2**30))
    summary.gpu_total_bytes.cache_clear()
    try:
        assert summary.available_bytes("cuda") == 80 * 2**30
        lab = registry.get("mlp")
        cfg, _ = registry.parse_config(lab, {}, budget=False)
        assert summary.check(lab, cfg, device="cuda") == []
    finally:
        summary.gpu_total_bytes.cache_clear()


@pytest.mark.cuda
@cuda
def test_a_run_trains_on_the_gpu_and_its_weights_load_without_one(store):
    lab = registry.get("gnn")                 # sparse products under autocast
    cfg, errors = registry.parse_config(lab, {"device": "cuda"})
    assert not errors
    run_id = store.create("gnn", params.to_dict(cfg))
    res = loop.run(lab, cfg, run_id, store)
    assert res.status == "completed" and res.device.startswith("cuda"), res.message
    assert res.metrics["val/acc"] >= 0.9
    state = torch.load(store.model_path(run_id), weights_only=True)
    assert all(t.device.type == "cpu" for t in state.values())


def test_channels_last_converts_the_trained_net_not_only_the_saved_copy():
    """Diffusion trains `net` and samples with its EMA copy `model`: both go NHWC."""
    from playground.engine import device as devices

    lab = registry.get("diffusion")
    cfg, _ = registry.parse_config(lab, {"data": "digits8", "width": 16, "device": "cpu"},
                                   budget=False)
    data = lab.load_data(cfg)
    state = lab.build(cfg, data)
    assert state.model is not state.net
    data = devices.channels_last(state, data)
    for net in (state.net, state.model):
        conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
