"""Sentiment's other texts: Maas et al.'s IMDB reviews in aclImdb's own layout (written here, since
the 84 MB archive cannot be downloaded offline), a visitor's CSV of text,label rows (checked as
an upload, read from a path on the command line), and word vectors from a finished Word2Vec
run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import train_cli, train_in_memory, trained_run
from playground.data import sentiment, uploads
from playground.data.base import DataUnavailable

GOOD, BAD, MEH = ("great", "love", "superb", "fine"), ("awful", "hate", "boring", "poor"), \
    ("okay", "average", "decent", "middling")
FILLER = ("the", "film", "was", "and", "plot", "it", "a", "story", "acting", "really")


def _review(rng, words) -> str:
    picked = list(rng.choice(FILLER, 6)) + list(rng.choice(words, 2))
    rng.shuffle(picked)
    return " ".join(picked)


def _acl_imdb(root: Path, per_folder: int = 30, seed: int = 0) -> Path:
    """aclImdb as Maas et al. ship it: train|test/pos|neg/<id>_<stars>.txt, HTML line breaks
    in the reviews, the unlabelled train/unsup beside them."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for kind, words, stars in (("pos", GOOD, 8), ("neg", BAD, 2)):
            folder = root / "aclImdb" / split / kind
            folder.mkdir(parents=True)
            for i in range(per_folder):
                (folder / f"{i}_{stars}.txt").write_text(
                    _review(rng, words) + ".<br /><br />" + _review(rng, words), encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    (root / "aclImdb" / "train" / "unsup" / "0_0.txt").write_text("unlabelled")
    return root / "aclImdb"


def test_imdb_reads_its_own_layout_half_positive_without_html(tmp_path):
    folder = _acl_imdb(tmp_path)
    (train, y_train), (test, y_test) = sentiment.load_imdb(20, seed=3, root=folder,
                                                          download=False)
    assert len(train) == len(test) == 20 and y_train.sum() == y_test.sum() == 10
    assert not any("<br" in t for t in train + test)
    assert all(any(w in t for w in GOOD) for t, y in zip(train, y_train) if y == 1)
    again = sentiment.load_imdb(20, seed=3, root=folder, download=False)
    other = sentiment.load_imdb(20, seed=4, root=folder, download=False)
    assert again[0][0] == train and other[0][0] != train        # the seed picks the reviews
    odd = sentiment.load_imdb(5, root=folder, download=False)[0][1]
    assert len(odd) == 5 and odd.sum() == 2


def test_imdb_is_downloaded_when_missing_and_refused_with_what_to_do_offline(tmp_path,
                                                                             monkeypatch):
    got = []

    def fake_download(url, download_root, extract_root=None, **kw):
        got.append(url)
        _acl_imdb(Path(extract_root))

    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive", fake_download)
    (train, _), _ = sentiment.load_imdb(10, root=tmp_path / "aclImdb")
    assert got == [sentiment.IMDB_TAR] and len(train) == 10
    assert not (tmp_path / "aclImdb" / "train" / "unsup").exists()     # 50,000 unused files

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive", offline)
    with pytest.raises(DataUnavailable, match="could not be downloaded") as e:
        sentiment.load_imdb(10, root=tmp_path / "elsewhere" / "aclImdb")
    assert e.value.fix == {"corpus": "sentences"}
    (tmp_path / "half" / "aclImdb" / "test" / "neg").mkdir(parents=True)
    with pytest.raises(DataUnavailable, match="train/neg is missing"):
        sentiment.load_imdb(10, root=tmp_path / "half" / "aclImdb", download=False)


def test_the_imdb_corpus_trains_on_the_page_settings(tmp_path, monkeypatch):
    from playground import params, registry

    _acl_imdb(tmp_path, per_folder=60)
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    lab = registry.get("rnn")
    cfg, errors = params.parse(lab.Config, {"task": "sentiment", "corpus": "imdb",
                                            "max_reviews": 100, "seq_len": 20, "steps": 150,
                                            "lr": 0.01, "embedding": 16, "hidden_size": 16},
                               check=lab.check)
    assert not errors
    state, data, metrics = train_in_memory(lab, cfg)
    assert len(data.train[0]) == len(data.test[0]) == 100
    assert metrics["val/acc"] >= 0.9, metrics


def _csv(rows: int, seed: int = 0, labels=(("pos", GOOD), ("neg", BAD), ("meh", MEH))) -> str:
    rng = np.random.default_rng(seed)
    lines = ["text,label"]
    for i in range(rows):
        name, words = labels[i % len(labels)]
        lines.append(f'"{_review(rng, words)}, truly",{name}')         # a quoted comma
    return "\n".join(lines) + "\n"


def test_a_labelled_csv_is_checked_like_every_upload():
    texts, labels = uploads.labelled(_csv(60))
    assert len(texts) == 60 and set(labels) == {"pos", "neg", "meh"}
    assert texts[0].endswith(", truly")
    tabbed = "\n".join(f"{t}\t{y}" for t, y in zip(texts, labels))
    assert uploads.labelled(tabbed) == (texts, labels)
    assert sentiment.classes_of(["1", "0", "1"]) == ("0", "1")
    assert sentiment.classes_of(["positive", "negative"]) == ("negative", "positive")
    for text, said in ((_csv(20), "20 labelled rows; a network needs at least 40"),
                       (_csv(60, labels=(("pos", GOOD),)), "Every row has the label 'pos'"),
                       ("text,label\n" + "a review,x\n" * 3 + "just one column\n" * 50,
                        "Row 5 is not text,label"),
                       ("\n".join(f"good,{'long ' * 20}" for _ in range(50)),
                        "label is 99 characters long")):
        with pytest.raises(uploads.BadUpload, match=said):
            uploads.decode(text.encode(), kind="labelled")
    with pytest.raises(uploads.BadUpload, match="not UTF-8"):
        uploads.decode(b"caf\xe9,1\n" * 50, kind="labelled")
    with pytest.raises(uploads.BadUpload, match="text,label rows"):
        uploads.decode(b"  \n", kind="labelled")


def test_a_csv_of_three_labels_trains_and_answers(store):
    """file: the upload's own classes (sorted), a softmax over them, the confusion matrix and
    the typed answer in their names."""
    from playground import params, registry
    from playground.labs.rnn import sentiment as torch_part

    text_id, info = uploads.save(_csv(450).encode(), kind="labelled")
    assert info == {"rows": 450, "labels": 3}
    lab = registry.get("rnn")
    cfg, errors = params.parse(lab.Config, {"task": "sentiment", "corpus": "file",
                                            "reviews_file": text_id, "seq_len": 12,
                                            "steps": 200, "lr": 0.01, "embedding": 16,
                                            "hidden_size": 16}, check=lab.check)
    assert not errors
    state, data, metrics = train_in_memory(lab, cfg)
    assert data.classes == ("meh", "neg", "pos") and len(data.test[0]) == 90
    assert metrics["val/acc"] >= 0.9, metrics
    views = lab.artifacts(state, data)
    assert len(views["confusion"]["data"]["data"][0]["z"]) == 3
    path = store.root / "model.pt"
    import torch

    torch.save(state.model.state_dict(), path)
    from playground.engine import inference

    again = inference.load_model(lab, cfg, path)        # its shape from the settings alone
    assert torch.equal(again(data.test[0][:5]), state.model.eval()(data.test[0][:5]))
    said = torch_part.ask(cfg, str(path), "the plot was superb and I love it")
    assert "**pos**" in said["answer"]["data"]
    push = dict(zip(said["push"]["data"]["data"][0]["x"], said["push"]["data"]["data"][0]["y"]))
    assert push["superb"] > 0.0 and push["superb"] > push["the"]
    assert lab.exportable(cfg).startswith("this run trained on your uploaded texts")
    _, errors = params.parse(lab.Config, {"task": "sentiment", "corpus": "file"},
                             check=lab.check)
    assert any("upload one" in e for e in errors)


def test_the_command_line_reads_a_csv_from_its_path(store, tmp_path, capsys):
    good = tmp_path / "reviews.csv"
    good.write_text(_csv(120, labels=(("1", GOOD), ("0", BAD))))
    status, summary = train_cli(capsys, "rnn", "task=sentiment", "corpus=file",
                                f"reviews_file={good}", "seq_len=12", "steps=60",
                                "embedding=8", "hidden_size=8")
    assert status == 0 and summary["status"] == "completed"
    assert summary["metrics"]["val/acc"] > 0.5
    assert store.config(summary["run_id"])["config"]["reviews_file"] == \
        uploads.save(good.read_bytes(), kind="labelled")[0]
    from playground.__main__ import main

    onnx_file = tmp_path / "sentiment.onnx"
    assert main(["export", summary["run_id"], "--as", "onnx", "-o", str(onnx_file)]) == 0
    import onnx

    onnx.checker.check_model(onnx.load(str(onnx_file)))
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,1\n")
    for path, said in ((bad, "1 labelled rows"), (tmp_path / "nowhere.csv", "cannot be read")):
        assert main(["train", "rnn", "--set", "task=sentiment", "--set", "corpus=file",
                     "--set", f"reviews_file={path}"]) == 2
        assert said in capsys.readouterr().err


def test_word_vectors_start_from_a_finished_word2vec_run(store):
    """The words both vocabularies share start at Word2Vec's vectors (kept there when frozen),
    the share covered is said; a run of another size or lab is refused with the fix."""
    import torch

    from playground import params, registry

    w2v = trained_run(store, "word2vec", {"corpus_tokens": 4000, "epochs": 1, "embedding_dim": 16})
    table = torch.load(store.model_path(w2v), weights_only=True)["words.weight"]
    w2v_lab = registry.get("word2vec")
    w2v_cfg = params.parse(w2v_lab.Config, store.config(w2v)["config"])[0]
    words = w2v_lab.vocabulary(w2v_cfg.corpus, w2v_cfg.corpus_tokens, w2v_cfg.min_count)[0]
    text_id, _ = uploads.save(_csv(120, labels=(("1", GOOD), ("0", BAD))).encode(),
                              kind="labelled")
    lab = registry.get("rnn")
    settings = {"task": "sentiment", "corpus": "file", "reviews_file": text_id, "seq_len": 12,
                "steps": 40, "embedding": 16, "hidden_size": 8, "embedding_run": w2v,
                "freeze_embedding": True}
    cfg, errors = params.parse(lab.Config, settings, check=lab.check)
    assert not errors
    state, data, _ = train_in_memory(lab, cfg)
    vocab = data.extra["vocab"]
    shared = [w for w in vocab[2:] if w in words]
    assert "the" in shared and state.covered == (len(shared), len(vocab) - 2)
    for w in shared:                                # frozen: still Word2Vec's, after training
        assert torch.equal(state.model.embed.weight[vocab.index(w)].detach(),
                           table[words.index(w)]), w
    said = lab.artifacts(state, data)["word_vectors"]["data"]
    assert f"knew **{len(shared):,} of the {len(vocab) - 2:,} words**" in said
    from dataclasses import replace

    assert lab.exportable(replace(cfg, corpus="sentences")).startswith(
        f"this run started from Word2Vec run {w2v}")

    trained, _, _ = train_in_memory(lab, params.parse(
        lab.Config, {**settings, "freeze_embedding": False})[0])
    row = vocab.index(shared[0])
    assert not torch.equal(trained.model.embed.weight[row].detach(), table[words.index(shared[0])])
    for change, said in (({"embedding": 32}, "have 16 numbers; the embedding here has 32"),
                         ({"embedding_run": trained_run(store, "mlp", {"epochs": 1})},
                          "not a finished Word2Vec run"),
                         ({"embedding_run": "20260101-000000-word2vec-abcdef"},
                          "not on this server")):
        with pytest.raises(DataUnavailable, match=said) as e:
            lab.build(params.parse(lab.Config, {**settings, **change})[0], data)
        assert e.value.fix in ({"embedding": 16}, {"embedding_run": ""})


def test_the_page_asks_the_finished_model_a_probe_and_a_typed_sentence(home, store):
    from tests.helpers import open_page, poll_until, run_id_of

    text_id, _ = uploads.save(_csv(300, labels=(("1", GOOD), ("0", BAD))).encode(),
                              kind="labelled")
    at = open_page("app_pages/50_rnn.py", {
        "task": "sentiment", "corpus": "file", "reviews_file": text_id, "seq_len": "12",
        "steps": "120", "embedding": "16", "hidden_size": "16", "lr": "0.01"})
    assert not at.exception
    at.button(key="rnn._train").click().run()
    run_id = run_id_of(at)
    assert poll_until(at, lambda a: store.status(run_id)["status"] == "completed", timeout=120)
    at.run()
    assert "Ask the finished model" in [h.value for h in at.subheader]
    probes = at.pills(key=f"rnn._explore_text.{run_id}.probe")
    probes.set_value("not good").run()
    assert not at.exception
    box = at.text_input(key=f"rnn._explore_text.{run_id}")
    said = " ".join(m.value for m in at.markdown)
    assert box.value == "not good" and "P(positive) = " in said
    assert "Not in its vocabulary, read as 'unknown': not, good" in said
    box.input("the acting was superb and I love it").run()
    said = " ".join(m.value for m in at.markdown)
    assert "the model reads it as **positive**" in said, said
    assert f"explore-{run_id}-push" in {c.key for c in at.get("plotly_chart")}


def test_a_hosted_server_reads_at_most_its_training_examples_of_imdb():
    from playground import registry
    from playground.engine import hosting

    lab = registry.get("rnn")
    preset = lab.PRESETS["IMDB reviews, first 200 words (LSTM; 84 MB download)"]
    assert registry.parse_config(lab, preset, caps=hosting.HOSTED_DEFAULTS)[1] == []
    more = {**preset, "max_reviews": 20_000}
    cfg, errors = registry.parse_config(lab, more, budget=False, caps=hosting.HOSTED_DEFAULTS)
    assert cfg is None and errors == ["Reviews must be at most 10000, got 20000"]
    assert registry.parse_config(lab, more, budget=False, caps=hosting.Caps())[1] == []


def test_the_comparison_adds_the_bag_of_words_and_says_whether_order_paid(home, store):
    from playground import registry
    from tests.helpers import compare_on_page, open_page

    text_id, _ = uploads.save(_csv(200, labels=(("1", GOOD), ("0", BAD))).encode(),
                              kind="labelled")
    at = open_page("app_pages/50_rnn.py", {
        "task": "sentiment", "corpus": "file", "reviews_file": text_id, "seq_len": "12",
        "steps": "60", "embedding": "8", "hidden_size": "8", "lr": "0.01"})
    assert at.button(key="rnn._compare").label == "RNN vs LSTM vs GRU vs bag of words"
    ids = compare_on_page(at, store, "rnn")
    assert [store.config(i)["config"]["cell"] for i in ids] == ["rnn", "lstm", "gru", "bag"]
    table = next(d.value for d in at.dataframe if "test accuracy" in d.value.columns)
    assert list(table["cell"]) == ["RNN", "LSTM", "GRU", "bag of words"]
    assert (table["parameters"] > 0).all() and (table["seconds"] > 0).all()
    said = " ".join(m.value for m in at.info)
    assert "Word order" in said or "The bag of words won" in said, said

    rnn = registry.get("rnn")

    class Run:
        def __init__(self, cell, acc, seconds):
            self.config = {"task": "sentiment", "cell": cell}
            self.status = {"status": "completed", "final": {"val/acc": acc}, "params": 10,
                           "seconds": seconds}

    def verdict(accs):
        runs = [(n, Run(c, a, s)) for n, c, a, s in zip(
            ("RNN", "LSTM", "GRU", "bag of words"), ("rnn", "lstm", "gru", "bag"), accs,
            (3.0, 6.0, 7.0, 1.0))]
        return rnn.comparison_table(runs)[1]

    assert "Word order paid here: LSTM beats the bag of words by 5.0%" in verdict(
        (0.7, 0.85, 0.8, 0.8))
    assert "Word order did not pay here: the bag of words (80.0%) is as good as the best " \
           "reader, LSTM (81.0%), in 6 times the bag's training time" in verdict(
               (0.7, 0.81, 0.8, 0.8))
    assert "The bag of words won: 80.0% against GRU's 75.0%" in verdict((0.7, 0.7, 0.75, 0.8))
