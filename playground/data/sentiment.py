"""Real sentences with a sentiment, for a network that reads text and says one thing about it.

"Sentiment Labelled Sentences" (Kotzias, Denil, de Freitas & Smyth, "From Group to Individual
Labels using Deep Features", KDD 2015; UCI Machine Learning Repository, CC BY 4.0): 3,000 short
reviews, 1,000 from each of imdb.com (films), amazon.com (phones) and yelp.com (restaurants), half
positive. Read from $PLAYGROUND_DATA_DIR/sentiment/*_labelled.txt (`sentence<TAB>label`, label 1 =
positive), downloaded there from UCI's zip on first use when the machine is online.

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

SOURCES = ("all", "imdb", "amazon", "yelp")
FILES = {"imdb": "imdb_labelled.txt", "amazon": "amazon_cells_labelled.txt",
         "yelp": "yelp_labelled.txt"}
UCI_ZIP = "https://archive.ics.uci.edu/static/public/331/sentiment+labelled+sentences.zip"
PAD, OOV = 0, 1
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
