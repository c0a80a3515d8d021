"""The RNN's torch part: the sequences as tensors, the recurrent network, one step, the pictures."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data
from playground.data import uploads
from playground.data.sequences import (make_adding, make_copy, make_series, make_text,
                                       text_alphabet, token_windows)
from playground.engine.device import full_precision
from playground.i18n import N_
from playground.labs._shared import make_optimizer
from playground.labs.rnn import MEAN_GUESS_MSE, Config
from playground.labs.rnn.sentiment import (SentimentNet, ask, load_sentiment,
                                           loss_and_accuracy, network, sentiment_views,
                                           word_vectors)
from playground.ui import charts


# ---------------------------------------------------------------------------------------------
# Data

def load_data(cfg: Config) -> Data:
    if cfg.task == "adding":
        return make_adding(cfg.n_samples, cfg.seq_len, cfg.seed)
    if cfg.task == "copy":
        return make_copy(cfg.n_samples, cfg.seq_len, cfg.n_copy, cfg.n_symbols, cfg.seed)
    if cfg.task == "series":
        return make_series(cfg.n_samples, cfg.seq_len, cfg.series, cfg.noise, cfg.seed)
    if cfg.task == "sentiment":
        return load_sentiment(cfg)
    text = _own_text(cfg)
    return make_text(cfg.seq_len, max_chars=cfg.n_samples * 40, text=text,
                     name=f"upload:{cfg.text_file}" if text else "")


def _own_text(cfg: Config) -> str | None:
    """chars: the visitor's uploaded text (None: the built-in English)."""
    return uploads.load(cfg.text_file) if cfg.text_file else None


def _alphabet(cfg: Config) -> int:
    return text_alphabet(cfg.text_file)


draw_batch = token_windows       # chars cuts its own batches; other tasks are sequence lists


# ---------------------------------------------------------------------------------------------
# Model

class SeqModel(nn.Module):
    """Inputs -> (embedding) -> stacked RNN/LSTM/GRU -> a linear read-out at every step."""

    def __init__(self, cfg: Config, n_in: int, n_out: int, vocab: int = 0):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab, cfg.embedding) if vocab else None
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cfg.cell]
        self.rnn = cls(cfg.embedding if vocab else n_in, cfg.hidden_size, num_layers=cfg.layers,
                       batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0,
                       bidirectional=cfg.bidirectional)
        self.head = nn.Linear(cfg.hidden_size * (2 if cfg.bidirectional else 1), n_out)

    def inputs(self, x):
        return self.embed(x) if self.embed is not None else x          # (B, T, E or n_in)

    def forward(self, x, from_inputs: bool = False):
        """(B, T) tokens or (B, T, n_in) values -> (B, T, n_out). `from_inputs`: x is already
        embedded (the gradient with respect to each step is taken there)."""
        return self.head(self._run(x if from_inputs else self.inputs(x)))

    def hidden(self, x):
        return self._run(self.inputs(x))

    def _run(self, x):
        """(B, T, H * dirs): the cells in fp32 under autocast, which would run cuDNN's in fp16
        with no scaler: the gradients this page is about would underflow or overflow."""
        with full_precision(x):
            return self.rnn(x.float())[0]


def _shape(cfg: Config, data: Data | None = None) -> tuple[int, int, int]:
    """(inputs per step, outputs per step, vocabulary) of the task."""
    if cfg.task == "adding":
        return 2, 1, 0
    if cfg.task == "series":
        return 1, 1, 0
    if cfg.task == "copy":
        vocab = 2 + cfg.n_symbols
        return vocab, vocab, vocab
    vocab = data.num_classes if data is not None else _alphabet(cfg)
    return vocab, vocab, vocab


def blueprint(cfg: Config):
    if cfg.task == "sentiment":
        return network(cfg), torch.ones((2, cfg.seq_len), dtype=torch.long)
    n_in, n_out, vocab = _shape(cfg)
    length = cfg.n_copy * 2 + cfg.seq_len + 1 if cfg.task == "copy" else cfg.seq_len
    example = (torch.zeros((2, length), dtype=torch.long) if vocab
               else torch.zeros((2, length, n_in)))
    return SeqModel(cfg, n_in, n_out, vocab), example


@dataclass
class State:
    cfg: Config
    model: SeqModel | SentimentNet
    opt: torch.optim.Optimizer
    task: str
    covered: tuple[int, int] | None = None      # sentiment: (words from Word2Vec, vocabulary)


