"""Real sentences with a sentiment, for a network that reads text and says one thing about it.

Three corpora. `sentences` (the default):
"Sentiment Labelled Sentences" (Kotzias, Denil, de Freitas & Smyth, "From Group to Individual
Labels using Deep Features", KDD 2015; UCI Machine Learning Repository, CC BY 4.0): 3,000 short
reviews, 1,000 from each of imdb.com (films), amazon.com (phones) and yelp.com (restaurants), half
positive. Read from $PLAYGROUND_DATA_DIR/sentiment/*_labelled.txt (`sentence<TAB>label`, label 1 =
positive), downloaded there from UCI's zip on first use when the machine is online. `imdb`: Maas
et al.'s "Large Movie Review Dataset" (ACL 2011; 25,000 training and 25,000 test reviews, half
positive), the classic tutorial's data, read from $PLAYGROUND_DATA_DIR/aclImdb in its own layout
(train|test/pos|neg/<id>_<stars>.txt) or downloaded there (84 MB) on first use. `file`: a
visitor's CSV of text,label rows (`labelled`).

The tokenizer is the tutorials' own: lower-cased words (letters, digits and the apostrophe of
"don't"), a vocabulary of the most frequent ones seen at least `min_count` times, id 0 for
padding and 1 for a word out of the vocabulary; a sentence becomes its first `max_len` ids,
padded with 0 at the end (so its length is the count of non-zero ids).
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from playground.data.base import DataUnavailable
from playground.data.images import data_dir

CORPORA = ("sentences", "imdb", "file")
SOURCES = ("all", "imdb", "amazon", "yelp")
FILES = {"imdb": "imdb_labelled.txt", "amazon": "amazon_cells_labelled.txt",
         "yelp": "yelp_labelled.txt"}
UCI_ZIP = "https://archive.ics.uci.edu/static/public/331/sentiment+labelled+sentences.zip"
IMDB_TAR = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SPLIT = {"train": 25_000, "test": 25_000}
PAD, OOV = 0, 1
MIN_ROWS, MAX_LABELS = 40, 20         # a labelled file: a few dozen rows, a handful of classes
TAG = re.compile(r"<[^>]{0,40}>")     # aclImdb's reviews keep their HTML line breaks, <br />
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def sentiment_dir() -> Path:
    return data_dir() / "sentiment"


def tokenize(text: str) -> list[str]:
    return WORD.findall(text.lower())


def load_sentences(source: str = "all", root: Path | None = None,
                   download: bool = True) -> tuple[tuple[str, ...], np.ndarray]:
    """(sentences, labels 0/1) of one source or all three, in the files' order."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; sources: {', '.join(SOURCES)}")
    return _load(source, str(root or sentiment_dir()), download)


@lru_cache(maxsize=8)
def _load(source: str, root: str, download: bool):
    folder = Path(root)
    wanted = list(FILES) if source == "all" else [source]
    missing = [FILES[s] for s in wanted if not (folder / FILES[s]).is_file()]
    if missing and download:
        try:
            _download(folder)
        except Exception as e:  # noqa: BLE001 - offline, a proxy, a damaged zip
            raise DataUnavailable(
                f"The labelled sentences could not be downloaded ({type(e).__name__}). Put "
                f"{', '.join(missing)} from {UCI_ZIP} in {folder}, or pick another task.",
                fix={"task": "adding"}) from None
    elif missing:
        raise DataUnavailable(f"{', '.join(missing)} not found in {folder}: put the files of "
                              f"{UCI_ZIP} there, or pick another task.", fix={"task": "adding"})
    texts, labels = [], []
    for s in wanted:
        path = folder / FILES[s]
        # split on newlines only: str.splitlines() also breaks at U+0085, which some reviews use
        # as an ellipsis ("The script is\u0085 was there a script?")
        text_file = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text_file.split("\n")):
            text, tab, label = line.rstrip().rpartition("\t")
            if not line.strip():
                continue
            if not tab or label not in ("0", "1"):
                raise DataUnavailable(f"{path}, line {n + 1}: not 'sentence<TAB>0 or 1'. Delete "
                                      "the file to download it again.", fix={"task": "adding"})
            texts.append(text.strip())
            labels.append(int(label))
    return tuple(texts), np.asarray(labels, dtype=np.int64)


def imdb_dir() -> Path:
    return data_dir() / "aclImdb"


def load_imdb(max_reviews: int, seed: int = 0, root: Path | None = None, download: bool = True):
    """((train texts, labels), (test texts, labels)): `max_reviews` of each split (at most
    25,000), half positive, drawn by `seed`; only those files are read."""
    folder = Path(root or imdb_dir())
    if not (folder / "test" / "neg").is_dir() and download:
        try:
            _download_imdb(folder)
        except Exception as e:  # noqa: BLE001 - offline, a proxy, a damaged archive
            raise DataUnavailable(
                f"The IMDB reviews could not be downloaded ({type(e).__name__}): unpack "
                f"{IMDB_TAR} so that {folder}/train and {folder}/test exist, or pick the "
                "sentences corpus (3,000 review sentences).", fix={"corpus": "sentences"}) from None
    rng = np.random.default_rng(seed)
    splits = []
    for split in ("train", "test"):
        texts, labels = [], []
        for label, kind in ((0, "neg"), (1, "pos")):
            sub = folder / split / kind
            if not sub.is_dir():
                raise DataUnavailable(f"{sub} is missing: unpack {IMDB_TAR} into {folder.parent} "
                                      "again, or pick the sentences corpus.",
                                      fix={"corpus": "sentences"})
            files = sorted(sub.glob("*.txt"))
            keep = (max_reviews + 1 - label) // 2               # half each, the odd one negative
            for f in (files[i] for i in np.sort(rng.permutation(len(files))[:keep])):
                texts.append(TAG.sub(" ", f.read_text(encoding="utf-8", errors="replace")))
                labels.append(label)
        if len(set(labels)) < 2:
            raise DataUnavailable(f"{folder / split} holds no reviews of one kind: unpack "
                                  f"{IMDB_TAR} again.", fix={"corpus": "sentences"})
        splits.append((tuple(texts), np.asarray(labels, dtype=np.int64)))
    return tuple(splits)


