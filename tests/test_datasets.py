"""Downloadable sets load offline from a folder prepared in torchvision's own layout."""
import pickle

import numpy as np
import pytest

from playground.bench import write_fake_mnist
from playground.data import images


@pytest.fixture(autouse=True)
def _fresh_cache():
    images._download_set.cache_clear()
    images._load_images.cache_clear()
    yield
    images._download_set.cache_clear()
    images._load_images.cache_clear()


def test_a_prepared_fashion_mnist_folder_loads_offline(tmp_path, monkeypatch):
    root = write_fake_mnist(tmp_path, 50, 20)
    (root / "MNIST").rename(root / "FashionMNIST")
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(root))
    data = images.load_images("fashion_mnist", download=False)
    assert data.n_train == 50 and data.n_test == 20 and data.input_shape == (1, 28, 28)
    assert data.classes[0] == "T-shirt"


def test_a_prepared_cifar10_folder_loads_offline(tmp_path, monkeypatch):
    from torchvision.datasets import cifar

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", 10) for i in range(1, 6)] + [("test_batch", 7)]:
        entry = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(images._CIFAR)}))
    # the files are synthetic, so torchvision's md5 check of the real archive cannot pass
    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    data = images.load_images("cifar10", download=False)
    assert data.n_train == 50 and data.n_test == 7 and data.input_shape == (3, 32, 32)
    raw = pickle.loads((folder / "test_batch").read_bytes())["data"][0].reshape(3, 32, 32)
    shown = (data.test[0][0] * data.extra["std"][0] + data.extra["mean"][0]) * 255
    assert np.allclose(shown.numpy(), raw, atol=0.01)      # channels end up where they belong


def test_without_downloads_a_missing_set_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    with pytest.raises(images.DataUnavailable, match="digits") as e:
        images.load_images("mnist", download=False)
    assert e.value.fix == {"dataset": "digits"}
