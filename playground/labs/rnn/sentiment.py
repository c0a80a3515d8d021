"""The sentiment task's torch part: review sentences as padded word ids, a network that reads
them and says one thing (positive or not) at the last real word, and its pictures.

Padding never reaches the state: a sentence's answer is read at its own last word (the ids after
it are padding, 0), so the forward cell has not seen them yet; the backward cell of a
bidirectional network reads each sentence reversed within its own length. No lengths leave the
device (packing would need them on the host at every step).
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, uploads
from playground.data.base import DataUnavailable
from playground.data.sentiment import (OOV, PAD, classes_of, encode, load_imdb, load_sentences,
                                       tokenize, vocabulary)
from playground.engine.device import full_precision
from playground.i18n import N_
from playground.labs._shared import finished_run
from playground.labs.rnn import ORDER_BLIND, Config
from playground.ui import charts
from playground.ui.text import plain

CLASSES = ("negative", "positive")
TEST_SHARE = 0.2


def _texts(cfg: Config):
    """((train texts, labels), (test texts, labels), class names) of the corpus: the sentences and
    a CSV split 80/20 by the seed; IMDB's own halves."""
    if cfg.corpus == "imdb":
        train, test = load_imdb(cfg.max_reviews, cfg.seed)
        return train, test, CLASSES
    if cfg.corpus == "file":
        fix = {"corpus": "sentences"}
        try:
            texts, names = uploads.labelled(uploads.load(cfg.reviews_file, fix=fix))
        except uploads.BadUpload as e:
            raise DataUnavailable(str(e), fix=fix) from None
        classes = classes_of(names)
        index = {c: i for i, c in enumerate(classes)}
        labels = np.asarray([index[n] for n in names], dtype=np.int64)
        if classes == ("0", "1"):                   # the sentences' own convention, 1 = positive
            classes = CLASSES
    else:
        (texts, labels), classes = load_sentences(cfg.source), CLASSES
    order = np.random.default_rng(cfg.seed).permutation(len(texts))
    cut = int(round(len(texts) * (1 - TEST_SHARE)))
    pick = lambda rows: (tuple(texts[i] for i in rows), labels[rows])        # noqa: E731
    return pick(order[:cut]), pick(order[cut:]), classes


def load_sentiment(cfg: Config) -> Data:
    """Texts as padded word ids; the vocabulary from the training texts alone."""
    (train, y_train), (test, y_test), classes = _texts(cfg)
    vocab = vocabulary(train, cfg.vocab_size, cfg.min_count)
    if len(vocab) <= 2:
        raise DataUnavailable(f"No word is used {cfg.min_count} times in the training texts: "
                              "lower the min count.", fix={"min_count": 1})
    return Data(train=(torch.from_numpy(encode(train, vocab, cfg.seq_len)),
                       torch.from_numpy(y_train)),
                test=(torch.from_numpy(encode(test, vocab, cfg.seq_len)), torch.from_numpy(y_test)),
                num_classes=len(classes), input_shape=(cfg.seq_len,), classes=classes,
                kind="sentences", name=f"{cfg.corpus}:{cfg.source}",
                extra={"vocab": vocab, "test_texts": test})


@lru_cache(maxsize=8)
def n_classes(cfg: Config) -> int:
    """The classes a run's network answers, known before its data is loaded: two, or as many as
    the labels of an uploaded file (one that cannot be read fails later, at loading, with its
    message)."""
    if cfg.corpus != "file":
        return 2
    try:
        return len(classes_of(uploads.labelled(uploads.load(cfg.reviews_file))[1]))
    except (uploads.BadUpload, DataUnavailable):
        return 2


def network(cfg: Config) -> "SentimentNet":
    """The run's network, its shape from the settings alone (a row for each of `vocab_size`
    words, though the texts may use fewer): the saved weights load into it anywhere."""
    return SentimentNet(cfg, cfg.vocab_size, n_classes(cfg))


