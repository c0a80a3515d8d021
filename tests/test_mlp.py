"""The MLP lab learns what it claims to, within its default budget."""
import torch

from playground import registry
from playground.engine import loop
from playground.labs import mlp


def _train(store, **overrides):
    cfg, errors = registry.parse_config(mlp, overrides)
    assert errors == []
    return loop.run(mlp, cfg, store.create("mlp", {}), store)


def test_default_spiral_reaches_95_percent_test_accuracy(store):
    result = _train(store)
    assert result.status == "completed"
    assert result.metrics["val/acc"] >= 0.95, result.metrics


def test_default_network_on_digits_reaches_95_percent(store):
    result = _train(store, dataset="digits")
    assert result.metrics["val/acc"] >= 0.95, result.metrics


def test_a_linear_network_cannot_separate_the_spiral(store):
    result = _train(store, activation="linear", epochs=30)
    assert result.metrics["val/acc"] < 0.8, result.metrics


def test_squared_features_separate_circles_without_hidden_layers(store):
    result = _train(store, **mlp.PRESETS["Circles, features only"])
    assert result.metrics["val/acc"] >= 0.95, result.metrics


def test_feature_map_computes_the_named_inputs():
    fm = mlp.FeatureMap(("x1", "x2^2", "x1*x2"))
    out = fm(torch.tensor([[2.0, 3.0]]))
    assert out.tolist() == [[2.0, 9.0, 6.0]]


def test_l1_penalty_shrinks_weights_more_than_none(store):
    from playground.engine.runs import RunStore  # noqa: F401  (store fixture provides the folder)

    def weight_norm(**kw):
        cfg, _ = registry.parse_config(mlp, {"epochs": 20, **kw})
        run_id = store.create("mlp", {})
        loop.run(mlp, cfg, run_id, store)
        sd = torch.load(store.model_path(run_id), weights_only=True)
        return sum(v.abs().sum() for k, v in sd.items() if k.endswith("weight"))

    assert weight_norm(regularization="l1", reg_rate=0.01) < 0.5 * weight_norm()


def test_image_artifacts_show_predictions_and_a_confusion_matrix():
    cfg = mlp.Config(dataset="digits", epochs=1)
    data = mlp.load_data(cfg)
    state = mlp.build(cfg, data)
    with torch.no_grad():
        arts = mlp.artifacts(state, data)
    assert arts["predictions"]["kind"] == "image"
    z = arts["confusion"]["data"]["data"][0]["z"]
    assert sum(map(sum, z)) == data.n_test


def test_mnist_from_a_prepared_folder_trains(mnist_dir, store):
    result = _train(store, dataset="mnist", hidden_sizes="128", epochs=1, batch_size=64, lr=0.001)
    assert result.status == "completed", result.message
    assert result.metrics["val/acc"] >= 0.85, result.metrics


def test_a_missing_download_fails_with_the_embedded_alternative(store, tmp_path, monkeypatch):
    from playground.data import images

    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "empty"))

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    images._download_set.cache_clear()
    result = _train(store, dataset="fashion_mnist", epochs=1)
    assert result.status == "failed"
    assert "digits" in result.message and "offline" in result.message
