"""Own-image uploads on the CNN page: checked before reading, decoded safely, and classified by
the finished run's model loaded with weights_only=True."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from playground.engine import inference, loop
from playground.labs import cnn
from playground.params import to_dict
from tests.helpers import open_page


@pytest.fixture
def finished(store):
    cfg = cnn.Config(epochs=8)
    run_id = store.create("cnn", to_dict(cfg))
    assert loop.run(cnn, cfg, run_id, store).status == "completed"
    return cfg, run_id


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_a_test_digit_as_a_png_gets_the_same_prediction_as_the_tensor(store, finished):
    cfg, run_id = finished
    data = cnn.load_data(cfg)
    model = inference.load_model(cnn, cfg, store.model_path(run_id))
    same = right = 0
    for i in range(20):
        x = (data.test[0][i] * data.extra["std"][0] + data.extra["mean"][0]).clamp(0, 1)
        img = (x[0].numpy() * 255).astype(np.uint8)
        classes, probs, _ = inference.classify(cnn, cfg, store.model_path(run_id), _png(img),
                                               invert=False)
        assert abs(sum(probs) - 1) < 1e-4 and len(classes) == 10
        with torch.no_grad():
            direct = int(model(data.test[0][i:i + 1]).argmax())
        same += int(np.argmax(probs)) == direct
        right += int(np.argmax(probs)) == int(data.test[1][i])
    assert same >= 19 and right >= 17, (same, right)


@pytest.mark.parametrize("name, size, head, message", [
    ("big.png", 50 * 1024 * 1024, b"\x89PNG\r\n", "up to 2 MB"),
    ("tool.exe", 1000, b"MZ\x90\x00", "is not a PNG"),
    ("tool.png", 1000, b"MZ\x90\x00", "is not a PNG"),
    ("noext", 1000, b"\x89PNG\r\n", "is not a PNG"),
])
def test_bad_uploads_are_refused_before_decoding(name, size, head, message):
    with pytest.raises(inference.BadImage, match=message):
        inference.check_upload(name, size, head)


def test_a_truncated_image_is_a_message_not_a_crash():
    data = _png(np.zeros((28, 28), np.uint8))[:40]
    with pytest.raises(inference.BadImage, match="could not be read"):
        inference.to_input(data, (1, 16, 16), 0.0, 1.0, invert=False)


def test_weights_are_loaded_with_weights_only(store, finished, monkeypatch):
    import torch

    cfg, run_id = finished
    seen = {}
    real = torch.load

    def spy(*a, **k):
        seen.update(k)
        return real(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    inference.load_model(cnn, cfg, store.model_path(run_id))
    assert seen.get("weights_only") is True


def test_the_page_offers_own_images_for_a_finished_run(home, store, finished):
    _, run_id = finished
    at = open_page("app_pages/20_cnn.py", query={"run": run_id})
    assert not at.exception
    assert any(h.value == "Try your own image" for h in at.subheader)
    assert "it is not saved, and nobody else who opens this run sees it" in " ".join(
        c.value for c in at.caption)


def test_an_uploaded_image_is_never_written_anywhere(home, store, finished):
    """Hosted visitors share one run store: what one of them uploads must not land in it."""
    cfg, run_id = finished

    def files():
        return {(str(p), p.stat().st_size, p.stat().st_mtime_ns)
                for p in home.rglob("*") if p.is_file()}

    before = files()
    inference.classify(cnn, cfg, store.model_path(run_id),
                       _png(np.full((28, 28), 200, np.uint8)), invert=False)
    assert files() == before
