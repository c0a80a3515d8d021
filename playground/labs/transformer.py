"""Transformers. Every token looks at every other token at once: self-attention scores each pair
by softmax(q k^T / sqrt(d)) and mixes the values v by those weights, in several heads side by side
(Vaswani et al., "Attention is all you need", 2017). Attention ignores order, so a positional
encoding (learned, or the paper's sines) is added to each token's embedding. A GPT-style decoder
(Radford et al., 2018) stacks blocks of causal self-attention (a token sees only those before it)
and an MLP, each with a residual connection and layer norm, and predicts the next token.

**What the page shows.** The curves, the model's answers against the truth, and the attention
weights of every layer and head on one test example: to reverse a string, the answer's first
digit must look at the question's last, so a clean anti-diagonal forms. Turn the positional
encoding off and it cannot: without positions every digit looks the same wherever it sits.
The encoder-decoder of the paper (torch.nn.Transformer) is an `arch` choice for the same tasks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data
from playground.data import uploads
from playground.data.sequences import (ALGORITHMIC, algorithmic_layout, make_algorithmic,
                                       make_text, text_alphabet, token_windows)
from playground.engine.device import DEVICE_CHOICES
from playground.labs._shared import OPTIMIZERS, make_optimizer, text_exportable, text_stubs
from playground.params import param
from playground.ui import charts

TITLE, ICON, SECTION = "Transformer", "🔦", "Sequences & text"
TRY_THIS = ("Train the default (reverse 8 digits) and watch the attention maps of layer 1 draw an "
            "anti-diagonal: each answer digit looks at its mirror image in the question. Then "
            "press 'With vs without positional encoding': without positions it never forms and "
            "accuracy stays low.")

STAGE = ("task", "length", "pos_encoding", "layers")
TASKS = ALGORITHMIC + ("chars",)
ARCHS = ("decoder", "encoder-decoder")
POSITIONS = ("learned", "sinusoidal", "none")
SHOWN_TOKENS = 40                 # attention maps of longer contexts show the first 40 tokens


@dataclass(frozen=True)
class Config:
    task: str = param("reverse", choices=TASKS, group="Task",
                      help="reverse / sort / copy a string of digits, add two numbers (the sum "
                           "written least significant digit first), or chars: predict the next "
                           "character of English text.")
    length: int = param(8, lo=1, hi=64, group="Task", label="Digits",
                        help="Digits in the question (addition: in each number).")
    base: int = param(10, lo=2, hi=64, group="Task", label="Alphabet",
                      help="How many different digits (the number base for addition).")
    n_samples: int = param(10_000, lo=200, hi=200_000, group="Task", label="Examples",
                           help="Examples generated (80% train, 20% test); chars: the first "
                                "n x 40 characters of the text.")
    text_file: str = param("", upload=("txt",), group="Task", label="Your own text (.txt)",
                           when={"task": ("chars",)},
                           help="chars: train on a UTF-8 text of your own instead of the "
                                "built-in English (its alphabet is every character it uses).")
    arch: str = param("decoder", choices=ARCHS, group="Network", label="Architecture",
                      help="decoder: GPT-style, one causal stack reads question and answer. "
                           "encoder-decoder: the paper's torch.nn.Transformer, the encoder reads "
                           "the question, the decoder writes the answer.")
    layers: int = param(2, lo=1, hi=12, group="Network",
                        help="Transformer blocks (encoder-decoder: in each stack).")
    heads: int = param(4, lo=1, hi=16, group="Network",
                       help="Attention heads per layer; d_model must be divisible by it.")
    d_model: int = param(64, lo=8, hi=1024, group="Network", label="d_model",
                         help="Width of every token's vector.")
    mlp_ratio: int = param(4, lo=1, hi=8, group="Network", label="MLP ratio",
                           help="Hidden units of each block's MLP, as a multiple of d_model.")
    context: int = param(32, lo=4, hi=1024, group="Network", label="Context length",
                         help="The most tokens the model reads at once (chars: the window it "
                              "trains on). The algorithmic tasks need their whole example.")
    dropout: float = param(0.0, lo=0.0, hi=0.9, group="Network",
                           help="On attention weights, block outputs and embeddings.")
    pos_encoding: str = param("learned", choices=POSITIONS, group="Network",
                              label="Positional encoding",
                              help="learned: a trained vector per position. sinusoidal: the "
                                   "paper's fixed sines and cosines. none: no position at all.")
    tie_weights: bool = param(True, group="Network", label="Tie weights",
                              help="The output layer reuses the token embedding (fewer "
                                   "parameters; the usual choice in language models).")
    optimizer: str = param("adamw", choices=OPTIMIZERS, group="Training",
                           help="momentum = SGD with momentum 0.9.")
    lr: float = param(0.003, lo=1e-6, hi=10.0, log=True, group="Training",
                      label="Learning rate", help="Peak step size, after the warmup.")
    warmup: int = param(30, lo=0, hi=10_000, group="Training", label="Warmup steps",
                        help="The learning rate rises linearly from 0 over these steps, then "
                             "follows a cosine down to a tenth of its peak at the last step.")
    batch_size: int = param(64, lo=1, hi=4096, group="Training", help="Sequences per step.")
    steps: int = param(400, lo=1, hi=100_000, group="Training", help="Gradient steps.")
    clip: bool = param(True, group="Training", label="Gradient clipping",
                       help="Rescale the gradient when its norm exceeds max norm.")
    max_norm: float = param(1.0, lo=0.01, hi=100.0, log=True, group="Training",
                            label="Max norm", help="The clipping threshold.")
    example: int = param(0, lo=0, hi=999, group="Samples", label="Example shown",
                         help="The test example whose attention maps are drawn.")
    temperature: float = param(0.8, lo=0.05, hi=2.0, group="Samples",
                               when={"task": ("chars",)},
                               help="chars: sampling temperature of the generated text.")
    top_k: int = param(0, lo=0, hi=200, group="Samples", label="Top-k",
                       when={"task": ("chars",)},
                       help="chars: sample only among the k likeliest characters (0 = all).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same data, same initial weights, same curve.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Reverse 8 digits (default)": {},
    "Reverse without positional encoding": {"pos_encoding": "none"},
    "Sort 10 digits": {"task": "sort", "length": 10, "steps": 600},
    "Add two 4-digit numbers": {"task": "addition", "length": 4, "layers": 2, "d_model": 96,
                                "steps": 1500, "batch_size": 128, "n_samples": 20_000},
    "Characters, small (CPU)": {"task": "chars", "context": 64, "d_model": 64, "layers": 2,
                                "heads": 4, "steps": 1500, "batch_size": 32, "lr": 0.003,
                                "warmup": 100, "n_samples": 8000},
    "Characters, larger (GPU)": {"task": "chars", "context": 256, "d_model": 384, "layers": 6,
                                 "heads": 6, "dropout": 0.1, "steps": 5000, "batch_size": 64,
                                 "lr": 0.001, "warmup": 200, "n_samples": 50_000},
    "Encoder-decoder (the paper's shape)": {"arch": "encoder-decoder", "tie_weights": False},
}


def sequence_tokens(cfg: Config) -> int:
    """Tokens the model reads for one example: the question, '=' and the answer but its last."""
    if cfg.task == "chars":
        return cfg.context
    prompt, answer = algorithmic_layout(cfg.task, cfg.length)
    return prompt + answer - 1


def check(cfg: Config) -> list[str]:
    errors = []
    if cfg.d_model % cfg.heads:
        errors.append(f"d_model {cfg.d_model} is not divisible by {cfg.heads} heads: each head "
                      "gets d_model / heads dimensions. Pick, e.g., "
                      f"{cfg.heads * max(1, round(cfg.d_model / cfg.heads))}.")
    need = sequence_tokens(cfg)
    if cfg.task != "chars" and need > cfg.context:
        errors.append(f"{cfg.task} with {cfg.length} digits needs a context of {need} tokens "
                      f"(the question, '=' and the answer): raise the context length to {need} "
                      "or use fewer digits.")
    if cfg.arch == "encoder-decoder" and cfg.task == "chars":
        errors.append("The encoder-decoder needs a question and an answer: use it for reverse, "
                      "sort, copy or addition (chars is the decoder's task).")
    if cfg.task == "chars" and cfg.n_samples * 40 < 20 * (cfg.context + 1):
        errors.append(f"A context of {cfg.context} needs at least {20 * (cfg.context + 1):,} "
                      f"characters of text; {cfg.n_samples} examples give "
                      f"{cfg.n_samples * 40:,}: raise the examples or shorten the context.")
    return errors


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
# Model

def sinusoids(n: int, d: int) -> torch.Tensor:
    """The paper's encoding: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...)."""
    t = torch.arange(n, dtype=torch.float32)[:, None]                        # (n, 1)
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq)[:, :d // 2]
    return pe                                                                # (n, d)


class Positions(nn.Module):
    """What tells the model where a token sits: learned vectors, fixed sines, or nothing."""

    def __init__(self, kind: str, context: int, d: int):
        super().__init__()
        self.kind = kind
        if kind == "learned":
            self.table = nn.Embedding(context, d)
        elif kind == "sinusoidal":
            self.register_buffer("table_", sinusoids(context, d), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:               # (B, T, d)
        T = tokens.shape[1]
        if self.kind == "learned":
            return tokens + self.table(torch.arange(T, device=tokens.device))
        if self.kind == "sinusoidal":
            return tokens + self.table_[:T]
        return tokens


class Attend(nn.Module):
    """softmax(q k^T / sqrt(d)) v in one fused call (flash or memory-efficient kernels where the
    device has them). A module of its own so the model summary counts its multiply-adds."""

    macs_per_output = 0

    def forward(self, q, k, v, dropout: float, causal: bool):              # (B, H, T, d_head)
        self.macs_per_output = 2 * k.shape[-2]          # q k^T, then the weights times v
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=causal)


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(d, 3 * d)          # queries, keys and values of all heads at once
        self.attend = Attend()
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, weights: bool = False):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                                # (B, T, C) each
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2)
                   for t in (q, k, v))                                       # (B, H, T, C/H)
        att = None
        if weights:
            # the same computation written out, to return the weights for the pictures
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.heads)  # (B, H, T, T)
            future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            att = scores.masked_fill(future, float("-inf")).softmax(-1)
            y = att @ v
        else:
            y = self.attend(q, k, v, self.dropout if self.training else 0.0, True)
        y = y.transpose(1, 2).reshape(B, T, C)                               # heads side by side
        return self.drop(self.proj(y)), att


