"""The Word2Vec lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/word2vec.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from playground.data import DataUnavailable, uploads
from playground.data.text import CORPORA, GENSIM_PIN, load_corpus, text_corpus
from playground.engine.device import DEVICE_CHOICES
from playground.i18n import _
from playground.labs import torch_part
from playground.params import param

TITLE, ICON, SECTION = "Word2Vec", "🔤", "Sequences & text"
TRY_THIS = ("Train the default: in about ten seconds nine analogies in ten come out right "
            "(husband : wife :: king : queen), and in 'Relations as directions' the capital -> "
            "country arrows turn parallel. Then set subsample to 0 and negatives to 1: 'the', "
            "'in' and 'of' fill the windows and the analogies drop to about 20%.")

STAGE = ("subsample", "negatives", "window")
MAX_SOFTMAX_VOCAB = 2000      # full softmax scores every word for every pair


@dataclass(frozen=True)
class Config:
    corpus: str = param("toy", choices=CORPORA, group="Data",
                        help="toy: generated sentences about countries, capitals, languages and "
                             "male/female words, where the analogies are learnable in seconds. "
                             f"wiki: the Wikipedia sample inside gensim (`pip install "
                             f"{GENSIM_PIN}`): 500 articles, stemmed, without stop words. upload: "
                             "a text of your own (below).")
    text_file: str = param("", upload=("txt",), group="Data", label="Your own text (.txt)",
                           help="corpus = upload: a UTF-8 text of your own, split into "
                                "lower-case words and sentences.")
    corpus_tokens: int = param(60_000, lo=1_000, hi=1_000_000, group="Data",
                               help="Length of the corpus in words: the first N of wiki (it has "
                                    "about 330,000), or N generated for toy.")
    min_count: int = param(5, lo=1, hi=1000, group="Data",
                           help="Words seen fewer times are dropped from the vocabulary and the "
                                "stream.")
    subsample: float = param(1e-3, lo=0.0, hi=1.0, log=True, group="Data",
                             help="t of the subsampling of frequent words: a word with relative "
                                  "frequency f is kept with probability (√(f/t) + 1)·t/f. "
                                  "0 = keep every word.")
    model: str = param("skipgram", choices=("skipgram", "cbow"), group="Model",
                       help="skipgram: the centre word predicts each neighbour. cbow: the mean "
                            "of the neighbours' vectors predicts the centre word.")
    loss: str = param("negative", choices=("negative", "softmax"), group="Model",
                      help="negative: k noise words per pair, each a yes/no question. softmax: "
                           f"a probability over the whole vocabulary (up to {MAX_SOFTMAX_VOCAB:,} "
                           "words here).")
    negatives: int = param(5, lo=1, hi=50, group="Model",
                           when={"loss": ("negative",)},
                           help="k: noise words per pair, drawn from unigram counts ^ 0.75.")
    window: int = param(5, lo=1, hi=20, group="Model",
                        help="Neighbours on each side of the centre word (each centre draws a "
                             "reach of 1..window).")
    embedding_dim: int = param(50, lo=2, hi=1000, group="Model", label="Embedding size",
                               help="Length of every word vector.")
    lr: float = param(0.025, lo=1e-5, hi=1.0, log=True, group="Training", label="Learning rate",
                      help="SGD step of each pair (word2vec's alpha), decayed linearly to "
                           "lr/10,000 by the end of the run.")
    batch_size: int = param(128, lo=1, hi=16384, group="Training",
                            help="Positions of the text per step; a word that subsampling drops "
                                 "this epoch trains nothing, a kept one brings up to 2 x window "
                                 "pairs. Their updates add up: on a small vocabulary, large "
                                 "batches need a smaller lr (toy, no subsampling: 256 diverged).")
    epochs: int = param(10, lo=1, hi=200, group="Training",
                        help="Passes over the corpus (every centre position once per epoch).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed: same subsampling, same initial vectors, same batches.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")
    word_map: str = param("pca", choices=("pca", "tsne"), group="Show", label="Word map",
                          help="How the map flattens the vectors to 2-D: PCA (the live map) or "
                               "t-SNE (scikit-learn; slower, so only when you look at a "
                               "finished run's words below).")
    word_rank: int = param(0, lo=0, hi=99_999, group="Show", label="Word to explore",
                           help="After training, the nearest neighbours of the word with this "
                                "frequency rank (0 = the most frequent) from the saved vectors.")


PRESETS = {
    "Toy analogies, skip-gram (default)": {},
    "Toy, CBOW": {"model": "cbow", "lr": 0.05},
    "Toy, full softmax": {"loss": "softmax"},
    "Toy, no subsampling, 1 negative": {"subsample": 0.0, "negatives": 1},
    "Toy, window 1": {"window": 1},
    "Wikipedia sample (100k words)": {"corpus": "wiki", "corpus_tokens": 100_000,
                                      "embedding_dim": 100, "epochs": 5},
    "Wikipedia sample, all of it": {"corpus": "wiki", "corpus_tokens": 400_000,
                                    "embedding_dim": 100, "epochs": 5, "batch_size": 512},
}


def _load(corpus: str, corpus_tokens: int, text_file: str = ""):
    """The corpus a run trains on: a built-in one, or the visitor's uploaded text."""
    if corpus == "upload" and text_file:
        return _own_corpus(text_file, corpus_tokens)
    return load_corpus(corpus, corpus_tokens)


