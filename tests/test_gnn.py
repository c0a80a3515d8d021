"""The GNN lab: the graph carries what the labels cannot - a GCN labels the karate club from its
two leaders where the same network without the graph guesses, and reaches Kipf & Welling's Cora
accuracy on the real Cora; noisy block models, isolated nodes and bad settings are handled; the
Planetoid files are read safely; CLI, script and the page's comparison work."""
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from playground import registry
from playground.data import DataUnavailable, graphs
from playground.labs import gnn
from tests.helpers import compare_on_page, open_page, run_id_of, texts, train_cli, train_in_memory

PLANETOID = Path(__file__).resolve().parents[2] / "shared" / "data" / "planetoid"


def _cfg(**overrides):
    cfg, errors = registry.parse_config(gnn, overrides)
    assert errors == [], errors
    return cfg


def _acc(**overrides) -> float:
    return train_in_memory(gnn, _cfg(**overrides))[2]["val/acc"]


@pytest.fixture
def cora_dir(monkeypatch):
    if not (PLANETOID / "Cora" / "raw").is_dir():
        pytest.skip("../shared/data/planetoid is not present")
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(PLANETOID))
    return PLANETOID


@pytest.mark.parametrize("n_threads", [1, 2])
def test_karate_gcn_finds_the_sides_from_two_leaders_where_the_mlp_guesses(n_threads):
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        for seed in range(5):
            gcn, mlp = _acc(seed=seed), _acc(seed=seed, model="mlp")
            assert gcn >= 0.9, (seed, gcn)
            # 32 unlabelled members, 16 and 16: with one-hot ids and no links, a guess
            assert mlp <= 0.7, (seed, mlp)
    finally:
        torch.set_num_threads(before)


def test_noisy_communities_are_found_through_the_links():
    # measured over seeds 0-7: GCN 93-100%, SAGE 78-97% (its own features weigh more with 3
    # labels a group), MLP 40-61%
    for seed in range(5):
        gcn = _acc(graph="sbm", feature_noise=3.0, seed=seed)
        mlp = _acc(graph="sbm", feature_noise=3.0, seed=seed, model="mlp")
        sage = _acc(graph="sbm", feature_noise=3.0, seed=seed, model="sage")
        assert gcn >= 0.85 and sage >= 0.75, (seed, gcn, sage)
        assert mlp <= 0.7 and gcn - mlp >= 0.25, (seed, gcn, mlp)


# NOTE: measured on 2 cores: GCN 80.6-82.3% over seeds 0-4, 1.4 s for 200 epochs; MLP 55-58%
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cora_gcn_reaches_kipf_and_wellings_accuracy(cora_dir, seed):
    data = gnn.load_data(_cfg(graph="cora"))
    assert data.extra["x"].shape == (2708, 1433) and len(data.extra["edges"]) == 5278
    assert [len(data.train[0]), len(data.extra["val"]), len(data.test[0])] == [140, 500, 1000]
    assert abs(_acc(graph="cora", seed=seed) - 0.815) <= 0.015
    if seed == 0:
        assert _acc(graph="cora", model="mlp") < 0.65
        assert _acc(graph="cora", model="sage") > 0.78


def test_cora_downloads_when_online_and_says_what_to_do_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(graphs, "_cora", graphs._cora.__wrapped__)       # no memory of other runs
    with pytest.raises(DataUnavailable, match="Cora could not be downloaded") as e:
        graphs.cora(tmp_path / "offline")
    assert e.value.fix == {"graph": "karate"}
    if not (PLANETOID / "Cora" / "raw").is_dir():
        pytest.skip("../shared/data/planetoid is not present")
    fetched = []

    def download_url(url, root):                      # torchvision's, served from the disk
        name = url.rsplit("/", 1)[1]
        fetched.append(name)
        Path(root).mkdir(parents=True, exist_ok=True)
        shutil.copy(PLANETOID / "Cora" / "raw" / name, Path(root) / name)

    import torchvision.datasets.utils as tv_utils
    monkeypatch.setattr(tv_utils, "download_url", download_url)
    data = graphs.cora(tmp_path / "online")
    assert len(fetched) == 8 and fetched[0].startswith("ind.cora.")
    assert graphs.PLANETOID_URL.startswith("https://") and data.num_classes == 7