class Block(nn.Module):
    """x + attention(norm(x)), then x + MLP(norm(x)): the pre-norm block of GPT-2."""

    def __init__(self, d: int, heads: int, ratio: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d, ratio * d), nn.GELU(), nn.Linear(ratio * d, d),
                                 nn.Dropout(dropout))

    def forward(self, x, weights: bool = False):
        a, att = self.attn(self.ln1(x), weights)
        x = x + a
        return x + self.mlp(self.ln2(x)), att


class Decoder(nn.Module):
    """GPT: token embedding + position -> blocks -> layer norm -> next-token logits."""

    def __init__(self, cfg: Config, vocab: int):
        super().__init__()
        d = cfg.d_model
        self.embed = nn.Embedding(vocab, d)
        self.pos = Positions(cfg.pos_encoding, cfg.context, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio, cfg.dropout)
                                    for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        if cfg.tie_weights:
            self.head.weight = self.embed.weight
        self.apply(_init)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:                   # (B, T) -> (B, T, V)
        return self.run(idx)[0]

    def run(self, idx: torch.Tensor, weights: bool = False):
        """(logits, [attention weights (B, H, T, T) per layer] when asked)."""
        x = self.drop(self.pos(self.embed(idx)))                             # (B, T, d)
        maps = []
        for block in self.blocks:
            x, att = block(x, weights)
            maps.append(att)
        return self.head(self.ln(x)), maps


