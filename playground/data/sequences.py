"""Sequence tasks generated offline, and an English text that ships with Python itself.

- adding: Hochreiter & Schmidhuber's adding problem (1997). Each step carries a random value in
  [0, 1) and a marker; exactly two steps are marked, one in each half. The target is the sum of
  the two marked values. Predicting the mean (1.0) scores MSE 1/6 ~ 0.167, the bar to beat.
- copy: remember `n` symbols, wait `delay` blank steps, then recall them after a "go" marker.
- series: a noisy sum of sines, or the chaotic Mackey-Glass series; the model predicts the next
  value at every step; the test windows come from the end of the series (the future).
- text: Python's own reference manual (pydoc_data, PSF licence), prose only, for a next-character
  model; one token stream, cut into windows on the device by the lab.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:                       # torch is imported where data is made, not here
    import torch

from playground.data.base import Data, DataUnavailable

BLANK, GO = 0, 1                 # copy task tokens; symbols are 2 .. 2 + n_symbols - 1


def _split(n: int, ratio: float = 0.8) -> int:
    return min(max(1, int(n * ratio)), n - 1)


def make_adding(n: int, seq_len: int, seed: int) -> Data:
    import torch

    rng = np.random.default_rng(seed)
    values = rng.random((n, seq_len)).astype(np.float32)
    marks = np.zeros((n, seq_len), np.float32)
    half = max(1, seq_len // 2)
    first = rng.integers(0, half, n)
    second = rng.integers(half, seq_len, n)
    marks[np.arange(n), first] = 1.0
    marks[np.arange(n), second] = 1.0
    x = torch.from_numpy(np.stack([values, marks], -1))                     # (N, T, 2)
    y = torch.from_numpy((values * marks).sum(1))                            # (N,)
    k = _split(n)
    return Data(train=(x[:k], y[:k]), test=(x[k:], y[k:]), num_classes=0, input_shape=(seq_len, 2),
                kind="sequence", name="adding", extra={"task": "adding"})


def make_copy(n: int, delay: int, n_copy: int, n_symbols: int, seed: int) -> Data:
    """Inputs: n_copy symbols, `delay` blanks, GO, n_copy blanks. Targets: -100 (ignored) but
    at the last n_copy steps, where they are the first n_copy symbols."""
    import torch

    rng = np.random.default_rng(seed)
    length = n_copy + delay + 1 + n_copy
    symbols = rng.integers(2, 2 + n_symbols, (n, n_copy))
    x = np.full((n, length), BLANK, np.int64)
    x[:, :n_copy] = symbols
    x[:, n_copy + delay] = GO
    y = np.full((n, length), -100, np.int64)
    y[:, -n_copy:] = symbols
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    k = _split(n)
    return Data(train=(x[:k], y[:k]), test=(x[k:], y[k:]), num_classes=2 + n_symbols,
                input_shape=(length,), kind="sequence", name="copy",
                extra={"task": "copy", "n_copy": n_copy, "vocab": 2 + n_symbols})


def mackey_glass(n: int, seed: int, tau: int = 17, dt: float = 1.0) -> np.ndarray:
    """dx/dt = 0.2 x(t - tau) / (1 + x(t - tau)^10) - 0.1 x(t), chaotic for tau = 17."""
    rng = np.random.default_rng(seed)
    history = int(tau / dt)
    x = np.empty(n + history + 500)
    x[:history + 1] = 1.2 + 0.05 * rng.standard_normal(history + 1)
    for t in range(history, len(x) - 1):
        lagged = x[t - history]
        x[t + 1] = x[t] + dt * (0.2 * lagged / (1 + lagged ** 10) - 0.1 * x[t])
    return x[-n:]


def make_series(n: int, seq_len: int, kind: str, noise: float, seed: int) -> Data:
    """Windows of seq_len + 1 values: inputs the first seq_len, targets the next value at every
    step. Train windows from the first 80% of the series, test windows from the rest."""
    import torch

    rng = np.random.default_rng(seed)
    length = n + seq_len + 1
    if kind == "sines":
        t = np.arange(length + 200)
        freqs, phases = rng.uniform(0.02, 0.12, 3), rng.uniform(0, 2 * np.pi, 3)
        s = sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases)) / 3
    else:
        s = mackey_glass(length + 200, seed)
        s = (s - s.mean()) / s.std()
    s = (s + noise * rng.standard_normal(len(s))).astype(np.float32)
    cut = _split(len(s))
    windows = lambda a: np.lib.stride_tricks.sliding_window_view(a, seq_len + 1)  # noqa: E731
    train, test = windows(s[:cut]), windows(s[cut - seq_len:])
    as_xy = lambda w: (torch.from_numpy(w[:, :-1, None].copy()),                    # noqa: E731
                       torch.from_numpy(w[:, 1:].copy()))                           # (N, T, 1), (N, T)
    return Data(train=as_xy(train), test=as_xy(test), num_classes=0, input_shape=(seq_len, 1),
                kind="sequence", name=kind,
                extra={"task": "series", "series": torch.from_numpy(s), "cut": cut})


@lru_cache(maxsize=1)
def english_text() -> str:
    """Python's reference manual as plain prose: paragraphs of words, not code (indented blocks
    and underlines dropped), printable ASCII. About 0.3 MB, always installed."""
    from pydoc_data.topics import topics

    paragraphs = []
    for key in sorted(topics):
        for block in topics[key].split("\n\n"):
            lines = block.split("\n")
            if not block.strip() or lines[0].startswith(" ") or set(lines[-1].strip()) <= set("*=-"):
                continue
            text = " ".join(line.strip() for line in lines)
            if sum(c.isalpha() for c in text) > 0.6 * len(text):
                paragraphs.append(text)
    out = "\n".join(paragraphs)
    return "".join(c for c in out if c == "\n" or 32 <= ord(c) < 127)


def text_vocabulary() -> tuple[str, ...]:
    """Every character of the whole text, so that a model's size does not depend on how much
    of the text it trains on."""
    return tuple(sorted(set(english_text())))


def token_windows(data: Data, batch_size: int, generator: torch.Generator, state=None):
    """A batch of windows of seq_len + 1 tokens at random offsets of a token stream (data made
    by make_text), cut on the device: (inputs, the next token at every position)."""
    import torch

    stream = data.train[0]
    seq_len = data.input_shape[0]
    starts = torch.randint(0, len(stream) - seq_len - 1, (batch_size,), device=stream.device,
                           generator=generator)
    windows = stream[starts[:, None] + torch.arange(seq_len + 1, device=stream.device)]
    return windows[:, :-1], windows[:, 1:]                                   # (B, T) each


def text_alphabet(text_id: str = "") -> int:
    """How many characters a char model's alphabet holds: the English text's, or an uploaded
    text's (a size for the model summary when that text is not here)."""
    if not text_id:
        return len(text_vocabulary())
    from playground.data import uploads

    try:
        return len(set(uploads.load(text_id)))
    except DataUnavailable:
        return uploads.MAX_DISTINCT


