"""Word2Vec's torch part: the word stream, the two tables of vectors, the pairs' losses, the
scores, and the looks into a finished run (the pictures are in views.py)."""
from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, DataUnavailable
from playground.data.text import GENSIM_PIN
from playground import i18n
from playground.i18n import N_, _
from playground.labs.word2vec import Config, _load, vocabulary
from playground.labs.word2vec.views import _map, _neighbours, _offsets, _similarities, _word_ids
from playground.ui import charts

NOISE_TABLE = 2 ** 20         # entries of the unigram table the noise words are drawn from


# ---------------------------------------------------------------------------------------------
# Data: one stream of word ids; an example is a position in it

def keep_probability(counts: np.ndarray, t: float) -> np.ndarray:
    """Chance that one occurrence of each word survives subsampling: (√(f/t) + 1)·t/f for a
    word of relative frequency f, at most 1 (t = 0: keep everything)."""
    if t <= 0:
        return np.ones(len(counts))
    f = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(f / t) + 1) * t / f)


def load_data(cfg: Config) -> Data:
    """train = (position, word id, sentence id) for each of the N in-vocabulary words of the
    text: a batch is a slice of a permutation of the positions, and train_step looks the
    neighbours up in the whole stream (kept on the device in the State). test = (analogy
    questions (Q, 4), word pairs (P, 2), their ratings (P,)) whose words are all known."""
    corpus = _load(cfg.corpus, cfg.corpus_tokens, cfg.text_file)
    words, counts = vocabulary(cfg.corpus, cfg.corpus_tokens, cfg.min_count, cfg.text_file)
    if len(words) < 2:
        raise DataUnavailable(f"Min count {cfg.min_count} leaves no vocabulary: lower it.")
    index = {w: i for i, w in enumerate(words)}
    ids = [[index[w] for w in s if w in index] for s in corpus.sentences]
    tokens = np.fromiter((i for s in ids for i in s), np.int64)
    sentence = np.repeat(np.arange(len(ids)), [len(s) for s in ids])
    counts = np.asarray(counts, np.float64)
    keep = keep_probability(counts, cfg.subsample)
    known = [(q, s) for q, s in zip(corpus.analogies, corpus.sections)
             if all(w in index for w in q)]
    pairs = [(a, b, r) for a, b, r in corpus.similarity if a in index and b in index]
    as_ids = lambda rows, n: torch.tensor([[index[w] for w in r[:n]] for r in rows],  # noqa: E731
                                          dtype=torch.int64).reshape(-1, n)
    return Data(
        train=(torch.arange(len(tokens)), torch.from_numpy(tokens), torch.from_numpy(sentence)),
        test=(as_ids([q for q, _ in known], 4), as_ids(pairs, 2),
              torch.tensor([r for *_, r in pairs], dtype=torch.float32)),
        num_classes=len(words), input_shape=_input_shape(cfg), classes=words, kind="text",
        name=cfg.corpus,
        extra={"counts": counts, "keep": keep, "sections": [s for _, s in known],
               "groups": corpus.groups, "probes": [w for w in corpus.probes if w in index],
               "shown_sections": corpus.shown_sections})


def _input_shape(cfg: Config) -> tuple[int, ...]:
    return (2 + cfg.negatives,) if cfg.loss == "negative" else (2,)


# ---------------------------------------------------------------------------------------------
# Model: two tables of vectors

class Word2Vec(nn.Module):
    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.words = nn.Embedding(vocab_size, dim)        # v_w: the vectors kept after training
        self.contexts = nn.Embedding(vocab_size, dim)     # u_w: a word seen as a neighbour
        # word2vec's start: small random word vectors, zero context vectors (every score 0)
        nn.init.uniform_(self.words.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.contexts.weight)

    def forward(self, x):                                  # (B, 1 + n) ids -> (B, n) scores
        v = self.words(x[:, 0])                            # (B, D)
        u = self.contexts(x[:, 1:])                        # (B, n, D)
        return (u * v[:, None]).sum(-1)                    # (B, n): u_c · v_w


