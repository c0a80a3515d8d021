"""Sentiment on the RNN page: the labelled sentences (Kotzias et al., KDD 2015) read from the data
folder, downloaded in UCI's zip layout when missing, refused with a message when neither works;
the tutorials' tokenizer; a network whose answer padding never reaches; and an LSTM and the bag
of words that learn the real sentences."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from playground.data import sentiment
from playground.data.base import DataUnavailable

SENTIMENT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment"


@pytest.fixture
def real(monkeypatch):
    if not (SENTIMENT / "imdb_labelled.txt").is_file():
        pytest.skip("../shared/data/sentiment is not present")
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(SENTIMENT.parent))
    return SENTIMENT


def _config(**values):
    from playground import params, registry

    lab = registry.get("rnn")
    cfg, errors = params.parse(lab.Config, {**lab.PRESETS["Sentiment of review sentences (LSTM)"],
                                            **values}, check=lab.check)
    assert not errors, errors
    return lab, cfg


def test_the_real_sentences_are_read_whole_with_their_labels(real):
    texts, labels = sentiment.load_sentences("all", root=real, download=False)
    assert len(texts) == len(labels) == 3000 and labels.sum() == 1500
    for source in ("imdb", "amazon", "yelp"):
        t, y = sentiment.load_sentences(source, root=real, download=False)
        assert len(t) == 1000 and y.sum() == 500
    amazon, y = sentiment.load_sentences("amazon", root=real, download=False)
    assert amazon[1] == "Good case, Excellent value." and y[1] == 1
    # the labels belong to their sentences: a bag of words on them beats chance by far
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    order = np.random.default_rng(0).permutation(len(texts))
    x = CountVectorizer().fit_transform([texts[i] for i in order])
    y = labels[order]
    model = LogisticRegression(max_iter=1000).fit(x[:2400], y[:2400])
    assert model.score(x[2400:], y[2400:]) > 0.75


def test_the_tokenizer_pads_and_marks_unknown_words():
    assert sentiment.tokenize("Don't buy it!! 10/10, NOT good.") == \
        ["don't", "buy", "it", "10", "10", "not", "good"]
    vocab = sentiment.vocabulary(["good film", "good good plot", "bad film"], size=4)
    assert vocab == ("<pad>", "<unk>", "good", "film")
    ids = sentiment.encode(["good plot film film", "", "bad"], vocab, max_len=3)
    assert ids.tolist() == [[2, 1, 3], [1, 0, 0], [1, 0, 0]]   # cut, never empty, padded
    assert sentiment.vocabulary(["a b b"], size=10, min_count=2) == ("<pad>", "<unk>", "b")


def _uci_zip(path: Path, files: dict[str, str]) -> None:
    """A zip laid out as UCI's: a folder with the three files, and macOS's debris beside it."""
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(f"sentiment labelled sentences/{name}", text)
            z.writestr(f"__MACOSX/sentiment labelled sentences/._{name}", "junk")


def test_missing_files_are_downloaded_from_ucis_zip(tmp_path, monkeypatch):
    files = {name: f"A fine {source}.\t1\nA poor one.\t0\n"
             for source, name in sentiment.FILES.items()}
    got = []

    def fake_download(url, download_root, filename=None, **kw):
        got.append(url)
        archive = Path(download_root) / filename
        _uci_zip(archive, files)
        with zipfile.ZipFile(archive) as z:
            z.extractall(download_root)

    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive", fake_download)
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    texts, labels = sentiment.load_sentences("yelp")
    assert got == [sentiment.UCI_ZIP]
    assert texts == ("A fine yelp.", "A poor one.") and labels.tolist() == [1, 0]
    assert sorted(p.name for p in (tmp_path / "sentiment").iterdir()) == sorted(files)


def test_offline_and_damaged_files_are_refused_with_what_to_do(tmp_path, monkeypatch):
    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive", offline)
    with pytest.raises(DataUnavailable, match="could not be downloaded .*imdb_labelled.txt") as e:
        sentiment.load_sentences("imdb", root=tmp_path / "a")
    assert e.value.fix == {"task": "adding"}
    with pytest.raises(DataUnavailable, match="not found in"):
        sentiment.load_sentences("imdb", root=tmp_path / "b", download=False)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "imdb_labelled.txt").write_text("fine\t1\nno label here\n")
    with pytest.raises(DataUnavailable, match="line 2: not 'sentence<TAB>0 or 1'"):
        sentiment.load_sentences("imdb", root=tmp_path / "c", download=False)


def test_padding_never_reaches_the_answer_whichever_way_the_sentence_is_read():
    """The same sentences padded to 12 or to 30 ids get the same logits, from an RNN read forward
    and from a bidirectional GRU (its backward cell reads each sentence reversed within its own
    length), and from the bag of words."""
    import torch

    from playground.labs.rnn.sentiment import SentimentNet

    ids = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0], [9, 3, 4, 8, 2, 7, 6, 0, 0, 0, 0, 0]])
    longer = torch.cat([ids, torch.zeros((2, 18), dtype=torch.long)], 1)
    for cell, both in (("rnn", False), ("gru", True), ("bag", False)):
        _, cfg = _config(cell=cell, bidirectional=both, hidden_size=8, embedding=4)
        torch.manual_seed(0)
        net = SentimentNet(cfg, 10).eval()
        assert torch.allclose(net(ids), net(longer), atol=1e-6), cell
    _, cfg = _config(cell="gru", bidirectional=True, hidden_size=8, embedding=4)
    torch.manual_seed(0)
    net = SentimentNet(cfg, 10).eval()
    moved = ids.clone()
    moved[0, :3] = torch.tensor([7, 6, 5])                   # the words' order matters to it
    assert not torch.allclose(net(ids)[0], net(moved)[0])


def test_bag_is_refused_outside_sentiment():
    from playground import params, registry

    lab = registry.get("rnn")
    _, errors = params.parse(lab.Config, {"cell": "bag"}, check=lab.check)
    assert any("bag" in e and "sentiment" in e for e in errors)


@pytest.mark.parametrize("cell,seeds", [("bag", (0, 1, 2)), ("lstm", (0, 1))])
def test_the_networks_learn_the_real_sentences_and_answer_typed_ones(real, cell, seeds,
                                                                     tmp_path):
    """The preset's LSTM reaches 75% of the 600 test sentences on every seed tried (76-81% on
    seeds 0-4 measured), the bag of words 78-81% (a logistic regression on word counts: 82-84%):
    on 3,000 short sentences, word order does not beat a bag. Asked afterwards, both call
    "good" positive and "not good" negative ("not" pushing towards negative) on every seed tried
    (the LSTM on seeds 0-4)."""
    import torch

    from playground.labs.rnn import sentiment as torch_part
    from tests.helpers import torch_threads, train_in_memory

    with torch_threads(1):
        for seed in seeds:
            lab, cfg = _config(cell=cell, seed=seed)
            state, data, metrics = train_in_memory(lab, cfg)
            assert len(data.test[0]) == 600 and data.classes == ("negative", "positive")
            assert metrics["val/acc"] >= 0.75, (cell, seed, metrics)
            path = tmp_path / f"{cell}{seed}.pt"
            torch.save(state.model.state_dict(), path)
            good = torch_part.ask(cfg, str(path), "good")
            said = torch_part.ask(cfg, str(path), "Not good!")
            assert "the model reads it as **positive**" in good["answer"]["data"], seed
            assert "the model reads it as **negative**" in said["answer"]["data"], seed
            bars = said["push"]["data"]["data"][0]
            assert bars["x"] == ["not", "good"] and bars["y"][0] < 0, (seed, bars)
    views = lab.artifacts(state, data)
    assert set(views) == {"confusion", "surest", "wrongest"}
    assert views["surest"]["data"].count("\n") >= 3


def test_a_sentiment_run_exports_as_a_script_that_trains_alone(real, tmp_path):
    """The exported script carries the loader, the tokenizer and the network: nothing of the
    playground package is imported, and it trains on the same sentences."""
    import json
    import os
    import subprocess
    import sys

    from playground import export

    script = tmp_path / "train_rnn.py"
    script.write_text(export.script("rnn", {"task": "sentiment", "cell": "gru",
                                            "bidirectional": True, "steps": 60, "lr": 0.003}))
    assert "import playground" not in script.read_text() and \
        "from playground" not in script.read_text()
    out = subprocess.run([sys.executable, str(script), "--device", "cpu", "--json"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PLAYGROUND_DATA_DIR": str(real.parent)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["val/acc"] > 0.55