class EncoderDecoder(nn.Module):
    """The paper's shape with torch.nn.Transformer: the encoder reads the question, the decoder
    reads '=' and the answer so far. It takes the same token sequences as the decoder and
    returns logits for the answer positions only."""

    def __init__(self, cfg: Config, vocab: int, prompt: int):
        super().__init__()
        d = cfg.d_model
        self.source = prompt - 1                  # question tokens; '=' starts the decoder
        self.embed = nn.Embedding(vocab, d)
        self.pos = Positions(cfg.pos_encoding, cfg.context, d)
        self.core = nn.Transformer(d, cfg.heads, cfg.layers, cfg.layers, cfg.mlp_ratio * d,
                                   cfg.dropout, batch_first=True)
        self.head = nn.Linear(d, vocab, bias=False)
        if cfg.tie_weights:
            self.head.weight = self.embed.weight

    def inputs(self, idx):
        src, tgt = idx[:, :self.source], idx[:, self.source:]                # question | = answer
        return self.pos(self.embed(src)), self.pos(self.embed(tgt))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:                   # -> (B, A, V)
        src, tgt = self.inputs(idx)
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], device=idx.device)
        return self.head(self.core(src, tgt, tgt_mask=mask, tgt_is_causal=True))

    def cross_attention(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Each decoder layer's attention over the question, (B, H, A, S), recomputed layer by
        layer from the trained weights (nn.Transformer does not return them)."""
        src, tgt = self.inputs(idx)
        memory = self.core.encoder(src)
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], device=idx.device)
        maps, t = [], tgt
        for layer in self.core.decoder.layers:                       # post-norm layers
            h = layer.norm1(t + layer.self_attn(t, t, t, attn_mask=mask, need_weights=False)[0])
            maps.append(layer.multihead_attn(h, memory, memory, need_weights=True,
                                             average_attn_weights=False)[1])
            t = layer(t, memory, tgt_mask=mask, tgt_is_causal=True)
        return maps


def _init(m: nn.Module) -> None:
    """GPT-2's initialisation: small normal weights, zero biases."""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)


def _own_text(cfg: Config) -> str | None:
    """chars: the visitor's uploaded text (None: the built-in English)."""
    return uploads.load(cfg.text_file) if cfg.text_file else None


def _alphabet(cfg: Config) -> int:
    return text_alphabet(cfg.text_file)


exportable, export_stubs = text_exportable, text_stubs      # uploads stay out of scripts



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


def _attention(s: State, data: Data, idx: torch.Tensor, title: str, caption: str) -> dict:
    maps, rows, cols = attention_maps(s, data, idx)
    mats = [[m[h].float().cpu().numpy() for h in range(m.shape[0])] for m in maps]
    layers = len(mats)
    fig = charts.heatmap_grid(mats, [f"layer {i + 1}" for i in range(layers)],
                              [f"head {h + 1}" for h in range(len(mats[0]))], cols, rows,
                              cell_px=max(140, min(240, 900 // max(1, len(mats[0])))))
    return charts.artifact(title, "plotly", fig, caption)


def _example(data: Data, i: int) -> torch.Tensor:
    return data.test[0][i % data.n_test: i % data.n_test + 1]


def _answers(s: State, data: Data, n: int = 6) -> dict:
    x, y = data.test[0][:n], data.test[1][:n]
    pred = _logits(s, x).argmax(-1).cpu()
    want = y[:, s.offset:].cpu()
    prompt = data.extra["prompt_len"]
    lines = ["| question | answer | truth |", "|---|---|---|"]
    for q, p, w in zip(x.cpu(), pred, want):
        scored = w != -100
        got = " ".join(t if a == b else f"~~{t}~~"
                       for t, a, b in zip(_tokens(data, p[scored].tolist()), p[scored], w[scored]))
        lines.append(f"| `{' '.join(_tokens(data, q[:prompt - 1].tolist()))}` | {got} | "
                     f"`{' '.join(_tokens(data, w[scored].tolist()))}` |")
    return charts.artifact("Answers on test examples", "markdown", "\n".join(lines),
                           "The model's likeliest token at each answer position (struck "
                           "through: wrong).")


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
                      "xaxis": {"title": {"text": "answer position"}, "type": "category"},
                      "yaxis": {"range": [0, 1], "tickformat": ".0%"}}}
    return charts.artifact("Accuracy per answer position", "plotly", fig,
                           f"Over all {data.n_test:,} test examples. An example counts as right "
                           "only when every position is.")


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
    return charts.artifact(f"Generated text at temperature {s.cfg.temperature:g}", "markdown",
                           charts.code_block(text),
                           f"From the fixed prompt {PROMPT!r}, one character at a time"
                           + (f", among the {s.cfg.top_k} likeliest." if s.cfg.top_k else "."))


def artifacts(s: State, data: Data) -> dict[str, dict]:
    idx = _example(data, s.cfg.example)
    if s.cfg.task == "chars":
        return {"samples": _samples(s, data),
                "attention": _attention(
                    s, data, idx, f"Attention on test text {s.cfg.example}",
                    "Row: the character reading; column: the characters it attends to (only "
                    f"earlier ones: causal). The first {SHOWN_TOKENS} characters of the window.")}
    cross = isinstance(s.model, EncoderDecoder)
    return {"attention": _attention(
                s, data, idx, f"Attention on test example {s.cfg.example}",
                ("The decoder's attention over the question (rows: answer positions, columns: "
                 "question digits)." if cross else
                 "Row: the token reading; column: the tokens it attends to (causal: only "
                 "earlier ones). Reversing needs the anti-diagonal in the answer rows.")),
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
        return {"answer": charts.artifact("Not a question this run can answer", "markdown",
                                          f"This run was trained on {cfg.task} of {want}.")}
    prompt, answer = algorithmic_layout(cfg.task, cfg.length)
    device = data.test[0].device
    ids = torch.tensor([[lookup[c] for c in tokens] + [cfg.base]], device=device)
    with torch.no_grad():
        for _ in range(answer):                                      # greedy, token by token
            ids = torch.cat([ids, s.model(ids)[:, -1].argmax(-1, keepdim=True)], 1)
        full = ids[:, :-1]
        got = _tokens(data, ids[0, prompt:].tolist())
        att = _attention(s, data, full, "Its attention", "Every layer and head while it answers.")
    return {"answer": charts.artifact("The model's answer", "markdown",
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
                       "xaxis": {"type": "category", "title": {"text": "next character"}},
                       "yaxis": {"tickformat": ".0%"}}}
    shown = ids.shape[1]
    last = [[m[0, h, -1:, :].float().cpu().numpy() for h in range(m.shape[1])] for m in maps]
    toks = _tokens(data, ids[0].tolist())
    fig = charts.heatmap_grid(last, [f"layer {i + 1}" for i in range(len(last))],
                              [f"head {h + 1}" for h in range(len(last[0]))], toks, [toks[-1]],
                              cell_px=70)
    with torch.no_grad():
        more = generate(s, data, text, n=200)
    note = f" (left out, not in this run's alphabet: {' '.join(unknown)[:60]})" if unknown else ""
    return {"next": charts.artifact(f"Next character after {text[-30:]!r}", "plotly", bars,
                                    f"The 20 likeliest, at temperature {cfg.temperature:g}{note}."),
            "attention": charts.artifact("What the last character attends to", "plotly", fig,
                                         f"Over the {shown} characters of the prompt, every "
                                         "layer and head."),
            "continuation": charts.artifact("A continuation", "markdown", charts.code_block(more),
                                            f"Temperature {cfg.temperature:g}, top-k "
                                            f"{cfg.top_k or 'all'}.")}


def explore(cfg: Config, model_path: str, example: int) -> dict[str, dict]:
    data, s = _finished(cfg, model_path)
    with torch.no_grad():
        idx = _example(data, example)
        return {"attention": _attention(s, data, idx, f"Attention on test example {example}",
                                        "Every layer and head, from the finished run's weights.")}


EXPLORE = {"title": "Ask the finished model", "field": "example", "fn": explore,
           "help": "Another test example's attention maps (nothing is retrained).",
           "text_fn": prompt_box, "text_label": "Type a question (or, for chars, a prompt)",
           "options": lambda cfg: ("temperature", "top_k") if cfg.task == "chars" else (),
           "text_help": "reverse / sort / copy: the digits, e.g. 31415926. addition: 1234+5678. "
                        "chars: any text; shows the next-character distribution, what the last "
                        "character attends to, and a continuation."}

CURVES = (("token_acc", "Token accuracy", False), ("lr", "Learning rate", False))


# ---------------------------------------------------------------------------------------------
# The comparison

def _with_and_without_positions(cfg: Config, earlier: list[str]) -> Config | None:
    plan = (cfg.pos_encoding if cfg.pos_encoding != "none" else "learned", "none")
    return replace(cfg, pos_encoding=plan[len(earlier)]) if len(earlier) < 2 else None


def comparison_table(runs) -> tuple[list[dict], str]:
    rows, score = [], {}
    for name, info in runs:
        final = info.status.get("final") or {}
        score[name] = final.get("val/acc")
        rows.append({"positions": name, "status": info.status.get("status"),
                     "test accuracy": final.get("val/acc"), "test loss": final.get("val/loss"),
                     "seconds": info.status.get("seconds")})
    if not runs or any(v is None for v in score.values()):
        return rows, "The comparison is incomplete: a run did not finish."
    (a, acc_a), (b, acc_b) = list(score.items())[:2]
    if acc_a - acc_b > 0.2:
        return rows, (f"With positions: {acc_a:.0%} of test answers right; without: {acc_b:.0%}. "
                      "Attention alone cannot tell where a token sits, so it cannot find the "
                      "mirror digit.")
    return rows, f"{a}: {acc_a:.0%}, {b}: {acc_b:.0%}."


COMPARE = {"label": "With vs without positional encoding", "names": ("with positions",
                                                                      "no positions"),
           "plan": _with_and_without_positions, "table": comparison_table, "views": ("attention",)}

DEMOS = {"positions": {"compare": True,
                       "title": "Reversing digits with and without positional encoding"}}