def _own_corpus(text_file: str, corpus_tokens: int):
    return text_corpus(uploads.load(text_file), corpus_tokens)


def export_stubs(cfg: Config) -> dict[str, str]:
    """Scripts train on the built-in corpora only (a run on an uploaded text is not exportable)."""
    return {"_own_corpus": "def _own_corpus(text_file, corpus_tokens):\n    raise SystemExit("
                           "'this script trains on the built-in corpora only')"}


def exportable(cfg: Config) -> str:
    return _("this run trained on an uploaded text, which a script cannot carry: download its "
             "weights or the whole run instead") if cfg.corpus == "upload" else ""


@lru_cache(maxsize=16)
def vocabulary(corpus: str, corpus_tokens: int, min_count: int,
               text_file: str = "") -> tuple[tuple[str, ...], tuple]:
    """The words seen at least `min_count` times, most frequent first, and their counts."""
    counts = Counter(w for s in _load(corpus, corpus_tokens, text_file).sentences for w in s)
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return tuple(words), tuple(counts[w] for w in words)


def check(cfg: Config) -> list[str]:
    if cfg.corpus == "upload" and not cfg.text_file:
        return [_("The upload corpus is a text of your own: upload a .txt file first (Data, "
                  "'Your own text'), or pick the toy or wiki corpus.")]
    try:
        words, _counts = vocabulary(cfg.corpus, cfg.corpus_tokens, cfg.min_count, cfg.text_file)
    except DataUnavailable:
        return []                    # load_data says what to install, with the toy corpus as fix
    if len(words) < 10:
        return [_("Min count {min_count} keeps only {kept} words of the {tokens:,}-word {corpus} "
                  "corpus: lower it, or use more words.", min_count=cfg.min_count,
                  kept=len(words), tokens=cfg.corpus_tokens, corpus=cfg.corpus)]
    if cfg.loss == "softmax" and len(words) > MAX_SOFTMAX_VOCAB:
        return [_("Full softmax scores all {vocab:,} words of this vocabulary for every pair; "
                  "this page allows it up to {most:,} words. Use loss = negative (negative "
                  "sampling), raise min count, or use fewer corpus tokens.", vocab=len(words),
                  most=MAX_SOFTMAX_VOCAB)]
    return []


EXPLORE = {"title": "Nearest neighbours of any word", "field": "word_rank",
           "help": "A word by its frequency rank (0 = the most frequent): its nearest words "
                   "from the finished run's vectors (nothing is retrained).",
           "text_label": "Type a word, a - b + c, or words, with commas",
           "text_help": "A word: its nearest words in the finished run's vectors and where it "
                        "sits on the map. king - man + woman: the words nearest to that sum. "
                        "cat, dog, paris: their cosine similarities. Nothing is retrained. Or "
                        "pick a word by frequency rank below.",
           "options": ("word_map",)}

# The page charts these test metrics beside the loss, and lists runs by the first.
CURVES = (("analogy", "Analogy accuracy", False), ("wordsim", "Word similarity (Spearman)", False))
HEADLINE = ("val/analogy", "analogy acc")

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