def test_a_planetoid_file_runs_no_code_and_a_broken_one_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr(graphs, "_cora", graphs._cora.__wrapped__)
    raw = graphs.planetoid_dir(tmp_path)
    raw.mkdir(parents=True)
    for s in graphs.PLANETOID_FILES:
        (raw / f"ind.cora.{s}").write_bytes(b"")

    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    (raw / "ind.cora.x").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataUnavailable, match="not a Planetoid file"):
        graphs.cora(tmp_path, download=False)
    assert not (tmp_path / "pwned").exists()
    (raw / "ind.cora.x").write_bytes(b"\x80\x04truncated")
    with pytest.raises(DataUnavailable, match="delete it to download again"):
        graphs.cora(tmp_path, download=False)


def test_isolated_nodes_train_and_predict_without_nans():
    # no links at all: every node is alone; the GCN and SAGE fall back to the node's features
    for model in ("gcn", "sage"):
        cfg = _cfg(graph="sbm", p_in=0.0, p_out=0.0, feature_noise=0.5, model=model,
                   epochs=100)
        state, data, m = train_in_memory(gnn, cfg)
        assert len(data.extra["edges"]) == 0
        assert all(v == v for v in m.values()), m
        assert m["val/acc"] > 0.9                     # the features alone are clear at noise 0.5
        a_hat, mean = state.model.graph
        assert torch.allclose(a_hat.to_dense(), torch.eye(data.extra["n_nodes"]))
        assert mean._nnz() == 0


@pytest.mark.parametrize("overrides, message", [
    ({"graph": "sbm", "community_size": 10, "labels_per_class": 10}, "must be fewer than"),
    ({"graph": "sbm", "community_size": 1001}, "group size"),
    ({"graph": "sbm", "community_size": 1000, "p_in": 0.9}, "over a million"),
    ({"graph": "chemistry"}, "graph"),
    ({"p_in": 1.5}, "p in"),
    ({"layers": 0}, "layers"),
])
def test_bad_settings_are_refused_with_a_message(overrides, message):
    _, errors = registry.parse_config(gnn, overrides)
    assert any(message.lower() in e.lower() for e in errors), errors


def test_the_pictures_mark_wrong_and_labelled_nodes_and_big_graphs_are_not_drawn():
    state, data, m = train_in_memory(gnn, _cfg(epochs=3, seed=1))
    items = gnn.artifacts(state, data)
    graph = items["graph"]["data"]["data"]
    links, nodes = graph
    assert len(nodes["x"]) == 34 and len(links["x"]) == 3 * 78
    rings = nodes["marker"]["line"]["color"]
    assert rings[0] == rings[33] == "#000000"                      # the two leaders
    wrong = sum(c == "#d62728" for c in rings)
    assert f"the {wrong} unlabelled nodes predicted wrong" in items["graph"]["caption"]
    assert wrong == round((1 - m["val/acc"]) * 32)
    embedding = items["embedding"]["data"]["data"]
    assert sum(len(t["x"]) for t in embedding) == 34
    big = _cfg(graph="sbm", communities=3, community_size=1000, p_in=0.002, p_out=0.0005,
               epochs=1)
    state, data, _ = train_in_memory(gnn, big)
    assert "too many to lay out" in gnn.artifacts(state, data)["graph"]["data"]


def test_one_layer_has_no_hidden_layer_and_says_so():
    state, data, _ = train_in_memory(gnn, _cfg(layers=1, epochs=50))
    assert "no hidden layer" in gnn.artifacts(state, data)["embedding"]["data"]


def test_cli_and_the_exported_script(home, capsys, lab_scripts):
    code, out = train_cli(capsys, "gnn", "graph=karate")
    assert code == 0 and out["status"] == "completed" and out["metrics"]["val/acc"] >= 0.9
    code, out = train_cli(capsys, "gnn", "graph=cora")
    assert code == 1 and out["status"] == "failed"                 # no Cora in the tests' data dir
    run = lab_scripts["gnn"]                       # conftest.LAB_SCRIPTS
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["val/acc"] > 0.8


def test_the_page_compares_the_graph_with_the_same_network_without_it(home, store):
    at = open_page("app_pages/80_gnn.py")
    assert not at.exception
    ids = compare_on_page(at, store, "gnn")
    assert [store.config(i)["config"]["model"] for i in ids] == ["gcn", "mlp"]
    table = next(d.value for d in at.dataframe if "test accuracy" in d.value.columns)
    assert list(table["model"]) == ["graph", "mlp"]
    assert table["test accuracy"].iloc[0] >= 0.9 > table["test accuracy"].iloc[1] + 0.2
    assert "With the graph (graph)" in texts(at, "info") + texts(at, "success") + \
        texts(at, "markdown")
    assert run_id_of(at) == ids[-1]
