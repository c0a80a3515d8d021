"""The transformer's networks: positions, attention, GPT's decoder and the paper's
encoder-decoder."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from playground.labs.transformer import Config


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

