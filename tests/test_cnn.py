"""The CNN lab: learns, shows its cost before training, augments on the device."""
import torch

from playground import registry
from playground.engine import loop, summary
from playground.labs import cnn
from tests.helpers import open_page, poll_until, run_id_of


def _train(store, **overrides):
    cfg, errors = registry.parse_config(cnn, overrides)
    assert errors == []
    return loop.run(cnn, cfg, store.create("cnn", {}), store)


def test_default_cnn_reaches_97_percent_on_digits(store):
    result = _train(store)
    assert result.status == "completed"
    assert result.metrics["val/acc"] >= 0.97, result.metrics


def test_default_cnn_reaches_96_percent_on_mnist_in_two_epochs(mnist_dir, store):
    result = _train(store, dataset="mnist", epochs=2)
    assert result.metrics["val/acc"] >= 0.96, result.metrics


def test_removing_pooling_multiplies_parameters_and_mult_adds():
    pooled = summary.describe(cnn, cnn.Config(dataset="mnist"))
    flat = summary.describe(cnn, cnn.Config(dataset="mnist", pooling="none"))
    assert flat["params"] > 5 * pooled["params"]
    assert flat["macs"] > 2 * pooled["macs"]
    assert any(r["type"] == "Conv2d" and r["mult-adds"] > 0 for r in pooled["rows"])


def test_a_network_that_shrinks_the_image_to_nothing_is_refused_with_a_reason():
    cfg, errors = registry.parse_config(cnn, {"channels": "8,8,8,8,8", "padding": "valid",
                                               "image_size": 8})
    assert cfg is None and "shrinks the 8x8 image to nothing" in errors[0]


def test_augmentation_keeps_shape_and_changes_pixels():
    x = torch.rand(16, 1, 16, 16)
    assert cnn.augment(x, "none") is x
    for how in ("shift", "shift+rotate", "shift+flip"):
        out = cnn.augment(x, how)
        assert out.shape == x.shape and not torch.allclose(out, x)


def test_artifacts_show_filters_feature_maps_and_predictions():
    cfg = cnn.Config(epochs=1)
    data = cnn.load_data(cfg)
    state = cnn.build(cfg, data)
    with torch.no_grad():
        arts = cnn.artifacts(state, data)
    assert {"filters", "maps", "predictions", "confusion", "per_class"} <= set(arts)
    assert arts["maps"]["kind"] == "image" and "test image 0" in arts["maps"]["title"]


def test_cnn_page_trains_and_shows_filters(home, store):
    at = open_page("app_pages/20_cnn.py", query={"epochs": "2"})
    assert not at.exception
    assert "multiply-adds" in " ".join(e.label for e in at.expander)
    at.button(key="cnn._train").click().run()
    run_id = run_id_of(at)
    assert poll_until(at, lambda a: store.status(run_id)["status"] == "completed")
    at.run()
    shown = " ".join(m.value for m in at.markdown)
    assert "First-layer filters" in shown and "Feature maps" in shown
    assert not at.exception