def make_text(seq_len: int, max_chars: int, text: str | None = None, name: str = "") -> Data:
    """One token stream of characters; the lab cuts windows of seq_len + 1 from it. The last
    10% is the test text. `text`: a visitor's own (its alphabet is every character it uses)
    instead of the English text."""
    import torch

    raw = (english_text() if text is None else text)[:max_chars]
    chars = text_vocabulary() if text is None else tuple(sorted(set(text)))
    if len(raw) < 2 * (seq_len + 1) * 10:
        raise DataUnavailable(f"The text has {len(raw):,} characters: too few for windows of "
                              f"{seq_len} (at least {20 * (seq_len + 1):,}); use a shorter "
                              "window, more of the text, or a longer text.")
    lookup = {c: i for i, c in enumerate(chars)}
    stream = torch.tensor([lookup[c] for c in raw], dtype=torch.long)
    cut = _split(len(stream), 0.9)
    train, test = stream[:cut], stream[cut:]
    # the test text as fixed, non-overlapping windows: the same characters at every evaluation
    n_test = (len(test) - 1) // seq_len
    starts = torch.arange(n_test) * seq_len
    idx = starts[:, None] + torch.arange(seq_len + 1)
    windows = test[idx]                                                      # (N, T + 1)
    return Data(train=(train,), test=(windows[:, :-1], windows[:, 1:]), num_classes=len(chars),
                input_shape=(seq_len,), classes=tuple(chars), kind="text",
                name=name or "python-docs",
                n_examples=max(1, len(train) // seq_len),
                extra={"task": "chars", "vocab": len(chars)})


# ---------------------------------------------------------------------------------------------
# Algorithmic tasks for a Transformer: a question, a separator, an answer, one token stream each

ALGORITHMIC = ("reverse", "sort", "copy", "addition")


def algorithmic_layout(task: str, length: int) -> tuple[int, int]:
    """(prompt tokens including the separator, answer tokens) of one example."""
    if task == "addition":
        return 2 * length + 2, length + 1            # a + b =, then the sum's digits
    return length + 1, length                        # digits =, then the answer's digits


def make_algorithmic(task: str, n: int, length: int, base: int, seed: int) -> Data:
    """`n` random examples as token sequences: the digits of the question, '=' and the answer.
    Inputs are the sequence without its last token, targets the sequence shifted by one, with
    -100 (ignored) where the next token is still part of the question: only the answer is
    learnt and scored.

    reverse / sort / copy: `length` digits -> the same digits reversed / sorted / unchanged.
    addition: two `length`-digit numbers -> their sum's length + 1 digits, least significant
    first (the order in which one adds by hand, so every digit depends only on those before it).
    """
    import torch

    rng = np.random.default_rng(seed)
    sep, plus = base, base + 1
    digits = rng.integers(0, base, (n, length))
    if task == "reverse":
        question, answer = digits, digits[:, ::-1]
    elif task == "sort":
        question, answer = digits, np.sort(digits, 1)
    elif task == "copy":
        question, answer = digits, digits
    elif task == "addition":
        other = rng.integers(0, base, (n, length))
        question = np.concatenate([digits, np.full((n, 1), plus), other], 1)
        answer = np.zeros((n, length + 1), np.int64)
        carry = np.zeros(n, np.int64)
        for i in range(length):                      # from the last (least significant) digit
            total = digits[:, length - 1 - i] + other[:, length - 1 - i] + carry
            answer[:, i], carry = total % base, total // base
        answer[:, length] = carry
    else:
        raise ValueError(f"unknown task {task!r}")
    seq = np.concatenate([question, np.full((n, 1), sep), answer], 1).astype(np.int64)
    prompt, _ = algorithmic_layout(task, length)
    x, y = seq[:, :-1].copy(), seq[:, 1:].copy()
    y[:, :prompt - 1] = -100
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    k = _split(n)
    names = tuple(str(d) if base <= 10 else f"{d:02d}" for d in range(base)) + ("=", "+")
    return Data(train=(x[:k], y[:k]), test=(x[k:], y[k:]), num_classes=base + 2,
                input_shape=(x.shape[1],), classes=names, kind="sequence", name=task,
                extra={"task": task, "prompt_len": prompt, "vocab": base + 2})
