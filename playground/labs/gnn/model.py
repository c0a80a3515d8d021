"""The GNN's torch part: the graphs as tensors, the graph layers, a whole-graph step, the views."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, graphs
from playground.data.graphs import cora, karate, sbm
from playground.data.images import data_dir
from playground.engine.device import full_precision
from playground.i18n import N_
from playground.labs.gnn import Config
from playground.ui import charts


# ---------------------------------------------------------------------------------------------
# Data

def load_data(cfg: Config) -> Data:
    if cfg.graph == "karate":
        return karate()
    if cfg.graph == "sbm":
        return sbm(cfg.communities, cfg.community_size, cfg.p_in, cfg.p_out,
                          cfg.feature_noise, cfg.labels_per_class, cfg.seed)
    return cora(data_dir())


def operators(edges: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A_hat, M): the GCN's D^-1/2 (A + I) D^-1/2 and the neighbours' mean (rows of A summing to
    1; an isolated node's row is 0), sparse, on the edges' device."""
    both = torch.cat([edges, edges.flip(1)]) if len(edges) else edges.reshape(0, 2)
    loops = torch.arange(n, device=edges.device)
    idx = torch.cat([both, torch.stack([loops, loops], 1)])
    deg = torch.bincount(idx[:, 0], minlength=n).float()
    norm = deg.rsqrt()
    a_hat = torch.sparse_coo_tensor(idx.T, norm[idx[:, 0]] * norm[idx[:, 1]], (n, n),
                                    check_invariants=True)
    deg0 = torch.bincount(both[:, 0], minlength=n).float().clamp_min(1)
    mean = torch.sparse_coo_tensor(both.T, 1 / deg0[both[:, 0]], (n, n), check_invariants=True)
    return a_hat.coalesce(), mean.coalesce()


# ---------------------------------------------------------------------------------------------
# Models

