"""The sentiment task's torch part: review sentences as padded word ids, a network that reads
them and says one thing (positive or not) at the last real word, and its pictures.

Padding never reaches the state: a sentence's answer is read at its own last word (the ids after
it are padding, 0), so the forward cell has not seen them yet; the backward cell of a
bidirectional network reads each sentence reversed within its own length. No lengths leave the
device (packing would need them on the host at every step).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data
from playground.data.sentiment import PAD, encode, load_sentences, vocabulary
from playground.engine.device import full_precision
from playground.labs.rnn import ORDER_BLIND, Config
from playground.ui import charts
from playground.ui.text import plain

CLASSES = ("negative", "positive")
TEST_SHARE = 0.2


def load_sentiment(cfg: Config) -> Data:
    """The sentences shuffled by the seed, 80% to train; the vocabulary from those alone."""
    texts, labels = load_sentences(cfg.source)
    order = np.random.default_rng(cfg.seed).permutation(len(texts))
    cut = int(round(len(texts) * (1 - TEST_SHARE)))
    train, test = order[:cut], order[cut:]
    vocab = vocabulary([texts[i] for i in train], cfg.vocab_size)
    x = torch.from_numpy(encode(texts, vocab, cfg.seq_len))
    y = torch.from_numpy(labels)
    return Data(train=(x[train], y[train]), test=(x[test], y[test]), num_classes=2,
                input_shape=(cfg.seq_len,), classes=CLASSES, kind="sentences",
                name=f"sentences:{cfg.source}",
                extra={"vocab": vocab, "test_texts": tuple(texts[i] for i in test)})


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
    bidirectional) -> one logit, P(positive) = sigmoid. `bag`: the mean of the word vectors."""

    def __init__(self, cfg: Config, vocab: int):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab, cfg.embedding, padding_idx=PAD)
        width = cfg.embedding
        if cfg.cell != ORDER_BLIND:
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cfg.cell]
            make = lambda: cls(cfg.embedding, cfg.hidden_size, num_layers=cfg.layers,  # noqa: E731
                               batch_first=True,
                               dropout=cfg.dropout if cfg.layers > 1 else 0.0)
            self.forward_cell = make()
            self.backward_cell = make() if cfg.bidirectional else None
            width = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.head = nn.Linear(width, 1)

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))[:, 0]                        # (B,) logits


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor):
    loss = F.binary_cross_entropy_with_logits(logits.float(), y.float())
    return loss, ((logits > 0).long() == y).float().mean()


# ---------------------------------------------------------------------------------------------
# What the page shows

def sentiment_views(model: nn.Module, data: Data, shown: int = 6) -> dict[str, dict]:
    x, y = data.test
    model.eval()
    try:
        with torch.no_grad():
            p = torch.cat([torch.sigmoid(model(x[i:i + 1024]).float())
                           for i in range(0, len(x), 1024)])
    finally:
        model.train()
    pred = (p > 0.5).long()
    cm = torch.bincount(y * 2 + pred, minlength=4).reshape(2, 2).cpu().numpy()
    p, y = p.cpu().numpy(), y.cpu().numpy()
    texts = data.extra["test_texts"]
    sure = np.abs(p - 0.5)
    right = [i for i in np.argsort(-sure) if (p[i] > 0.5) == (y[i] == 1)][:shown]
    wrong = [i for i in np.argsort(-sure) if (p[i] > 0.5) != (y[i] == 1)][:shown]

    def table(rows) -> str:
        lines = ["| P(positive) | label | sentence |", "|---|---|---|"]
        for i in rows:
            text = plain(texts[i].replace("|", "/"), 160)     # the data's own words, as text
            lines.append(f"| {p[i]:.2f} | {CLASSES[y[i]]} | {text} |")
        return "\n".join(lines) if rows else "None yet."

    return {
        "confusion": charts.artifact("Confusion matrix (test sentences)", "plotly",
                                     charts.confusion(cm, list(CLASSES))),
        "surest": charts.artifact("The test sentences it is surest about", "markdown",
                                  table(right), "Right, and most confident."),
        "wrongest": charts.artifact("... and most wrong about", "markdown", table(wrong),
                                    "Wrong, and most confident: sarcasm, negation, a word it "
                                    "has not seen."),
    }
