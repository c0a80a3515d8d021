"""The ResNet lab: skip connections keep deep nets trainable, and the page makes it visible."""
import pytest
import torch

from playground import registry
from playground.engine import device as devices
from playground.engine import loop
from playground.labs import resnet
from tests.helpers import open_page, poll_until, run_id_of


def _train(store, **overrides):
    cfg, errors = registry.parse_config(resnet, overrides)
    assert errors == []
    run_id = store.create("resnet", {})
    result = loop.run(resnet, cfg, run_id, store)
    rows = [r for r in store.metrics(run_id) if "train/loss" in r]
    losses = [r["train/loss"] for r in rows]
    grads = [r["train/grad_first_layer"] for r in rows]
    return result, losses, sum(grads) / len(grads)


@pytest.fixture
def threads():
    """Pin torch's intra-op threads for one test and restore them after. The thread count sets
    the summation order, and a net near the edge of trainability can land on either side of it
    depending on that order, so the claim below is checked at 1 thread and at 2."""
    devices.configure_torch()        # first, or the first run would reset the count to all cores
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


# NOTE: measured on 2 cores, seeds 0-5 at 1 and 2 threads: plain 6-10% test accuracy, residual
# 93-98%, the plain net's first-layer gradient under 2% of the residual net's. The test takes
# two seeds, one at each thread count (all twelve cases would add two minutes to the suite).
@pytest.mark.slow
@pytest.mark.parametrize("seed, n_threads", [(0, 2), (2, 1)],
                         ids=["seed0-2threads", "seed2-1thread"])
def test_at_the_default_depth_plain_stalls_and_residual_learns(store, threads, n_threads, seed):
    threads(n_threads)
    res, res_loss, res_grad = _train(store, seed=seed, residual=True)
    plain, plain_loss, plain_grad = _train(store, seed=seed, residual=False)
    assert res.status == plain.status == "completed"
    tail = lambda losses: sum(losses[-5:]) / len(losses[-5:])  # noqa: E731
    assert res.metrics["val/acc"] > 0.85, (res.metrics, res_loss[:: max(1, len(res_loss) // 10)])
    assert tail(res_loss) < 0.5 * res_loss[0], res_loss[:: max(1, len(res_loss) // 10)]
    assert plain.metrics["val/acc"] < 0.2, plain.metrics          # chance is 0.1
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
