"""The transformer's torch part: its data, the state and the training step, the attention maps
and the looks into a finished run (the networks are in networks.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data
from playground.data import uploads
from playground.data.sequences import (algorithmic_layout, make_algorithmic, make_text,
                                       text_alphabet, token_windows)
from playground.i18n import N_
from playground.labs._shared import make_optimizer
from playground.labs.transformer import Config, sequence_tokens
from playground.labs.transformer.networks import Decoder, EncoderDecoder
from playground.ui import charts

SHOWN_TOKENS = 40                 # attention maps of longer contexts show the first 40 tokens


# ---------------------------------------------------------------------------------------------
# Data

def load_data(cfg: Config) -> Data:
    if cfg.task == "chars":
        text = _own_text(cfg)
        return make_text(cfg.context, max_chars=cfg.n_samples * 40, text=text,
                         name=f"upload:{cfg.text_file}" if text else "")
    return make_algorithmic(cfg.task, cfg.n_samples, cfg.length, cfg.base, cfg.seed)


draw_batch = token_windows       # chars cuts its own batches from the token stream


# ---------------------------------------------------------------------------------------------
# Model: the networks are in networks.py; here their vocabulary, which one, and the state

def _own_text(cfg: Config) -> str | None:
    """chars: the visitor's uploaded text (None: the built-in English)."""
    return uploads.load(cfg.text_file) if cfg.text_file else None


def _alphabet(cfg: Config) -> int:
    return text_alphabet(cfg.text_file)


def _vocab(cfg: Config, data: Data | None = None) -> int:
    if data is not None:
        return data.num_classes
    return _alphabet(cfg) if cfg.task == "chars" else cfg.base + 2


def _make(cfg: Config, vocab: int) -> nn.Module:
    if cfg.arch == "encoder-decoder":
        return EncoderDecoder(cfg, vocab, algorithmic_layout(cfg.task, cfg.length)[0])
    return Decoder(cfg, vocab)


def blueprint(cfg: Config):
    return _make(cfg, _vocab(cfg)), torch.zeros((2, sequence_tokens(cfg)), dtype=torch.long)


@dataclass
class State:
    cfg: Config
    model: nn.Module
    opt: torch.optim.Optimizer
    offset: int               # targets the outputs line up with: y[:, offset:]
    step: int = 0


def build(cfg: Config, data: Data) -> State:
    device = data.test[0].device
    model = _make(cfg, _vocab(cfg, data)).to(device)
    offset = model.source if isinstance(model, EncoderDecoder) else 0
    return State(cfg, model, make_optimizer(cfg.optimizer, model.parameters(), cfg.lr), offset)


# ---------------------------------------------------------------------------------------------
# Training

