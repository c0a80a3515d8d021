"""The RNN / LSTM / GRU lab's face: its settings, presets and the words its page shows; its torch
part is model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/rnn.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from playground.data.sentiment import CORPORA, SOURCES
from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.labs._common import OPTIMIZERS, text_exportable, text_stubs
from playground.params import param

TITLE, ICON, SECTION = "RNN / LSTM / GRU", "🔁", "Sequences & text"
TRY_THIS = ("Press 'RNN vs LSTM vs GRU' on the adding problem (length 50): the plain RNN stays "
            "at the 0.167 of guessing the mean while the LSTM and the GRU fall far below it. Then "
            "look at |dL/dx_t|: the RNN's gradient at the early steps is a millionth of the "
            "LSTM's.")

STAGE = ("task", "seq_len", "cell")
TASKS = ("adding", "copy", "series", "chars", "sentiment")
CELLS = ("rnn", "lstm", "gru")
ORDER_BLIND = "bag"              # sentiment's baseline: the mean of the word vectors, no order
REGRESSION = ("adding", "series")
MEAN_GUESS_MSE = 1 / 6           # adding: always answering 1.0


@dataclass(frozen=True)
class Config:
    task: str = param("adding", choices=TASKS, group="Task",
                      help="adding: sum the two marked numbers of a long sequence. copy: recall "
                           "the first symbols after a delay. series: forecast the next value of "
                           "a time series. chars: predict the next character of English text. "
                           "sentiment: read a real review sentence, say whether it is positive.")
    seq_len: int = param(50, lo=5, hi=200, group="Task", label="Sequence length",
                         help="Steps per sequence (adding, series, chars); for copy, the delay "
                              "between the symbols and their recall; for sentiment, the words "
                              "read of each sentence (longer ones are cut).")
    corpus: str = param("sentences", choices=CORPORA, group="Task", label="Texts",
                        when={"task": ("sentiment",)},
                        help="sentiment: sentences = 3,000 short labelled reviews (Kotzias et "
                             "al., 2015). imdb = Maas et al.'s 50,000 IMDB film reviews (2011; an "
                             "84 MB download on first use). file = your CSV of text,label rows.")
    source: str = param("all", choices=SOURCES, group="Task", label="Reviews from",
                        when={"task": ("sentiment",), "corpus": ("sentences",)},
                        help="sentiment: Kotzias et al.'s labelled sentences (KDD 2015, CC BY "
                             "4.0), 1,000 each from IMDB (films), Amazon (phones), Yelp "
                             "(restaurants), half positive; downloaded from UCI on first use.")
    max_reviews: int = param(10_000, lo=100, hi=25_000, group="Task", label="Reviews",
                             when={"task": ("sentiment",), "corpus": ("imdb",)},
                             help="imdb: reviews read from each of the training and the test "
                                  "half (25,000 each), half of them positive.")
    reviews_file: str = param("", upload=("csv",), holds="labelled", group="Task",
                              label="Your texts (.csv)",
                              when={"task": ("sentiment",), "corpus": ("file",)},
                              help="file: a UTF-8 CSV with one text and its label per row "
                                   "(text,label; a header allowed; quote texts that hold "
                                   "commas). Two or more labels, a few dozen rows at least; 20% "
                                   "are held out to test.")
    vocab_size: int = param(3000, lo=10, hi=50_000, group="Task", label="Vocabulary",
                            when={"task": ("sentiment",)},
                            help="sentiment: the most frequent training words kept; the rest "
                                 "are one 'unknown' word.")
    min_count: int = param(1, lo=1, hi=100, group="Task", label="Min count",
                           when={"task": ("sentiment",)},
                           help="sentiment: a word enters the vocabulary only when the "
                                "training texts use it this many times (rarer ones are "
                                "'unknown').")
    n_copy: int = param(3, lo=1, hi=20, group="Task", label="Symbols to copy",
                        when={"task": ("copy",)},
                        help="copy: how many symbols to remember.")
    n_symbols: int = param(8, lo=2, hi=64, group="Task", label="Alphabet",
                           when={"task": ("copy",)},
                           help="copy: how many different symbols.")
    series: str = param("sines", choices=("sines", "mackey_glass"), group="Task",
                        when={"task": ("series",)},
                        help="series: a noisy sum of three sines, or the chaotic Mackey-Glass "
                             "delay equation (tau = 17).")
    noise: float = param(0.05, lo=0.0, hi=1.0, group="Task",
                         when={"task": ("series",)},
                         help="series: standard deviation of the noise added to every value.")
    n_samples: int = param(8000, lo=200, hi=50_000, group="Task", label="Sequences",
                           when={"task": ("adding", "copy", "series", "chars")},
                           help="Sequences generated (80% train, 20% test); chars: the first "
                                "n x 40 characters of the text.")
    cell: str = param("lstm", choices=CELLS + (ORDER_BLIND,), group="Network",
                      help="rnn = tanh RNN (Elman), lstm, gru: torch.nn.RNN/LSTM/GRU. bag "
                           "(sentiment): the mean of the word vectors, order ignored.")
    layers: int = param(1, lo=1, hi=4, group="Network", help="Stacked recurrent layers.")
    hidden_size: int = param(64, lo=2, hi=1024, group="Network", label="Hidden size",
                             help="Units of the hidden state.")
    bidirectional: bool = param(False, group="Network",
                                when={"task": ("adding", "copy", "sentiment")},
                                help="Also read the sequence backwards (adding, copy and "
                                     "sentiment: forecasting must not see the future).")
    dropout: float = param(0.0, lo=0.0, hi=0.9, group="Network",
                           help="Between stacked layers (needs 2 or more layers).")
    embedding: int = param(32, lo=2, hi=512, group="Network",
                           when={"task": ("copy", "chars", "sentiment")},
                           help="copy, chars and sentiment: size of each symbol's (word's) "
                                "learned vector.")
    embedding_run: str = param("", group="Network", label="Word vectors from",
                               runs_of=("word2vec",), when={"task": ("sentiment",)},
                               help="sentiment: start the word vectors from a finished Word2Vec "
                                    "run (the words both vocabularies share; the rest start "
                                    "random). Its embedding size is used.")
    freeze_embedding: bool = param(False, group="Network", label="Freeze the word vectors",
                                   when={"task": ("sentiment",)},
                                   help="sentiment: keep the word vectors as they start (from "
                                        "Word2Vec, or random) and train only the rest.")
    clip: bool = param(True, group="Training", label="Gradient clipping",
                       help="Rescale the gradient when its norm exceeds max norm.")
    max_norm: float = param(1.0, lo=0.01, hi=100.0, log=True, group="Training",
                            label="Max norm", when={"clip": (True,)},
                                              help="The clipping threshold.")
    optimizer: str = param("adam", choices=OPTIMIZERS, group="Training",
                           help="momentum = SGD with momentum 0.9.")
    lr: float = param(0.01, lo=1e-6, hi=10.0, log=True, group="Training",
                      label="Learning rate", help="Step size of the optimizer.")
    batch_size: int = param(64, lo=1, hi=4096, group="Training", help="Sequences per step.")
    steps: int = param(800, lo=1, hi=100_000, group="Training",
                       help="Gradient steps (each draws a batch of sequences).")
    text_file: str = param("", upload=("txt",), group="Task", label="Your own text (.txt)",
                           when={"task": ("chars",)},
                           help="chars: train on a UTF-8 text of your own instead of the "
                                "built-in English (its alphabet is every character it uses).")
    temperature: float = param(0.8, lo=0.05, hi=2.0, group="Samples",
                               when={"task": ("chars",)},
                               help="chars: sampling temperature of the live text samples "
                                    "(low = safe and repetitive, high = inventive).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same data, same initial weights, same curve.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Adding problem, length 50 (default)": {},
    "Adding problem, plain RNN": {"cell": "rnn"},
    "Adding problem, length 100": {"seq_len": 100, "steps": 2000},
    "Copy 3 symbols after a delay of 10": {"task": "copy", "seq_len": 10, "steps": 1500},
    "Forecast sines": {"task": "series", "seq_len": 40, "steps": 600, "lr": 0.003},
    "Forecast Mackey-Glass (chaos)": {"task": "series", "series": "mackey_glass", "seq_len": 60,
                                      "noise": 0.0, "steps": 1000, "lr": 0.003},
    "Characters (English)": {"task": "chars", "seq_len": 64, "hidden_size": 256,
                             "embedding": 32, "steps": 2000, "lr": 0.003},
    "Sentiment of review sentences (LSTM)": {"task": "sentiment", "seq_len": 40,
                                             "embedding": 64, "steps": 600, "lr": 0.003},
    # the classic tutorial's data; its accuracy is not measured here (no download offline)
    "IMDB reviews, first 200 words (LSTM; 84 MB download)": {
        "task": "sentiment", "corpus": "imdb", "max_reviews": 10_000, "seq_len": 200,
        "vocab_size": 10_000, "embedding": 64, "steps": 800, "lr": 0.003},
}


def check(cfg: Config) -> list[str]:
    errors = []
    if cfg.bidirectional and cfg.task in ("series", "chars"):
        errors.append(_("Bidirectional reads the sequence backwards too, so for {task} it "
                        "would see the values it must predict: use it for adding or copy only.",
                        task=cfg.task))
    if cfg.cell == ORDER_BLIND and cfg.task != "sentiment":
        errors.append(_("bag (the mean of the word vectors) reads sentences: use it with the "
                        "sentiment task, or pick rnn, lstm or gru."))
    if cfg.task == "sentiment" and cfg.corpus == "file" and not cfg.reviews_file:
        errors.append(_("The file corpus is a CSV of your own: upload one (Task, 'Your texts'), "
                        "or pick the sentences corpus."))
    if cfg.dropout > 0 and cfg.layers == 1:
        errors.append(_("Dropout acts between stacked recurrent layers: set layers to 2 or more, "
                        "or dropout to 0."))
    return errors


def export_stubs(cfg: Config) -> dict[str, str]:
    """Scripts train on the built-in text and corpora; uploads and other runs stay out."""
    return text_stubs(cfg) | {
        "word_vectors": "def word_vectors(cfg, vocab):\n    raise SystemExit('this script "
                        "starts its word vectors at random')"}


def exportable(cfg: Config) -> str:
    if cfg.task == "sentiment" and cfg.corpus == "file":
        return _("this run trained on your uploaded texts, which a script cannot carry: download "
                 "its weights or the whole run instead")
    if cfg.task == "sentiment" and cfg.embedding_run:
        return _("this run started from Word2Vec run {run}'s vectors, which a script cannot "
                 "carry: download its weights or the whole run instead", run=cfg.embedding_run)
    return text_exportable(cfg)


# ---------------------------------------------------------------------------------------------
# The comparison

def _cells(cfg: Config, earlier: list[str]) -> Config | None:
    """RNN, then LSTM, then GRU (and on sentiment the bag of words): the same task, data, seed
    and everything else."""
    cells = CELLS + ((ORDER_BLIND,) if cfg.task == "sentiment" else ())
    return replace(cfg, cell=cells[len(earlier)]) if len(earlier) < len(cells) else None


def comparison_table(runs) -> tuple[list[dict], str]:
    rows, score = [], {}
    for name, info in runs:
        final = info.status.get("final") or {}
        task = info.config.get("task", "adding")
        key = ("val/mse" if task in REGRESSION else "val/acc" if task in ("copy", "sentiment")
               else "val/loss")
        score[name] = final.get(key)
        rows.append({N_("cell"): name, N_("status"): info.status.get("status"),
                     {"val/mse": N_("test MSE"), "val/acc": N_("test accuracy"),
                      "val/loss": N_("test loss (nats/char)")}[key]: final.get(key),
                     N_("parameters"): info.status.get("params"),
                     N_("seconds"): info.status.get("seconds")})
    if any(v is None for v in score.values()) or not runs:
        return rows, _("The comparison is incomplete: a run did not finish.")
    task = runs[0][1].config.get("task", "adding")
    best = (max if task in ("copy", "sentiment") else min)(score, key=score.get)
    said = [_("Best here: {best}.", best=best)]
    if task == "adding":
        stuck = [n for n, v in score.items() if v > 0.8 * MEAN_GUESS_MSE]
        learnt = [n for n, v in score.items() if v < 0.3 * MEAN_GUESS_MSE]
        if stuck:
            said.append(_("{stuck} stayed near {mse:.3f}, the error of always answering the "
                          "mean: it did not find the marked numbers.",
                          stuck=", ".join(stuck), mse=MEAN_GUESS_MSE))
        if learnt:
            said.append(_("{learnt} learnt the task (MSE under {limit:.3f}).",
                          learnt=", ".join(learnt), limit=0.3 * MEAN_GUESS_MSE))
    if task == "sentiment" and BAG in score:
        said.append(_order_verdict(score, {n: info.status.get("seconds") for n, info in runs}))
    return rows, " ".join(said)


def _order_verdict(score: dict, seconds: dict) -> str:
    """Did reading the words in order beat the bag of words, and by how much, on this run."""
    bag = score.pop(BAG)
    best = max(score, key=score.get)
    gap = score[best] - bag
    fast = ""
    if seconds.get(BAG) and seconds.get(best):
        fast = _(", in {times:.0f} times the bag's training time",
                 times=seconds[best] / max(seconds[BAG], 1e-3))
    if gap >= 0.02:
        return _("Word order paid here: {best} beats the bag of words by {gap:.1%} "
                 "({score:.1%} vs {bag:.1%}){fast}.",
                 best=best, gap=gap, score=score[best], bag=bag, fast=fast)
    if gap > -0.02:
        return _("Word order did not pay here: the bag of words ({bag:.1%}) is as good as the "
                 "best reader, {best} ({score:.1%}){fast}. Short reviews are mostly told by "
                 "their words ('great', 'waste'); on longer texts, where 'not' and 'but' change "
                 "what follows, order matters more.",
                 best=best, score=score[best], bag=bag, fast=fast)
    return _("The bag of words won: {bag:.1%} against {best}'s {score:.1%}{fast}. On a few "
             "thousand short reviews the readers overfit (watch their test loss climb) while "
             "averaging the word vectors cannot memorise word order.",
             best=best, score=score[best], bag=bag, fast=fast)


BAG = "bag of words"


def COMPARE(cfg: Config) -> dict:        # noqa: N802 - the contract's name; one per task
    if cfg.task == "sentiment":
        return {"label": _("RNN vs LSTM vs GRU vs bag of words"),
                "names": ("RNN", "LSTM", "GRU", BAG), "plan": _cells,
                "table": comparison_table, "views": ("confusion",)}
    return {"label": _("RNN vs LSTM vs GRU"), "names": ("RNN", "LSTM", "GRU"), "plan": _cells,
            "table": comparison_table, "views": ("gradient",)}

PROBES = ("not good", "not bad at all", "good", "the food was good but the service was terrible",
          "I would not recommend it", "an absolute waste of time", "I loved every minute")
EXPLORE = {"title": "Ask the finished model", "when": {"task": ("sentiment",)},
           "text_label": "Type a sentence", "max_chars": 300, "probes": PROBES,
           "text_help": "Its answer, and each word's push: how much the answer changes when the "
                        "word alone is left out. Nothing is retrained."}

DEMOS = {"rnn-lstm-gru": {"compare": True, "picture": "gradient",
                          "title": "RNN vs LSTM vs GRU on the adding problem"},
         "sentiment": {"settings": PRESETS["Sentiment of review sentences (LSTM)"],
                       "compare": True, "picture": "confusion",
                       "title": "RNN vs LSTM vs GRU vs bag of words on 3,000 review sentences"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
