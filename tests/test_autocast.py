"""Mixed precision, checked without a GPU: PLAYGROUND_AUTOCAST=bf16 runs the engine's training
steps under CPU bf16 autocast, as they run on a CUDA GPU, so the autocast faults a GPU would
meet show here: stale weights after an update inside the block, sparse products and recurrent
cells that must stay fp32, and the labs' lessons under it (GAN modes, GNN accuracy, early
stopping's best weights)."""
import pytest
import torch

from playground import params, registry
from playground.engine import device as devices
from playground.engine import loop


@pytest.fixture
def bf16(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_AUTOCAST", "bf16")


def _run(store, lab_name: str, **settings):
    lab = registry.get(lab_name)
    cfg, errors = registry.parse_config(lab, {"device": "cpu", **settings})
    assert not errors, errors
    run_id = store.create(lab_name, params.to_dict(cfg))
    res = loop.run(lab, cfg, run_id, store)
    assert res.status == "completed", res.message
    return lab, cfg, run_id, res


def test_the_contract_autocast_where_asked_and_opted_out_where_a_lab_says(bf16, monkeypatch):
    cpu = torch.device("cpu")
    with devices.autocast(cpu):
        assert torch.is_autocast_enabled("cpu")
        x = torch.ones(2, 3)
        assert torch.nn.functional.linear(x, torch.ones(4, 3)).dtype == torch.bfloat16
        with devices.full_precision(x):
            assert torch.nn.functional.linear(x, torch.ones(4, 3)).dtype == torch.float32

    class NoAutocast:
        AUTOCAST = False

    with devices.autocast(cpu, NoAutocast):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setenv("PLAYGROUND_AUTOCAST", "off")
    with devices.autocast(cpu):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.delenv("PLAYGROUND_AUTOCAST")
    with devices.autocast(cpu):                  # the CPU trains in fp32 unless asked
        assert not torch.is_autocast_enabled("cpu")


def test_an_update_inside_the_block_is_seen_by_the_next_forward(bf16):
    """A GAN's critic takes d_steps updates in one train_step: each must see the last."""
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    x = torch.randn(16, 8)
    with devices.autocast(torch.device("cpu")):
        assert torch.is_autocast_enabled("cpu")
        before = net(x).float()
        before.sum().backward()
        opt.step()
        after = net(x).float()
    assert not torch.allclose(before, after)


@pytest.mark.slow
def test_wgan_gp_with_five_critic_steps_covers_the_ring_under_autocast(bf16, store):
    *_, res = _run(store, "gan", **{k: v for k, v in registry.get("gan").PRESETS[
        "WGAN-GP on the ring"].items()})
    assert res.metrics["val/modes"] >= 7, res.metrics


def test_the_gcn_finds_the_karate_clubs_sides_under_autocast(bf16, store):
    *_, res = _run(store, "gnn")
    assert res.metrics["val/acc"] >= 0.9, res.metrics


def test_an_lstm_learns_the_adding_problem_under_autocast_in_fp32_cells(bf16, store):
    lab, cfg, run_id, res = _run(store, "rnn", task="adding", cell="lstm")
    assert res.metrics["val/loss"] < 0.1, res.metrics        # guessing 1 scores ~0.167
    # the cells ran in fp32: the gradient picture has finite values at every step
    grads = store.artifacts(run_id)["items"]["gradient"]
    assert "nan" not in str(grads).lower()


def test_early_stopping_reports_its_restored_best_weights_under_autocast(bf16, store):
    lab, cfg, run_id, res = _run(store, "fundamentals", experiment="regularization",
                                 early_stopping=5)
    assert res.message.startswith("Stopped early at step"), res.message
    # the saved weights, evaluated again, give the metrics the run reported
    data = lab.load_data(cfg)
    state = lab.build(cfg, data)
    state.model.load_state_dict(torch.load(store.path(run_id) / "model.pt", weights_only=True))
    with torch.no_grad(), devices.autocast(torch.device("cpu"), lab):
        again = {k: float(v) for k, v in lab.evaluate(state, data).items()}
    assert again["val/acc"] == pytest.approx(res.metrics["val/acc"], abs=1e-6)
    assert again["val/loss"] == pytest.approx(res.metrics["val/loss"], rel=1e-3)