def word_vectors(cfg: Config, vocab: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """A finished Word2Vec run's vectors for the words of `vocab` it knows: (vectors (V, D),
    known (V,) bool). DataUnavailable when the run cannot be used here."""
    from playground import registry

    run = cfg.embedding_run
    _, w2v, path = finished_run(run, ("word2vec",), "Word2Vec", fix={"embedding_run": ""})
    lab = registry.get("word2vec")
    if w2v.embedding_dim != cfg.embedding:
        raise DataUnavailable(f"Word2Vec run {run}'s vectors have {w2v.embedding_dim} numbers; "
                              f"the embedding here has {cfg.embedding}: use its size.",
                              fix={"embedding": w2v.embedding_dim})
    words = lab.vocabulary(w2v.corpus, w2v.corpus_tokens, w2v.min_count, w2v.text_file)[0]
    table = torch.load(path, map_location="cpu", weights_only=True)["words.weight"].float()
    where = {w: i for i, w in enumerate(words)}
    rows = torch.tensor([where.get(w, -1) for w in vocab])
    known = rows >= 0
    known[PAD] = False
    vectors = torch.zeros(len(vocab), table.shape[1])
    vectors[known] = table[rows[known]]
    return vectors, known


def lengths(x: torch.Tensor) -> torch.Tensor:
    """(B,) words per sentence: its ids before the padding (never 0: encode keeps one)."""
    return (x != PAD).sum(1).clamp_min(1)


def reverse_within(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Each row's first n ids reversed, its padding left where it is."""
    t = torch.arange(x.shape[1], device=x.device)
    index = torch.where(t < n[:, None], n[:, None] - 1 - t, t)
    return x.gather(1, index)


class SentimentNet(nn.Module):
    """Word ids -> embedding -> an RNN/LSTM/GRU read to each sentence's last word (both ways when
    bidirectional) -> one logit, P(positive) = sigmoid (a logit per class for more than two).
    `bag`: the mean of the word vectors."""

    def __init__(self, cfg: Config, vocab: int, classes: int = 2):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab, cfg.embedding, padding_idx=PAD)
        self.embed.weight.requires_grad_(not cfg.freeze_embedding)
        width = cfg.embedding
        if cfg.cell != ORDER_BLIND:
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cfg.cell]
            make = lambda: cls(cfg.embedding, cfg.hidden_size, num_layers=cfg.layers,  # noqa: E731
                               batch_first=True,
                               dropout=cfg.dropout if cfg.layers > 1 else 0.0)
            self.forward_cell = make()
            self.backward_cell = make() if cfg.bidirectional else None
            width = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.head = nn.Linear(width, 1 if classes == 2 else classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n = lengths(x)
        if self.cfg.cell == ORDER_BLIND:
            e = self.embed(x)                                           # (B, T, E), PAD -> 0
            return e.sum(1) / n[:, None].to(e.dtype)
        last = (n - 1)[:, None, None]
        reads = [self._read(self.forward_cell, x)]
        if self.backward_cell is not None:
            reads.append(self._read(self.backward_cell, reverse_within(x, n)))
        return torch.cat([r.gather(1, last.expand(-1, 1, r.shape[-1]))[:, 0] for r in reads], 1)

    def _read(self, cell: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with full_precision(x):                 # the cells in fp32, as the other tasks'
            return cell(self.embed(x).float())[0]                        # (B, T, H)

    def start_from(self, vectors: torch.Tensor, known: torch.Tensor) -> None:
        """Word2Vec's vectors for the words it knows; the others keep their random start."""
        with torch.no_grad():
            rows = self.embed.weight[:len(known)]
            rows[known.to(rows.device)] = vectors.to(rows)[known.to(rows.device)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(x))                   # (B, 1) or (B, classes) logits
        return out[:, 0] if out.shape[1] == 1 else out


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(B, classes): of two classes from the one logit, sigmoid; of more, softmax."""
    logits = logits.float()
    if logits.dim() == 1:
        p = torch.sigmoid(logits)
        return torch.stack([1 - p, p], 1)
    return torch.softmax(logits, 1)


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor):
    if logits.dim() == 1:
        loss = F.binary_cross_entropy_with_logits(logits.float(), y.float())
        return loss, ((logits > 0).long() == y).float().mean()
    return F.cross_entropy(logits.float(), y), (logits.argmax(1) == y).float().mean()


# ---------------------------------------------------------------------------------------------
# What the page shows

def sentiment_views(model: nn.Module, data: Data, covered: tuple[int, int] | None = None,
                    shown: int = 6) -> dict[str, dict]:
    x, y = data.test
    model.eval()
    try:
        with torch.no_grad():
            p = torch.cat([probabilities(model(x[i:i + 1024])) for i in range(0, len(x), 1024)])
    finally:
        model.train()
    k, names = p.shape[1], data.classes
    pred = p.argmax(1)
    cm = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k).cpu().numpy()
    p, pred, y = p.cpu().numpy(), pred.cpu().numpy(), y.cpu().numpy()
    texts = data.extra["test_texts"]
    sure = p.max(1)
    right = [i for i in np.argsort(-sure) if pred[i] == y[i]][:shown]
    wrong = [i for i in np.argsort(-sure) if pred[i] != y[i]][:shown]
    binary = tuple(names) == CLASSES

    def table(rows) -> str:
        head = "| " + " | ".join((N_("P(positive)"), N_("label"), N_("text")) if binary else
                                 (N_("answer"), "P", N_("label"), N_("text"))) + " |"
        lines = [head, "|---|---|---|" if binary else "|---|---|---|---|"]
        for i in rows:
            text = plain(texts[i].replace("|", "/"), 160)     # the data's own words, as text
            label = plain(names[y[i]], 40)
            lines.append(f"| {p[i, 1]:.2f} | {label} | {text} |" if binary else
                         f"| {plain(names[pred[i]], 40)} | {sure[i]:.2f} | {label} | {text} |")
        return "\n".join(lines) if rows else N_("None yet.")

    views = {}
    if covered is not None:
        cfg = model.cfg
        views["word_vectors"] = charts.artifact(
            N_("Word vectors from Word2Vec"), "markdown",
            f"Run {cfg.embedding_run} knew **{covered[0]:,} of the {covered[1]:,} words** "
            f"({covered[0] / max(1, covered[1]):.0%}) of this vocabulary; the others started "
            f"random. The vectors were {'kept as they were' if cfg.freeze_embedding else 'trained further'}.")
    return views | {
        "confusion": charts.artifact(N_("Confusion matrix (test texts)"), "plotly",
                                     charts.confusion(cm, [plain(c, 40) for c in names])),
        "surest": charts.artifact(N_("The test sentences it is surest about"), "markdown",
                                  table(right), N_("Right, and most confident.")),
        "wrongest": charts.artifact(N_("... and most wrong about"), "markdown", table(wrong),
                                    N_("Wrong, and most confident: sarcasm, negation, a word it "
                                       "has not seen.")),
    }


# ---------------------------------------------------------------------------------------------
# Ask the finished model

@lru_cache(maxsize=2)
def _finished(cfg: Config, model_path: str, stamp: float) -> tuple[Data, SentimentNet]:
    """The run's texts (for its vocabulary) and its network, kept for the next question."""
    from playground.engine import inference

    data = load_sentiment(cfg)
    return data, inference.load_weights(network(replace(cfg, freeze_embedding=False)),
                                        model_path)


def ask(cfg: Config, model_path: str, text: str) -> dict[str, dict]:
    """A typed text's answer, and each word's push: how much the answer's probability falls
    when that word alone is left out (occlusion)."""
    data, model = _finished(cfg, model_path, Path(model_path).stat().st_mtime)
    vocab = data.extra["vocab"]
    index = {w: i for i, w in enumerate(vocab)}
    words = tokenize(text)[:cfg.seq_len]
    if not words:
        return {"answer": charts.artifact(N_("The model's answer"), "markdown",
                                          "Type a sentence with some words in it.")}
    ids = [index.get(w, OOV) for w in words]
    # the text, then the text without each of its words in turn: one batch
    rows = [ids] + [ids[:i] + ids[i + 1:] for i in range(len(ids))]
    x = torch.zeros((len(rows), cfg.seq_len), dtype=torch.long)
    for r, row in enumerate(rows):
        x[r, :len(row) or 1] = torch.tensor(row or [OOV])
    with torch.no_grad():
        p = probabilities(model(x)).numpy()
    names = data.classes
    answer = int(p[0].argmax())
    focus = 1 if tuple(names) == CLASSES else answer       # the class the pushes are towards
    push = p[0, focus] - p[1:, focus]
    unknown = [w for w, i in zip(words, ids) if i == OOV]
    if tuple(names) == CLASSES:
        head = (f"**P(positive) = {p[0, 1]:.2f}**: the model reads it as "
                f"**{names[answer]}**.")
    else:
        head = f"**{plain(names[answer], 40)}** (P = {p[0, answer]:.2f})."
    if unknown:
        head += (f" Not in its vocabulary, read as 'unknown': "
                 f"{plain(', '.join(unknown[:12]), 200)}.")
    labels = [f"{w}" if words.count(w) == 1 else f"{w} ({i + 1})" for i, w in enumerate(words)]
    fig = {"data": [{"type": "bar", "x": labels, "y": np.round(push, 4).tolist(),
                     "marker": {"color": [charts.BLUE if v >= 0 else charts.ORANGE
                                          for v in push]},
                     "hovertemplate": "%{x}: %{y:+.2f}<extra></extra>"}],
           "layout": {"template": "plotly_white", "height": 300,
                      "margin": {"l": 50, "r": 10, "t": 10, "b": 60},
                      "xaxis": {"type": "category", "title": {"text": N_("word")}},
                      "yaxis": {"title": {"text": f"push towards {plain(names[focus], 30)}"},
                                "zeroline": True}}}
    return {"answer": charts.artifact(N_("The model's answer"), "markdown", head),
            "push": charts.artifact(
                N_("Each word's push"), "plotly", fig,
                N_("How much P({label}) falls when the word alone is left out (occlusion): blue "
                   "words push towards it, orange ones away. Order matters to an RNN: 'not' can "
                   "flip the word after it; to the bag of words it cannot."),
                label=plain(names[focus], 30))}