def _dropout(h: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout that keeps a sparse input sparse: only its stored entries are dropped (Cora's
    bag-of-words is 1% filled; a dense mask over it cost 25 ms of every 30 ms step)."""
    if not h.is_sparse:
        return F.dropout(h, p, training)
    if not training or p == 0:
        return h
    return torch.sparse_coo_tensor(h.indices(), F.dropout(h.values(), p, True), h.shape,
                                   is_coalesced=True, check_invariants=False)


def _apply(lin: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """lin(h) for a dense or a sparse h (the module is called when it can be: its hooks see it)."""
    if not h.is_sparse:
        return lin(h)
    with full_precision(h):
        z = torch.sparse.mm(h, lin.weight.float().t())
    return z if lin.bias is None else z + lin.bias


def _mix(graph: torch.Tensor | None, h: torch.Tensor) -> torch.Tensor:
    """graph @ h: a sparse product, in fp32 under autocast (CUDA has no bf16 kernel for it)."""
    if graph is None:
        return h
    with full_precision(h):
        return torch.sparse.mm(graph, h.float())


class GraphNet(nn.Module):
    """`layers` linear maps; between them the graph mixes the nodes (gcn: A_hat H W + b; sage:
    H W_self + mean(neighbours' H) W_neigh + b; mlp: H W + b). The weights apply before the
    mixing - the same result with fewer columns to mix. `graph` is set by build, not saved."""

    def __init__(self, cfg: Config, n_in: int, n_out: int):
        super().__init__()
        self.kind, self.dropout = cfg.model, cfg.dropout
        widths = list(zip([n_in] + [cfg.hidden] * (cfg.layers - 1),
                          [cfg.hidden] * (cfg.layers - 1) + [n_out]))
        # the GCN adds its bias after the mixing, as Kipf & Welling's layer does
        self.lins = nn.ModuleList(nn.Linear(a, b, bias=cfg.model != "gcn") for a, b in widths)
        self.neigh = (nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in widths)
                      if cfg.model == "sage" else None)
        self.bias = (nn.ParameterList(nn.Parameter(torch.zeros(b)) for _, b in widths)
                     if cfg.model == "gcn" else None)
        self.graph: tuple[torch.Tensor, torch.Tensor] | None = None
        self.hidden: torch.Tensor | None = None      # the last hidden layer, for the picture

    def _layer(self, i: int, h: torch.Tensor) -> torch.Tensor:
        a_hat, mean = self.graph if self.graph is not None else (None, None)
        z = _apply(self.lins[i], h)
        if self.kind == "sage":
            heard = _apply(self.neigh[i], h)
            z = z + _mix(mean, heard)
        elif self.kind == "gcn":
            z = _mix(a_hat, z) + self.bias[i]
        return z

    def forward(self, x):
        h = x
        for i in range(len(self.lins)):
            h = self._layer(i, _dropout(h, self.dropout, self.training))
            if i < len(self.lins) - 1:
                h = F.relu(h)
                self.hidden = h.detach()
        return h


def _shape(cfg: Config) -> tuple[int, int]:
    if cfg.graph == "karate":
        return 34, 2
    if cfg.graph == "sbm":
        return 16, cfg.communities
    return 1433, len(graphs.CORA_CLASSES)


def blueprint(cfg: Config):
    n_in, n_out = _shape(cfg)
    return GraphNet(cfg, n_in, n_out), (n_in,)


# ---------------------------------------------------------------------------------------------
# Training: every step is the whole graph

@dataclass
class State:
    cfg: Config
    model: GraphNet
    opt: torch.optim.Optimizer
    x: torch.Tensor                  # every node's features, on the device
    y: torch.Tensor                  # every node's label
    val: torch.Tensor                # validation node ids
    edges: torch.Tensor


def build(cfg: Config, data: Data) -> State:
    device = data.test[0].device
    x = data.extra["x"].to(device)
    if (x != 0).float().mean() < 0.1:
        x = x.to_sparse().coalesce()
    model = GraphNet(cfg, x.shape[1], data.num_classes).to(device)
    edges = data.extra["edges"].to(device)
    model.graph = operators(edges, x.shape[0])
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return State(cfg, model, opt, x, data.extra["y"].to(device), data.extra["val"].to(device),
                 edges)


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    nodes, labels = batch                 # the labelled nodes (all of them: one batch)
    logits = s.model(s.x)[nodes]
    loss = F.cross_entropy(logits, labels)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    s.opt.step()
    return {"train/loss": loss.detach(),
            "train/acc": (logits.argmax(1) == labels).float().mean().detach()}


def _predict(s: State) -> torch.Tensor:
    s.model.eval()
    try:
        return s.model(s.x).float()
    finally:
        s.model.train()


def evaluate(s: State, data: Data) -> dict[str, float]:
    logits = _predict(s)
    test, y_test = data.test
    right = logits.argmax(1) == s.y
    out = torch.stack([F.cross_entropy(logits[test], y_test), right[test].float().mean(),
                       right[s.val].float().mean(), right[data.train[0]].float().mean()])
    return dict(zip(("val/loss", "val/acc", "val/valid_acc", "val/train_acc"), out.tolist()))


# ---------------------------------------------------------------------------------------------
# What the page shows

PALETTE = charts.CLASS_COLOURS


def _graph_view(s: State, data: Data, pred: np.ndarray) -> dict:
    n = data.extra["n_nodes"]
    if n > graphs.DRAWN_NODES and data.name != "cora":
        return charts.artifact(N_("The graph, coloured by prediction"), "markdown",
                               f"{n:,} nodes are too many to lay out while training (at most "
                               f"{graphs.DRAWN_NODES:,}): the hidden layer below shows every "
                               "node.")
    e = data.extra["edges"].cpu().numpy()
    pos = graphs.layout(data.name, n, e, _layout_cache())
    ex = np.full(3 * len(e), np.nan, np.float32)
    ey = ex.copy()
    ex[0::3], ex[1::3] = pos[e[:, 0], 0], pos[e[:, 1], 0]
    ey[0::3], ey[1::3] = pos[e[:, 0], 1], pos[e[:, 1], 1]
    y = s.y.cpu().numpy()
    labelled = np.zeros(n, bool)
    labelled[data.train[0].cpu().numpy()] = True
    wrong = (pred != y) & ~labelled
    big = n <= 200
    colors = [PALETTE[c % len(PALETTE)] for c in pred]
    names = data.classes
    text = [f"node {i}: predicted {names[p]}, truly {names[t]}" + (" (labelled)" if lab else "")
            for i, (p, t, lab) in enumerate(zip(pred, y, labelled))]
    traces = [{"type": "scatter", "mode": "lines", "x": [None if v != v else round(float(v), 3)
                                                          for v in ex],
               "y": [None if v != v else round(float(v), 3) for v in ey],
               "line": {"color": "#cccccc", "width": 1 if big else 0.4}, "hoverinfo": "skip",
               "name": "links"},
              {"type": "scatter", "mode": "markers", "x": pos[:, 0].round(3).tolist(),
               "y": pos[:, 1].round(3).tolist(), "text": text, "hoverinfo": "text",
               "name": "predicted class",
               "marker": {"color": colors, "size": np.where(labelled, 18 if big else 10,
                                                             11 if big else 5).tolist(),
                          "line": {"color": np.where(wrong, "#d62728",
                                                     np.where(labelled, "#000000",
                                                              "#ffffff")).tolist(),
                                   "width": np.where(wrong | labelled, 2.5 if big else 1.5,
                                                     0.5).tolist()}}}]
    fig = {"data": traces, "layout": {
        "template": "plotly_white", "height": 460, "showlegend": False,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"visible": False}, "yaxis": {"visible": False, "scaleanchor": "x"}}}
    shown = int(wrong.sum())
    return charts.artifact(N_("The graph, coloured by prediction"), "plotly", fig,
                           N_("Colour: predicted class; large, black ring: the {labelled} "
                              "labelled nodes; red ring: the {wrong} unlabelled nodes predicted "
                              "wrong. Hover a node for its true class."),
                           labelled=int(labelled.sum()), wrong=shown)


def _layout_cache():
    from playground.engine.runs import home

    return home() / "cache"


def _embedding_view(s: State, data: Data) -> dict:
    h = s.model.hidden
    if h is None:
        return charts.artifact(N_("Hidden layer in 2-D"), "markdown",
                               "One layer has no hidden layer to show: use 2 or more.")
    h = h.float() - h.float().mean(0)
    if h.shape[1] > 2:
        _, _, v = torch.pca_lowrank(h, q=2, center=False)
        xy = (h @ v[:, :2]).cpu().numpy()
    else:
        xy = h.cpu().numpy()
    y = s.y.cpu().numpy()
    traces = [{"type": "scatter", "mode": "markers", "name": data.classes[c],
               "x": xy[y == c, 0].round(3).tolist(), "y": xy[y == c, 1].round(3).tolist(),
               "marker": {"size": 7 if len(y) <= 200 else 4, "color": PALETTE[c % len(PALETTE)],
                          "opacity": 0.8}} for c in range(data.num_classes)]
    fig = {"data": traces, "layout": {"template": "plotly_white", "height": 460,
                                      "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                                      "legend": {"orientation": "h", "y": -0.08}}}
    return charts.artifact(N_("Every node's hidden layer, in 2-D (PCA)"), "plotly", fig,
                           N_("Coloured by the true class: as it trains the classes pull apart, "
                              "labelled or not."))


def artifacts(s: State, data: Data) -> dict[str, dict]:
    s.model.eval()
    try:
        pred = s.model(s.x).argmax(1).cpu().numpy()
    finally:
        s.model.train()
    return {"graph": _graph_view(s, data, pred), "embedding": _embedding_view(s, data)}