@dataclass
class State:
    cfg: Config
    model: Word2Vec
    opt: torch.optim.Optimizer
    tokens: torch.Tensor          # (N,) the whole stream, on the device
    sentences: torch.Tensor       # (N,) the sentence of each position
    keep: torch.Tensor            # (V,) each word's chance to survive subsampling
    table: torch.Tensor           # (NOISE_TABLE,) word ids, each as often as its count ^ 0.75
    offsets: torch.Tensor         # (2W,) -W..-1, 1..W
    lrs: list[float]              # the learning rate of every step...
    lr_curve: torch.Tensor        # ...and on the device, for the curve (nothing read back)
    steps_per_epoch: int
    survives: torch.Tensor | None = None   # (N,) this epoch's subsample: which positions stay
    rank: torch.Tensor | None = None       # (N,) a position's rank among the survivors
    kept: torch.Tensor | None = None       # (N,) the position of each rank, -1 past the end
    step: int = 0


def build(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    model = Word2Vec(data.num_classes, cfg.embedding_dim).to(device)
    keep = torch.as_tensor(data.extra["keep"], dtype=torch.float32, device=device)
    # word2vec's unigram table: drawing a uniform entry draws a word with probability
    # count^0.75 / sum(count^0.75) (rarer words more often than their share of the text)
    share = torch.as_tensor(data.extra["counts"], dtype=torch.float64) ** 0.75
    entries = (share / share.sum() * NOISE_TABLE).round().long().clamp(min=1)
    table = torch.repeat_interleave(torch.arange(len(entries)), entries).to(device)
    w = cfg.window
    offsets = torch.cat([torch.arange(-w, 0), torch.arange(1, w + 1)]).to(device)
    n = data.n_train
    steps_per_epoch = math.ceil(n / min(cfg.batch_size, n))                 # as the loop counts
    total = cfg.epochs * steps_per_epoch
    lrs = cfg.lr * (1 - torch.arange(total) / total).clamp(min=1e-4)     # word2vec's linear decay
    return State(cfg, model, torch.optim.SGD(model.parameters(), lr=cfg.lr), data.train[1],
                 data.train[2], keep, table, offsets, lrs.tolist(), lrs.to(device),
                 steps_per_epoch)


def blueprint(cfg: Config) -> tuple[nn.Module, torch.Tensor]:
    try:
        vocab = len(vocabulary(cfg.corpus, cfg.corpus_tokens, cfg.min_count, cfg.text_file)[0])
    except DataUnavailable:
        vocab = 10_000            # a corpus that cannot be read here: a size for the estimate
    # an example batch of word ids (the summary and ONNX feed it; floats would not index)
    return Word2Vec(vocab, cfg.embedding_dim), torch.zeros((2,) + _input_shape(cfg),
                                                           dtype=torch.long)


# ---------------------------------------------------------------------------------------------
# Training

def subsample(s: State) -> None:
    """This epoch's subsample of the stream, on the device without reading anything back:
    which positions survive, and the survivors renumbered 0, 1, 2... (s.kept[r] is the
    position of the r-th survivor), so that a window counts survivors only."""
    n = s.tokens.shape[0]
    s.survives = torch.rand(n, device=s.tokens.device) < s.keep[s.tokens]         # (N,)
    s.rank = s.survives.cumsum(0) - 1
    slot = torch.where(s.survives, s.rank, n)                      # the dropped go to slot N
    kept = torch.full((n + 1,), -1, dtype=torch.long, device=s.tokens.device)
    s.kept = kept.scatter_(0, slot, torch.arange(n, device=s.tokens.device))[:n]


def windows(s: State, positions: torch.Tensor,
            sentences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The neighbours of each centre position (B, 2W) and a mask of the real pairs: the centre
    survived subsampling, the neighbour is a survivor within the centre's reach, in the same
    sentence. As in word2vec, each centre draws its reach b in 1..window (near words count
    more), and dropped words do not count towards it (the window reaches further)."""
    n = s.tokens.shape[0]
    where = s.rank[positions][:, None] + s.offsets                          # (B, 2W) ranks
    near = s.kept[where.clamp(0, n - 1)]                                    # (B, 2W) positions
    reach = torch.randint(1, s.cfg.window + 1, (len(positions), 1), device=positions.device)
    mask = (s.survives[positions][:, None] & (where >= 0) & (where < n) & (near >= 0)
            & (s.sentences[near.clamp(min=0)] == sentences[:, None]) & (s.offsets.abs() <= reach))
    return s.tokens[near.clamp(min=0)], mask


def noise_words(s: State, shape: tuple[int, ...]) -> torch.Tensor:
    """Word ids drawn from the unigram table: P(w) = count(w)^0.75 / sum(count^0.75)."""
    return s.table[torch.randint(len(s.table), shape, device=s.table.device)]


def pair_losses(s: State, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(target | h) for every target of every row: h (B, D), targets (B, T) -> (B, T)."""
    u = s.model.contexts
    if s.cfg.loss == "softmax":
        log_p = F.log_softmax(h @ u.weight.T, dim=1)                     # (B, V)
        return -log_p.gather(1, targets)                                   # (B, T)
    noise = noise_words(s, (*targets.shape, s.cfg.negatives))                # (B, T, k)
    # NOTE: vecdot, not matmul: B x T x k dot products of length D are too small for a batched
    # matmul (default sizes on one CPU thread, forward and backward: 1.7 ms against 2.8 ms)
    positive = torch.linalg.vecdot(u(targets), h[:, None])                   # (B, T)
    negative = torch.linalg.vecdot(u(noise), h[:, None, None])               # (B, T, k)
    # a noise word that happens to be the true target is skipped, as word2vec does
    real = (noise != targets[..., None]).float()
    return -F.logsigmoid(positive) - (F.logsigmoid(-negative) * real).sum(-1)


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    if s.step % s.steps_per_epoch == 0:
        subsample(s)                       # each epoch sees another subsample, as in gensim
    positions, centre, sentences = batch                                     # (B,) each
    context, mask = windows(s, positions, sentences)                         # (B, 2W)
    if s.cfg.model == "skipgram":
        h = s.model.words(centre)                                            # (B, D)
        losses = pair_losses(s, h, context)                                  # (B, 2W)
        weight = mask.float()
    else:
        near = (s.model.words(context) * mask[..., None]).sum(1)             # (B, D)
        n = mask.sum(1, keepdim=True)                                        # (B, 1)
        # NOTE: h is the mean of the neighbours' vectors, but word2vec hands each of them the
        # whole gradient of h, not 1/n of it; so does this (the value of a mean, the gradient
        # of a sum), and lr means what it means in gensim.
        h = near + (near / n.clamp(min=1) - near).detach()                   # (B, D)
        losses = pair_losses(s, h, centre[:, None])                          # (B, 1)
        weight = (n > 0).float()                                             # no neighbour: skip
    at = min(s.step, len(s.lrs) - 1)
    for group in s.opt.param_groups:
        group["lr"] = s.lrs[at]
    s.step += 1
    total = (losses * weight).sum()
    s.opt.zero_grad(set_to_none=True)
    total.backward()
    s.opt.step()
    return {"train/loss": total.detach() / weight.sum().clamp(min=1), "train/lr": s.lr_curve[at]}


def unit_vectors(model: Word2Vec) -> torch.Tensor:
    return F.normalize(model.words.weight.detach().float(), dim=1)          # (V, D)


def answers(vectors: torch.Tensor, questions: torch.Tensor, top: int = 1) -> torch.Tensor:
    """3CosAdd: for a : b :: c : ?, the words nearest to b - a + c, excluding a, b and c."""
    out = []
    for q in questions.split(2048):
        a, b, c = q[:, 0], q[:, 1], q[:, 2]
        sims = (vectors[b] - vectors[a] + vectors[c]) @ vectors.T               # (q, V)
        sims.scatter_(1, q[:, :3], -math.inf)
        out.append(sims.topk(top, dim=1).indices)                               # (q, top)
    return torch.cat(out) if out else questions.new_zeros((0, top))


def spearman(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Rank correlation; tied values share their mean rank (human ratings have many ties)."""
    def ranks(v):
        order = torch.empty_like(v)
        order[v.argsort()] = torch.arange(len(v), dtype=v.dtype, device=v.device)
        _unused, tie = torch.unique(v, return_inverse=True)
        mean = torch.zeros(int(tie.max()) + 1, dtype=v.dtype, device=v.device)
        mean.index_add_(0, tie, order)
        return (mean / torch.bincount(tie).to(v.dtype))[tie]
    rx, ry = ranks(x.float()), ranks(y.float())
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return (rx * ry).sum() / (rx.norm() * ry.norm()).clamp(min=1e-12)


def scores(model: Word2Vec, data: Data) -> dict[str, float]:
    """Analogy accuracy (3CosAdd) and the rank correlation of cosines with the ratings."""
    vectors = unit_vectors(model)
    questions, pairs, ratings = data.test
    out = {}
    if len(questions):
        out["val/analogy"] = (answers(vectors, questions)[:, 0] == questions[:, 3]).float().mean()
        out["val/analogy_answerable"] = vectors.new_tensor(float(len(questions)))
    if len(pairs) >= 3:
        cosine = (vectors[pairs[:, 0]] * vectors[pairs[:, 1]]).sum(1)
        out["val/wordsim"] = spearman(cosine, ratings)
    values = torch.stack(list(out.values())).tolist() if out else []        # one sync
    return dict(zip(out, values))


def evaluate(s: State, data: Data) -> dict[str, float]:
    # NOTE: no val/loss: word2vec has no held-out text to predict; what the vectors are for is
    # measured directly (analogies, similarity ratings)
    return scores(s.model, data)


# ---------------------------------------------------------------------------------------------
# What the page shows: the analogies here, the map and the other pictures in views.py

def _analogies(vectors: torch.Tensor, data: Data, per_section: int = 2) -> dict | None:
    questions = data.test[0]
    if not len(questions):
        return None
    top = answers(vectors, questions, 3).tolist()                              # (Q, 3)
    truth = questions[:, 3].tolist()
    sections = data.extra["sections"]
    by_section: dict[str, list[int]] = {}
    for i, section in enumerate(sections):
        by_section.setdefault(section, []).append(i)
    words = data.classes
    # words of a table made here: marked, the page says them in its language
    kinds = ", ".join(
        f"{name} **{sum(top[i][0] == truth[i] for i in rows) / len(rows):.0%}** ({len(rows)})"
        for name, rows in by_section.items())
    lines = [N_("Accuracy by kind: {kinds}").format(kinds=kinds), "",
             "| " + " | ".join((N_("question"), N_("answer"), N_("the model's top 3"))) + " |",
             "|---|---|---|"]
    for rows in list(by_section.values())[:6]:
        for i in rows[::max(1, len(rows) // per_section)][:per_section]:
            a, b, c, _unused = questions[i].tolist()
            guess = ", ".join(("✅ " if j == truth[i] else "") + words[j] for j in top[i])
            lines.append(f"| {words[a]} : {words[b]} :: {words[c]} : ? | {words[truth[i]]} | "
                         f"{guess} |")
    return charts.artifact(N_("Analogies: b - a + c"), "markdown", "\n".join(lines),
                           N_("The word nearest to v(b) - v(a) + v(c), a, b and c excluded; a "
                              "question counts when its four words are in the vocabulary."))


def artifacts(s: State, data: Data) -> dict[str, dict]:
    vectors = unit_vectors(s.model)
    probes = _word_ids(data, data.extra["probes"])
    explored = min(s.cfg.word_rank, len(data.classes) - 1)
    out = {"map": _map(vectors, data), "offsets": _offsets(vectors, data),
           "neighbours": _neighbours(vectors, data, list(dict.fromkeys([*probes, explored]))),
           "analogies": _analogies(vectors, data), "similarity": _similarities(vectors, data)}
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# Before Train: the corpus; after: any word of a finished run

@lru_cache(maxsize=16)
def _corpus_facts(corpus: str, corpus_tokens: int, min_count: int, subsample: float,
                  text_file: str = "", lang: str = "en") -> str:
    # an overview is asked by a page: its words in the page's language (`lang`, in the key)
    cfg = Config(corpus=corpus, corpus_tokens=corpus_tokens, min_count=min_count,
                 subsample=subsample, text_file=text_file)
    text = _load(corpus, corpus_tokens, text_file)
    data = load_data(cfg)
    words, counts, keep = data.classes, data.extra["counts"], data.extra["keep"]
    total = sum(len(x) for x in text.sentences)
    sections = Counter(data.extra["sections"])
    survivors = _(", ").join(
        _("'{word}' ({share:.1%} of the text) survives {kept:.0%} of the time", word=words[i],
          share=counts[i] / counts.sum(), kept=keep[i]) for i in range(min(3, len(words))))
    kinds = (" (" + ", ".join(f"{k} {v}" for k, v in sections.most_common(6)) + ")"
             if sections else "")
    lines = [f"**{corpus}**: {_(text.note)}.", "",
             "- " + _("{total:,} words in {sentences:,} sentences; **{vocabulary:,} words** seen "
                      "at least {min_count} times make the vocabulary; they cover {covered:,} "
                      "words of the text.", total=total, sentences=len(text.sentences),
                      vocabulary=len(words), min_count=min_count,
                      covered=data.train[1].shape[0]),
             "- " + _("Subsampling keeps about **{kept:,.0f} words per epoch**: {survivors}.",
                      kept=keep[data.train[1].numpy()].sum(), survivors=survivors)
             if subsample > 0 else "- " + _("No subsampling: every word is kept."),
             "- " + _("Analogy questions with all four words known: **{known:,} of {total:,}**"
                      "{kinds}.", known=len(data.extra["sections"]), total=len(text.analogies),
                      kinds=kinds),
             "- " + _("Rated word pairs with both words known: {known:,} of {total:,}.",
                      known=len(data.test[1]), total=len(text.similarity)),
             "", _("Its first sentences:"), ""]
    lines += [f"> {' '.join(sentence[:40])}" + (" ..." if len(sentence) > 40 else "") + "\n>"
              for sentence in text.sentences[:3]]
    return "\n".join(lines)


def overview(cfg: Config) -> dict[str, dict]:
    return {"corpus": charts.artifact(N_("The corpus"), "markdown", _corpus_facts(
        cfg.corpus, cfg.corpus_tokens, cfg.min_count, cfg.subsample, cfg.text_file,
        i18n.current()))}


@lru_cache(maxsize=4)
def _finished(cfg: Config, model_path: str) -> tuple[Data, Word2Vec]:
    from playground.engine import inference

    model, _unused = blueprint(cfg)
    return load_data(cfg), inference.load_weights(model, model_path)


ANALOGY = re.compile(r"^\s*([\w']+)\s*-\s*([\w']+)\s*\+\s*([\w']+)\s*$")


def neighbours(cfg: Config, model_path: str, typed: str) -> dict[str, dict]:
    """What a visitor types into a finished run, answered from its saved vectors: a word (its
    nearest words and its place on the map), `a - b + c` (the words nearest to that vector:
    king - man + woman), or words separated by commas (their cosine similarities)."""
    data, model = _finished(replace(cfg, word_map="pca", word_rank=0), model_path)
    vectors = unit_vectors(model)
    typed = typed.strip().lower()
    words = ANALOGY.match(typed).groups() if ANALOGY.match(typed) else (
        [w.strip() for w in typed.split(",") if w.strip()] if "," in typed else [typed])
    unknown = [w for w in words if w not in data.classes]
    if unknown:
        return {"neighbours": charts.artifact(
            N_("'{word}' is not in the vocabulary"), "markdown",
            f"This run knows {len(data.classes):,} words, those seen at least {cfg.min_count} "
            f"times in its corpus; the most frequent are {', '.join(data.classes[:12])}.",
            word=unknown[0][:40])}
    ids = [data.classes.index(w) for w in words]
    if ANALOGY.match(typed):
        a, b, c = ids                                     # a - b + c is c : ? :: b : a
        top = answers(vectors, torch.tensor([[b, a, c]], device=vectors.device), 5)[0].tolist()
        target = F.normalize(vectors[a] - vectors[b] + vectors[c], dim=0)
        shown = ", ".join(f"**{data.classes[j]}** ({float(vectors[j] @ target):.2f})"
                          for j in top)
        return {"analogy": charts.artifact(
            f"{words[0]} - {words[1]} + {words[2]}", "markdown",
            f"Nearest to v({words[0]}) - v({words[1]}) + v({words[2]}): {shown}",
            N_("Cosine to the sum in brackets; the three words themselves are left out "
               "(3CosAdd)."))}
    if len(ids) > 1:
        return {"similarity": _similarities(vectors, data, ids[:30])}
    i = ids[0]
    return {"neighbours": _neighbours(vectors, data, [i], 10,
                                      N_("Nearest neighbours of '{word}'"), word=words[0]),
            "map": _map(vectors, data, extra_word=i, method=cfg.word_map)}


def explore(cfg: Config, model_path: str, rank: int) -> dict[str, dict]:
    data, _unused = _finished(replace(cfg, word_map="pca", word_rank=0), model_path)
    return neighbours(cfg, model_path, data.classes[min(rank, len(data.classes) - 1)])

explore_text = neighbours             # EXPLORE's typed look: a word, a - b + c, or a list


# ---------------------------------------------------------------------------------------------
# The reference: gensim's Word2Vec on the same corpus with the same settings

def reference(cfg: Config, workers: int = 1) -> dict[str, float]:
    """gensim's scores and training seconds, measured with this page's own tests. Full softmax
    has no gensim twin: it is compared with gensim's hierarchical softmax."""
    try:
        from gensim.models import Word2Vec as Gensim
    except ImportError:
        raise DataUnavailable(f"The reference is gensim's Word2Vec: `pip install {GENSIM_PIN}`.") \
            from None
    sentences = [list(x) for x in _load(cfg.corpus, cfg.corpus_tokens, cfg.text_file).sentences]
    started = time.perf_counter()
    theirs = Gensim(sentences, vector_size=cfg.embedding_dim, window=cfg.window,
                    min_count=cfg.min_count, sample=cfg.subsample, sg=int(cfg.model == "skipgram"),
                    hs=int(cfg.loss == "softmax"),
                    negative=cfg.negatives if cfg.loss == "negative" else 0, alpha=cfg.lr,
                    min_alpha=cfg.lr * 1e-4, epochs=cfg.epochs, seed=cfg.seed, workers=workers)
    seconds = time.perf_counter() - started
    data = load_data(cfg)
    model = Word2Vec(data.num_classes, cfg.embedding_dim)
    with torch.no_grad():
        model.words.weight.copy_(torch.from_numpy(theirs.wv[list(data.classes)]))
    return {**scores(model, data), "seconds": seconds}