def build(cfg: Config, data: Data) -> State:
    device = data.test[0].device
    covered = None
    if cfg.task == "sentiment":
        vocab = data.extra["vocab"]
        model = SentimentNet(cfg, cfg.vocab_size, data.num_classes).to(device)
        if cfg.embedding_run:
            vectors, known = word_vectors(cfg, vocab)
            model.start_from(vectors, known)
            covered = (int(known.sum()), len(vocab) - 2)
    else:
        n_in, n_out, vocab = _shape(cfg, data)
        model = SeqModel(cfg, n_in, n_out, vocab).to(device)
    trained = [p for p in model.parameters() if p.requires_grad]
    return State(cfg, model, make_optimizer(cfg.optimizer, trained, cfg.lr), cfg.task, covered)


# ---------------------------------------------------------------------------------------------
# Training

def _loss(s: State, out: torch.Tensor, y: torch.Tensor):
    """(loss, accuracy or None) of outputs (B, T, n_out) against the task's targets."""
    if s.task == "adding":
        return F.mse_loss(_last(s, out), y), None
    if s.task == "series":
        return F.mse_loss(out[..., 0], y), None
    if s.task == "sentiment":
        return loss_and_accuracy(out, y)
    logits = out.reshape(-1, out.shape[-1])
    target = y.reshape(-1)
    loss = F.cross_entropy(logits, target, ignore_index=-100)
    seen = target != -100
    acc = ((logits.argmax(1) == target) & seen).sum() / seen.sum().clamp_min(1)
    return loss, acc


def _last(s: State, out: torch.Tensor) -> torch.Tensor:
    """The answer of a sequence-level task: the read-out after the last step."""
    return out[:, -1, 0]


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch
    loss, acc = _loss(s, s.model(x), y)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    if s.cfg.clip:
        nn.utils.clip_grad_norm_(s.model.parameters(), s.cfg.max_norm, foreach=True)
    s.opt.step()
    out = {"train/loss": loss.detach()}
    if acc is not None:
        out["train/acc"] = acc
    return out


