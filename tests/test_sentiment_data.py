"""The labelled sentences (Kotzias et al., KDD 2015) the RNN page classifies: read from the data
folder, downloaded in UCI's zip layout when missing, refused with a message when neither works;
and the tutorials' tokenizer: lower-cased words, a vocabulary with padding and unknown ids."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from playground.data import sentiment
from playground.data.base import DataUnavailable

SENTIMENT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment"


@pytest.fixture
def real():
    if not (SENTIMENT / "imdb_labelled.txt").is_file():
        pytest.skip("../shared/data/sentiment is not present")
    return SENTIMENT


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
