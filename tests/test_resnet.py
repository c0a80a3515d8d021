"""The ResNet lab: skip connections keep deep nets trainable, and the page makes it visible."""
import pytest
import torch

from playground import registry
from playground.engine import device as devices
from playground.labs import resnet
from tests.helpers import open_page, poll_until, run_id_of, train_until


def _train(limit=None, done=None, **overrides):
    """A run in memory, looked at once an epoch: (test metrics, the loss of every step, the
    mean first-layer gradient, steps trained)."""
    cfg, errors = registry.parse_config(resnet, overrides)
    assert errors == []
    outputs = []
    per_epoch = resnet.load_data(cfg).n_train // cfg.batch_size
    _, _, metrics, steps = train_until(resnet, cfg, every=per_epoch, done=done, limit=limit,
                                       outputs=outputs)
    grads = [o["train/grad_first_layer"] for o in outputs]
    return metrics, [o["train/loss"] for o in outputs], sum(grads) / len(grads), steps


@pytest.fixture
def threads():
    """Pin torch's intra-op threads for one test and restore them after. The thread count sets
    the summation order, and a net near the edge of trainability can land on either side of it
    depending on that order, so the claim below is checked at 1 thread and at 2."""
    devices.configure_torch()        # first, or the first run would reset the count to all cores
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


# NOTE: measured on 2 cores, seeds 0-4 at 1 and 2 threads: the residual net passes 85% test
# accuracy (85-95%) after 4-7 of the default 8 epochs (it stops there); the plain net, given as
# many steps, 6-10% (chance), its loss still ~2.30 and its first-layer gradient under a tenth of
# the residual net's. Over the whole 8 epochs (seeds 0-5): plain 6-10%, residual 93-98%, the
# plain net's gradient under 2% of the residual one's. The test takes two seeds, one at each
# thread count.
@pytest.mark.slow
# Its 2 threads wait on each other at every convolution: beside the other xdist worker's busy
# core that took 42-65 s, alone 13 s - so it runs last, when that worker has (nearly) finished.
@pytest.mark.parametrize("seed, n_threads", [pytest.param(0, 2, marks=pytest.mark.last), (2, 1)],
                         ids=["seed0-2threads", "seed2-1thread"])
def test_at_the_default_depth_plain_stalls_and_residual_learns(threads, n_threads, seed):
    threads(n_threads)
    res, res_loss, res_grad, steps = _train(seed=seed, residual=True,
                                            done=lambda m: m["val/acc"] > 0.85)
    plain, plain_loss, plain_grad, _ = _train(seed=seed, residual=False, limit=steps)
    tail = lambda losses: sum(losses[-5:]) / len(losses[-5:])  # noqa: E731
    assert res["val/acc"] > 0.85, (res, res_loss[:: max(1, len(res_loss) // 10)])
    assert tail(res_loss) < 0.5 * res_loss[0], res_loss[:: max(1, len(res_loss) // 10)]
    assert plain["val/acc"] < 0.2, plain                          # chance is 0.1
    assert tail(plain_loss) > 0.9 * plain_loss[0], plain_loss[:: max(1, len(plain_loss) // 10)]
    assert plain_grad < 0.1 * res_grad, (plain_grad, res_grad)


def test_residual_blocks_start_as_the_identity_without_batch_norm():
    model, shape = resnet.blueprint(resnet.Config(depth=5))
    x = torch.rand(2, shape[0] * 16, *shape[1:])[:, :16]
    block = model.blocks[0]
    assert torch.allclose(block(torch.relu(x)), torch.relu(x))


def test_gradient_heatmap_has_one_row_per_conv_layer(store):
    cfg = resnet.Config(depth=3, epochs=1)
    data = resnet.load_data(cfg)
    state = resnet.build(cfg, data)
    for i in range(12):
        resnet.train_step(state, tuple(t[i * 8:(i + 1) * 8] for t in data.train))
    arts = resnet.artifacts(state, data)
    z = arts["gradients"]["data"]["data"][0]["z"]
    assert len(z) == 1 + 2 * 3 and len(z[0]) == 12 // resnet.GRAD_EVERY + 1


def test_compare_button_runs_plain_and_residual_and_overlays_them(home, store):
    at = open_page("app_pages/30_resnet.py", query={"depth": "4", "epochs": "1"})
    assert not at.exception
    at.button(key="resnet._compare").click().run()
    ids = at.query_params["compare"]
    ids = (ids if isinstance(ids, str) else ids[0]).split(",")
    assert len(ids) == 2 and run_id_of(at) == ids[1]
    configs = [store.config(i)["config"] for i in ids]
    assert [c["residual"] for c in configs] == [False, True]
    assert {k: v for k, v in configs[0].items() if k != "residual"} == \
        {k: v for k, v in configs[1].items() if k != "residual"}
    assert poll_until(at, lambda a: all(store.status(i)["status"] == "completed" for i in ids))
    at.run()
    assert any("plain vs residual" in h.value for h in at.subheader)
    assert not at.exception