def _download_imdb(folder: Path) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        download_and_extract_archive(IMDB_TAR, tmp, extract_root=tmp, remove_finished=True)
        found = Path(tmp) / "aclImdb"
        if not (found / "test" / "neg").is_dir():
            raise FileNotFoundError(f"aclImdb/test/neg is not in {IMDB_TAR}")
        shutil.rmtree(found / "train" / "unsup", ignore_errors=True)   # 50,000 unlabelled
        shutil.move(str(found), folder)


def labelled(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A visitor's CSV of text,label rows (a header allowed; tab or ; as well as comma; quoted
    texts may hold commas): (texts, labels as written). Raises ValueError saying which row is
    wrong; needs MIN_ROWS rows and 2 to MAX_LABELS labels."""
    import csv

    from playground.data.table import dialect_of

    lines = [ln for ln in text.split("\n") if ln.strip()]
    if not lines:
        raise ValueError("The file is empty: upload a CSV of text,label rows.")
    # tab-separated files (as the sentences' own) only when every line has a tab
    dialect = csv.excel_tab if all("\t" in ln for ln in lines) else dialect_of(lines[:20])
    texts, labels = [], []
    for n, row in enumerate(csv.reader(lines, dialect), start=1):
        row = [c.strip() for c in row]
        if len(row) < 2 or not row[0] or not row[-1]:
            raise ValueError(f"Row {n} is not text,label: {lines[n - 1][:60]!r}. Put each "
                             "text in quotes when it holds commas.")
        text, label = ",".join(row[:-1]) if len(row) > 2 else row[0], row[-1]
        if n == 1 and label.lower() in ("label", "labels", "sentiment", "class", "y", "target"):
            continue                                                    # a header
        if len(label) > 40:
            raise ValueError(f"Row {n}'s label is {len(label)} characters long: the label "
                             "comes last, after the text (text,label).")
        texts.append(text)
        labels.append(label)
    kinds = sorted(set(labels))
    if len(texts) < MIN_ROWS:
        raise ValueError(f"The file has {len(texts)} labelled rows; a network needs at least "
                         f"{MIN_ROWS} to learn from (and a few hundred to generalise).")
    if len(kinds) < 2:
        raise ValueError(f"Every row has the label {kinds[0]!r}: a classifier needs two or more "
                         "labels.")
    if len(kinds) > MAX_LABELS:
        raise ValueError(f"The file has {len(kinds)} different labels (at most {MAX_LABELS}): "
                         "is the label the last column?")
    if not any(tokenize(t) for t in texts):
        raise ValueError("No row's text holds a word (letters or digits).")
    return tuple(texts), tuple(labels)


def classes_of(labels) -> tuple[str, ...]:
    """The classes in id order: sorted, so 0/1 and negative/positive put the positive last."""
    return tuple(sorted(set(labels), key=lambda v: (not v.lstrip("-").isdigit(),
                                                     int(v) if v.lstrip("-").isdigit() else 0, v)))


def _download(folder: Path) -> None:
    """UCI's zip, its three labelled files moved into `folder` (the zip and its other files are
    not kept)."""
    from torchvision.datasets.utils import download_and_extract_archive

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        download_and_extract_archive(UCI_ZIP, tmp, filename="sentences.zip")
        for name in FILES.values():
            found = next(Path(tmp).rglob(name), None)
            if found is None:
                raise FileNotFoundError(f"{name} is not in {UCI_ZIP}")
            shutil.move(str(found), folder / name)


def vocabulary(sentences, size: int, min_count: int = 1) -> tuple[str, ...]:
    """The `size` - 2 most frequent words seen at least `min_count` times (ties by first sight),
    after the padding and out-of-vocabulary places: ("<pad>", "<unk>", words...)."""
    counts = Counter(w for s in sentences for w in tokenize(s))
    words = [w for w, c in counts.most_common() if c >= min_count][:max(0, size - 2)]
    return ("<pad>", "<unk>", *words)


def encode(sentences, vocab: tuple[str, ...], max_len: int) -> np.ndarray:
    """(N, max_len) int64 ids: each sentence's first max_len words, unknown ones OOV, then PAD."""
    index = {w: i for i, w in enumerate(vocab)}
    out = np.full((len(sentences), max_len), PAD, dtype=np.int64)
    for row, s in enumerate(sentences):
        ids = [index.get(w, OOV) for w in tokenize(s)][:max_len] or [OOV]
        out[row, :len(ids)] = ids
    return out