def _outputs(s: State, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    s.model.eval()
    try:
        return torch.cat([s.model(x[i:i + chunk]) for i in range(0, len(x), chunk)])
    finally:
        s.model.train()


def evaluate(s: State, data: Data) -> dict[str, float]:
    x, y = data.test
    loss, acc = _loss(s, _outputs(s, x), y)
    if acc is None:
        (loss,) = torch.stack([loss]).tolist()
        return {"val/loss": loss, "val/mse": loss}
    loss, acc = torch.stack([loss, acc.float()]).tolist()
    return {"val/loss": loss, "val/acc": acc}


# ---------------------------------------------------------------------------------------------
# What the page shows

SHOWN_UNITS = 32


def _input_gradient(s: State, data: Data, n: int = 256) -> dict:
    """|dL/dx_t|: how much the loss still depends on each input step, averaged over test
    sequences. The vanishing gradient, made visible."""
    x, y = data.test[0][:n], data.test[1][:n]
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
        inputs = s.model.inputs(x).detach().requires_grad_(True)           # (B, T, E)
        loss, _ = _loss(s, s.model(inputs, from_inputs=True), y)
        (grad,) = torch.autograd.grad(loss, inputs)
    per_step = grad.norm(dim=-1).mean(0).clamp_min(1e-12).cpu().numpy()      # (T,)
    fig = charts.curves({"|dL/dx_t|": (list(range(1, len(per_step) + 1)), per_step.tolist())},
                        "", x_title=N_("input step t"),
                        y_title="|dL/dx_t|", log_y=True)
    return charts.artifact(
        N_("Gradient of the loss w.r.t. each input step"), "plotly", fig,
        N_("Log scale. A plain RNN's gradient shrinks by a constant factor per step back in "
           "time, so the early steps (left) get almost nothing: it cannot learn what they say. "
           "An LSTM's or GRU's cell carries it back."))


def _heatmap(z: np.ndarray, title: str, y_title: str, zmid: float | None = 0.0) -> dict:
    fig = {"data": [{"type": "heatmap", "z": np.round(z, 3).tolist(),
                     "colorscale": charts.DIVERGING if zmid is not None else "Viridis",
                     **({"zmid": zmid} if zmid is not None else {"zmin": 0, "zmax": 1})}],
           "layout": {"template": "plotly_white", "height": 300, "title": {"text": title},
                      "margin": {"l": 50, "r": 10, "t": 36, "b": 40},
                      "xaxis": {"title": {"text": N_("step t")}},
                      "yaxis": {"title": {"text": y_title}}}}
    return fig


def _hidden(s: State, data: Data) -> dict:
    s.model.eval()
    h = s.model.hidden(data.test[0][:1])[0, :, :SHOWN_UNITS].float().cpu().numpy()  # (T, U)
    s.model.train()
    return charts.artifact(N_("Hidden state over time"), "plotly",
                           _heatmap(h.T, "", N_("unit"), 0.0),
                           N_("The first {units} units of the last layer's hidden state while "
                              "it reads test sequence 0 (blue negative, orange positive)."),
                           units=int(h.shape[1]))


def _gates(s: State, data: Data) -> dict | None:
    """The first layer's gates for test sequence 0, recomputed from the trained weights."""
    cell = s.cfg.cell
    if cell == "rnn":
        return None
    rnn = s.model.rnn
    x = s.model.inputs(data.test[0][:1])[0].float()                          # (T, E)
    w_ih, w_hh = rnn.weight_ih_l0.float(), rnn.weight_hh_l0.float()
    b_ih, b_hh = rnn.bias_ih_l0.float(), rnn.bias_hh_l0.float()
    H = s.cfg.hidden_size
    h = torch.zeros(H, device=x.device)
    c = torch.zeros(H, device=x.device)
    rows: dict[str, list] = {}
    for x_t in x:
        gi, gh = w_ih @ x_t + b_ih, w_hh @ h + b_hh                          # (G * H,)
        if cell == "lstm":                                   # torch's order: i, f, g, o
            i, f, g, o = (gi + gh).split(H)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            gates = {N_("input gate i"): i, N_("forget gate f"): f, N_("output gate o"): o}
        else:                                                # torch's order: r, z, n
            r_i, z_i, n_i = gi.split(H)
            r_h, z_h, n_h = gh.split(H)
            r, z = (r_i + r_h).sigmoid(), (z_i + z_h).sigmoid()
            n = (n_i + r * n_h).tanh()
            h = (1 - z) * n + z * h
            gates = {N_("reset gate r"): r, N_("update gate z"): z}
        for name, v in gates.items():
            rows.setdefault(name, []).append(v[:SHOWN_UNITS].cpu().numpy())
    names = list(rows)
    z = np.concatenate([np.stack(rows[n], 1) for n in names], 0)            # (gates * U, T)
    fig = _heatmap(z, "", "", None)
    fig["layout"]["margin"]["l"] = 100                       # room for the gate names
    units = min(H, SHOWN_UNITS)
    fig["layout"]["yaxis"].update(tickvals=[units * k + units / 2 for k in range(len(names))],
                                  ticktext=names)
    caption = (N_("Each gate's activation (0 to 1) for the first {units} units while the first "
                  "layer reads test sequence 0: the forget gate near 1 is the cell remembering.")
               if cell == "lstm" else
               N_("Each gate's activation (0 to 1) for the first {units} units while the first "
                  "layer reads test sequence 0: z near 1 keeps the old state."))
    return charts.artifact(N_("{cell} gates over time"), "plotly", fig, caption,
                           cell=cell.upper(), units=units)


def _adding_view(s: State, data: Data) -> dict:
    pred = _last(s, _outputs(s, data.test[0][:300])).float().cpu().numpy()
    true = data.test[1][:300].float().cpu().numpy()
    fig = {"data": [{"type": "scatter", "mode": "markers", "x": true.tolist(), "y": pred.tolist(),
                     "name": N_("test sequences"), "marker": {"size": 5, "opacity": 0.6}},
                    {"type": "scatter", "mode": "lines", "x": [0, 2], "y": [0, 2],
                     "name": N_("perfect"), "line": {"dash": "dot", "color": "gray"}},
                    {"type": "scatter", "mode": "lines", "x": [0, 2], "y": [1, 1],
                     "name": N_("guessing the mean"),
                     "line": {"dash": "dash", "color": charts.ORANGE}}],
           "layout": {"template": "plotly_white", "height": 320,
                      "margin": {"l": 50, "r": 10, "t": 20, "b": 40},
                      "xaxis": {"title": {"text": N_("true sum")}, "range": [0, 2]},
                      "yaxis": {"title": {"text": N_("predicted")}, "range": [-0.2, 2.2]},
                      "legend": {"orientation": "h", "y": -0.25}}}
    return charts.artifact(N_("Predicted vs true sums"), "plotly", fig,
                           N_("300 test sequences. A network that has not found the two marked "
                              "numbers answers about 1.0 (the mean) for all: MSE {mse:.3f}."),
                           mse=MEAN_GUESS_MSE)


def _copy_view(s: State, data: Data) -> dict:
    x, y = data.test[0][:6], data.test[1][:6]
    n_copy = data.extra["n_copy"]
    pred = _outputs(s, x).argmax(-1)[:, -n_copy:].cpu().numpy()
    want = y[:, -n_copy:].cpu().numpy()
    sym = lambda v: chr(ord("A") + int(v) - 2)                               # noqa: E731
    lines = ["| " + " | ".join((N_("to remember"), N_("recalled"))) + " |", "|---|---|"]
    for w, p in zip(want, pred):
        got = " ".join(sym(a) if a == b else f"~~{sym(a) if a >= 2 else '·'}~~"
                       for a, b in zip(p, w))
        lines.append(f"| `{' '.join(sym(v) for v in w)}` | {got} |")
    return charts.artifact(N_("Recall on test sequences"), "markdown", "\n".join(lines),
                           N_("The symbols shown before a delay of {delay} blank steps, and what "
                              "the network recalls after the go signal (struck through: wrong)."),
                           delay=s.cfg.seq_len)


def _series_view(s: State, data: Data, horizon: int = 80) -> dict:
    """One-step forecasts over the test part of the series, then a free-running rollout: the
    model fed its own predictions past the end of what it has seen."""
    series, cut = data.extra["series"], data.extra["cut"]
    T = s.cfg.seq_len
    test = series[cut:].to(data.test[0].device)
    shown = min(len(test) - 1, 200)
    s.model.eval()
    one_step = s.model(test[None, :shown, None])[0, :, 0]                    # (shown,)
    context = test[None, :shown, None]
    rollout = []
    for _ in range(min(horizon, len(test) - shown)):
        nxt = s.model(context[:, -T:])[:, -1:, :]                           # (1, 1, 1)
        rollout.append(nxt)
        context = torch.cat([context, nxt], 1)
    s.model.train()
    t = list(range(len(test)))
    free = torch.cat(rollout, 1)[0, :, 0].cpu().numpy() if rollout else np.zeros(0)
    truth = test[:shown + len(free)].cpu().numpy()
    fig = {"data": [
        {"type": "scatter", "mode": "lines", "name": N_("truth"), "x": t[:len(truth)],
         "y": truth.tolist(), "line": {"color": "gray"}},
        {"type": "scatter", "mode": "lines", "name": N_("one-step forecast"),
         "x": t[1:shown + 1],
         "y": one_step.cpu().numpy().tolist(), "line": {"color": charts.BLUE}},
        {"type": "scatter", "mode": "lines", "name": N_("free-running rollout"),
         "x": t[shown:shown + len(free)], "y": free.tolist(),
         "line": {"color": charts.ORANGE, "dash": "dot"}}],
        "layout": {"template": "plotly_white", "height": 320,
                   "margin": {"l": 50, "r": 10, "t": 20, "b": 40},
                   "xaxis": {"title": {"text": N_("time (test part of the series)")}},
                   "legend": {"orientation": "h", "y": -0.25}}}
    return charts.artifact(N_("Forecast vs truth"), "plotly", fig,
                           N_("Blue: each value predicted from the true values before it. "
                              "Orange: past step {shown} the model is fed its own predictions "
                              "({steps} steps): errors compound, and a chaotic series drifts "
                              "away."), shown=shown, steps=len(free))


def sample_text(s: State, data: Data, prompt: str = "The ", n: int = 240,
                temperature: float | None = None, seed: int = 0) -> str:
    chars = data.classes
    lookup = {c: i for i, c in enumerate(chars)}
    device = data.test[0].device
    gen = torch.Generator(device=device).manual_seed(seed)
    ids = torch.tensor([[lookup.get(c, 0) for c in prompt]], device=device)
    t = temperature if temperature is not None else s.cfg.temperature
    s.model.eval()
    out, state = [], None
    x = s.model.embed(ids)
    for _ in range(n):
        h, state = s.model.rnn(x, state)
        logits = s.model.head(h[:, -1]).float() / t                         # (1, V)
        nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)  # (1, 1)
        out.append(int(nxt))
        x = s.model.embed(nxt)
    s.model.train()
    return prompt + "".join(chars[i] for i in out)


def _chars_view(s: State, data: Data) -> dict:
    samples = [sample_text(s, data, prompt, seed=i)
               for i, prompt in enumerate(("The ", "A function "))]
    body = "\n\n".join(charts.code_block(t) for t in samples)
    return charts.artifact(N_("Samples at temperature {temperature:g}"), "markdown", body,
                           N_("Generated one character at a time from the prompt, each drawn "
                              "from the model's softmax divided by the temperature."),
                           temperature=s.cfg.temperature)


def artifacts(s: State, data: Data) -> dict[str, dict]:
    if s.task == "sentiment":
        return sentiment_views(s.model, data, s.covered)
    view = {"adding": _adding_view, "copy": _copy_view, "series": _series_view,
            "chars": _chars_view}[s.task]
    out = {"predictions": view(s, data), "gradient": _input_gradient(s, data),
           "hidden": _hidden(s, data)}
    gates = _gates(s, data)
    if gates:
        out["gates"] = gates
    return out


explore_text = ask          # EXPLORE (sentiment): a typed sentence to the finished model