def learning_rate(cfg: Config, step: int) -> float:
    """Linear warmup to lr, then a cosine down to lr / 10 at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _loss(s: State, logits: torch.Tensor, y: torch.Tensor):
    """Cross-entropy on the answer tokens, token accuracy, and whether each sequence's whole
    answer is right (every answer token the likeliest: then greedy decoding writes it too)."""
    y = y[:, s.offset:]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                           ignore_index=-100)
    scored = y != -100
    right = (logits.argmax(-1) == y) | ~scored
    token_acc = (right & scored).sum() / scored.sum().clamp_min(1)
    return loss, token_acc, right.all(1)


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    lr = learning_rate(s.cfg, s.step)
    for group in s.opt.param_groups:
        group["lr"] = lr
    s.step += 1
    x, y = batch
    loss, token_acc, whole = _loss(s, s.model(x), y)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    if s.cfg.clip:
        nn.utils.clip_grad_norm_(s.model.parameters(), s.cfg.max_norm, foreach=True)
    s.opt.step()
    out = {"train/loss": loss.detach(), "train/lr": torch.full((), lr, device=loss.device)}
    out["train/acc"] = token_acc if s.cfg.task == "chars" else whole.float().mean()
    return out


def _logits(s: State, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    s.model.eval()
    try:
        return torch.cat([s.model(x[i:i + chunk]).float() for i in range(0, len(x), chunk)])
    finally:
        s.model.train()


def evaluate(s: State, data: Data) -> dict[str, float]:
    x, y = data.test
    loss, token_acc, whole = _loss(s, _logits(s, x), y)
    if s.cfg.task == "chars":
        loss, acc = torch.stack([loss, token_acc]).tolist()
        return {"val/loss": loss, "val/acc": acc}
    loss, acc, token_acc = torch.stack([loss, whole.float().mean(), token_acc]).tolist()
    return {"val/loss": loss, "val/acc": acc, "val/token_acc": token_acc}


# ---------------------------------------------------------------------------------------------
# What the page shows

def _tokens(data: Data, ids) -> list[str]:
    names = data.classes
    return [("␣" if names[i] == " " else "⏎" if names[i] == "\n" else names[i]) for i in ids]


@torch.no_grad()
def attention_maps(s: State, data: Data, idx: torch.Tensor) -> tuple[list, list[str], list[str]]:
    """(maps per layer [(H, rows, cols)], row tokens, column tokens) for one sequence (1, T)."""
    s.model.eval()
    try:
        if isinstance(s.model, EncoderDecoder):
            maps = [m[0] for m in s.model.cross_attention(idx)]
            toks = _tokens(data, idx[0].tolist())
            return maps, toks[s.model.source:], toks[:s.model.source]
        idx = idx[:, :SHOWN_TOKENS]
        _, maps = s.model.run(idx, weights=True)
        toks = _tokens(data, idx[0].tolist())
        return [m[0] for m in maps], toks, toks
    finally:
        s.model.train()


def _attention(s: State, data: Data, idx: torch.Tensor, title: str, caption: str,
               **values) -> dict:
    maps, rows, cols = attention_maps(s, data, idx)
    mats = [[m[h].float().cpu().numpy() for h in range(m.shape[0])] for m in maps]
    layers = len(mats)
    fig = charts.heatmap_grid(mats, [f"layer {i + 1}" for i in range(layers)],
                              [f"head {h + 1}" for h in range(len(mats[0]))], cols, rows,
                              cell_px=max(140, min(240, 900 // max(1, len(mats[0])))))
    return charts.artifact(title, "plotly", fig, caption, **values)


def _example(data: Data, i: int) -> torch.Tensor:
    return data.test[0][i % data.n_test: i % data.n_test + 1]


def _answers(s: State, data: Data, n: int = 6) -> dict:
    x, y = data.test[0][:n], data.test[1][:n]
    pred = _logits(s, x).argmax(-1).cpu()
    want = y[:, s.offset:].cpu()
    prompt = data.extra["prompt_len"]
    lines = ["| " + " | ".join((N_("question"), N_("answer"), N_("truth"))) + " |", "|---|---|---|"]
    for q, p, w in zip(x.cpu(), pred, want):
        scored = w != -100
        got = " ".join(t if a == b else f"~~{t}~~"
                       for t, a, b in zip(_tokens(data, p[scored].tolist()), p[scored], w[scored]))
        lines.append(f"| `{' '.join(_tokens(data, q[:prompt - 1].tolist()))}` | {got} | "
                     f"`{' '.join(_tokens(data, w[scored].tolist()))}` |")
    return charts.artifact(N_("Answers on test examples"), "markdown", "\n".join(lines),
                           N_("The model's likeliest token at each answer position (struck "
                              "through: wrong)."))


def _per_position(s: State, data: Data) -> dict:
    x, y = data.test
    y = y[:, s.offset:]
    pred = _logits(s, x).argmax(-1)
    scored = y[0] != -100
    acc = (pred == y).float().mean(0)[scored].cpu().numpy()
    fig = {"data": [{"type": "bar", "x": [f"{i + 1}" for i in range(len(acc))],
                     "y": np.round(acc, 4).tolist(), "marker": {"color": charts.BLUE},
                     "hovertemplate": "answer digit %{x}: %{y:.1%}<extra></extra>"}],
           "layout": {"template": "plotly_white", "height": 260,
                      "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                      "xaxis": {"title": {"text": N_("answer position")}, "type": "category"},
                      "yaxis": {"range": [0, 1], "tickformat": ".0%"}}}
    return charts.artifact(N_("Accuracy per answer position"), "plotly", fig,
                           N_("Over all {n:,} test examples. An example counts as right only "
                              "when every position is."), n=data.n_test)


def generate(s: State, data: Data, prompt: str, n: int = 240, temperature: float | None = None,
             top_k: int | None = None, seed: int = 0) -> str:
    """Text from a prompt, one character at a time, each drawn from the softmax of the last
    position's logits divided by the temperature, among the top-k (0 = all)."""
    chars = data.classes
    lookup = {c: i for i, c in enumerate(chars)}
    device = data.test[0].device
    gen = torch.Generator(device=device).manual_seed(seed)
    ids = torch.tensor([[lookup.get(c, 0) for c in prompt] or [0]], device=device)
    t = temperature if temperature is not None else s.cfg.temperature
    k = top_k if top_k is not None else s.cfg.top_k
    s.model.eval()
    try:
        for _ in range(n):
            logits = s.model(ids[:, -s.cfg.context:])[:, -1].float() / t     # (1, V)
            if k:
                kth = logits.topk(min(k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)
            ids = torch.cat([ids, nxt], 1)
    finally:
        s.model.train()
    return prompt + "".join(chars[i] for i in ids[0, len(prompt):].tolist())


PROMPT = "The "


def _samples(s: State, data: Data) -> dict:
    text = generate(s, data, PROMPT)
    return charts.artifact(N_("Generated text at temperature {temperature:g}"), "markdown",
                           charts.code_block(text),
                           N_("From the fixed prompt {prompt}, one character at a time, among "
                              "the {top_k} likeliest.") if s.cfg.top_k else
                           N_("From the fixed prompt {prompt}, one character at a time."),
                           temperature=s.cfg.temperature, prompt=repr(PROMPT),
                           top_k=s.cfg.top_k)


def artifacts(s: State, data: Data) -> dict[str, dict]:
    idx = _example(data, s.cfg.example)
    if s.cfg.task == "chars":
        return {"samples": _samples(s, data),
                "attention": _attention(
                    s, data, idx, N_("Attention on test text {example}"),
                    N_("Row: the character reading; column: the characters it attends to (only "
                       "earlier ones: causal). The first {shown} characters of the window."),
                    example=s.cfg.example, shown=SHOWN_TOKENS)}
    cross = isinstance(s.model, EncoderDecoder)
    return {"attention": _attention(
                s, data, idx, N_("Attention on test example {example}"),
                (N_("The decoder's attention over the question (rows: answer positions, "
                    "columns: question digits).") if cross else
                 N_("Row: the token reading; column: the tokens it attends to (causal: only "
                    "earlier ones). Reversing needs the anti-diagonal in the answer rows.")),
                example=s.cfg.example),
            "answers": _answers(s, data), "positions": _per_position(s, data)}


# ---------------------------------------------------------------------------------------------
# After training: a prompt of one's own, from the saved weights

def _finished(cfg: Config, model_path: str) -> tuple[Data, State]:
    from playground.engine import inference

    data = load_data(cfg)
    model = inference.load_weights(_make(cfg, _vocab(cfg, data)), model_path)
    offset = model.source if isinstance(model, EncoderDecoder) else 0
    return data, State(cfg, model.eval(), None, offset)


def _ask(s: State, data: Data, question: str) -> dict[str, dict]:
    """An algorithmic question typed as digits: the model's greedy answer and its attention."""
    cfg = s.cfg
    lookup = {c: i for i, c in enumerate(data.classes)}
    digits = [c for c in question if c in lookup and lookup[c] < cfg.base]
    if cfg.task == "addition":
        left, _, right = question.partition("+")
        a = [c for c in left if c in lookup and lookup[c] < cfg.base]
        b = [c for c in right if c in lookup and lookup[c] < cfg.base]
        ok = len(a) == len(b) == cfg.length
        tokens = a + ["+"] + b if ok else []
        want = f"two {cfg.length}-digit numbers joined by +, e.g. {'1' * cfg.length}+" \
               f"{'2' * cfg.length}"
    else:
        ok = len(digits) == cfg.length
        tokens = digits
        want = f"{cfg.length} digits (0-{data.classes[cfg.base - 1]})"
    if not ok:
        return {"answer": charts.artifact(N_("Not a question this run can answer"), "markdown",
                                          f"This run was trained on {cfg.task} of {want}.")}
    prompt, answer = algorithmic_layout(cfg.task, cfg.length)
    device = data.test[0].device
    ids = torch.tensor([[lookup[c] for c in tokens] + [cfg.base]], device=device)
    with torch.no_grad():
        for _ in range(answer):                                      # greedy, token by token
            ids = torch.cat([ids, s.model(ids)[:, -1].argmax(-1, keepdim=True)], 1)
        full = ids[:, :-1]
        got = _tokens(data, ids[0, prompt:].tolist())
        att = _attention(s, data, full, N_("Its attention"),
                         N_("Every layer and head while it answers."))
    return {"answer": charts.artifact(N_("The model's answer"), "markdown",
                                      f"`{' '.join(tokens)} =` **{' '.join(got)}**", ""),
            "attention": att}


def prompt_box(cfg: Config, model_path: str, text: str) -> dict[str, dict]:
    """chars: the next-character distribution after a prompt, the last character's attention
    over it, and a continuation. Algorithmic tasks: the answer to a typed question."""
    data, s = _finished(cfg, model_path)
    if cfg.task != "chars":
        return _ask(s, data, text)
    lookup = {c: i for i, c in enumerate(data.classes)}
    unknown = sorted({c for c in text if c not in lookup})
    text = "".join(c for c in text if c in lookup)[-cfg.context:] or PROMPT
    ids = torch.tensor([[lookup[c] for c in text]], device=data.test[0].device)
    with torch.no_grad():
        logits, maps = s.model.run(ids, weights=True)
    probs = torch.softmax(logits[0, -1].float() / cfg.temperature, -1).cpu().numpy()
    top = np.argsort(-probs)[:20]
    bars = {"data": [{"type": "bar", "x": [f"{_tokens(data, [i])[0]!s}" for i in top],
                      "y": np.round(probs[top], 4).tolist(), "marker": {"color": charts.BLUE},
                      "hovertemplate": "%{x}: %{y:.1%}<extra></extra>"}],
            "layout": {"template": "plotly_white", "height": 280,
                       "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                       "xaxis": {"type": "category", "title": {"text": N_("next character")}},
                       "yaxis": {"tickformat": ".0%"}}}
    shown = ids.shape[1]
    last = [[m[0, h, -1:, :].float().cpu().numpy() for h in range(m.shape[1])] for m in maps]
    toks = _tokens(data, ids[0].tolist())
    fig = charts.heatmap_grid(last, [f"layer {i + 1}" for i in range(len(last))],
                              [f"head {h + 1}" for h in range(len(last[0]))], toks, [toks[-1]],
                              cell_px=70)
    with torch.no_grad():
        more = generate(s, data, text, n=200)
    likeliest = (N_("The 20 likeliest, at temperature {temperature:g} (left out, not in this "
                    "run's alphabet: {unknown}).") if unknown else
                 N_("The 20 likeliest, at temperature {temperature:g}."))
    return {"next": charts.artifact(N_("Next character after {prompt}"), "plotly", bars,
                                    likeliest, prompt=repr(text[-30:]),
                                    temperature=cfg.temperature,
                                    unknown=" ".join(unknown)[:60]),
            "attention": charts.artifact(N_("What the last character attends to"), "plotly", fig,
                                         N_("Over the {shown} characters of the prompt, every "
                                            "layer and head."), shown=shown),
            "continuation": charts.artifact(N_("A continuation"), "markdown",
                                            charts.code_block(more),
                                            N_("Temperature {temperature:g}, top-k {top_k}.")
                                            if cfg.top_k else
                                            N_("Temperature {temperature:g}, top-k all."),
                                            temperature=cfg.temperature, top_k=cfg.top_k)}


def explore(cfg: Config, model_path: str, example: int) -> dict[str, dict]:
    data, s = _finished(cfg, model_path)
    with torch.no_grad():
        idx = _example(data, example)
        return {"attention": _attention(s, data, idx, N_("Attention on test example {example}"),
                                        N_("Every layer and head, from the finished run's "
                                           "weights."), example=int(example))}


explore_text = prompt_box            # EXPLORE's typed look: a question, or a prompt
