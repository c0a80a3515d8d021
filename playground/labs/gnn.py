"""Graph neural networks (GCN: Kipf & Welling, 2017). A node's class often shows in its
neighbours more than in its own features: a paper cites papers of its field, friends take the
same side. A graph convolution mixes each node's features with its neighbours' before the
weights apply, H' = relu(A_hat H W) with A_hat = D^-1/2 (A + I) D^-1/2, so after two layers a
node has heard from everything two links away. Trained on a few labelled nodes, it labels the
rest.

**What the page shows.** The graph, each node coloured by its predicted class and ringed in red
where wrong, the labelled nodes drawn large; the hidden layer of every node in 2-D (PCA) as it
trains; accuracy on the labelled, validation and test nodes. The honest baseline is `mlp`: the
same network with the graph removed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, graphs
from playground.data.graphs import MAX_LINKS, cora, karate, sbm, sbm_links
from playground.data.images import data_dir
from playground.engine.device import DEVICE_CHOICES, full_precision
from playground.params import param
from playground.ui import charts

TITLE, ICON, SECTION = "GNN", "🕸️", "Graphs & RL"
TRY_THIS = ("Train the default: Zachary's karate club, only the two leaders labelled - the GCN "
            "finds everyone's side from the friendships alone. Press 'GCN vs MLP': without "
            "the graph the same network can only guess. Then try graph = cora (2,708 papers, "
            "140 labelled).")

STAGE = ("graph", "model", "labels_per_class")
GRAPHS = ("karate", "sbm", "cora")
MODELS = ("gcn", "sage", "mlp")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#d62728")


@dataclass(frozen=True)
class Config:
    graph: str = param("karate", choices=GRAPHS, group="Graph",
                       help="karate: Zachary's club (34 members, only the 2 leaders labelled). "
                            "sbm: a stochastic block model you shape below. cora: 2,708 papers "
                            "citing each other, 7 fields, 140 labelled (Planetoid's split).")
    communities: int = param(3, lo=2, hi=10, group="Graph",
                             when={"graph": ("sbm",)},
                             help="sbm: how many groups.")
    community_size: int = param(60, lo=5, hi=1000, group="Graph", label="Group size",
                                when={"graph": ("sbm",)},
                                help="sbm: nodes per group.")
    p_in: float = param(0.1, lo=0.0, hi=1.0, group="Graph", label="p in",
                        when={"graph": ("sbm",)},
                        help="sbm: probability of a link inside a group.")
    p_out: float = param(0.01, lo=0.0, hi=1.0, group="Graph", label="p out",
                         when={"graph": ("sbm",)},
                         help="sbm: probability of a link between groups.")
    feature_noise: float = param(2.0, lo=0.0, hi=10.0, group="Graph",
                                 when={"graph": ("sbm",)},
                                 help="sbm: std of the noise on each node's 16 features (its "
                                      "group's mean + noise); high noise leaves only the links.")
    labels_per_class: int = param(3, lo=1, hi=100, group="Graph",
                                  when={"graph": ("sbm",)},
                                  help="sbm: labelled nodes per group; of the rest a quarter "
                                       "validate, the others test.")
    model: str = param("gcn", choices=MODELS, group="Network",
                       help="gcn: Kipf & Welling's graph convolution. sage: GraphSAGE's mean "
                            "of the neighbours beside the node's own features (Hamilton et al., "
                            "2017). mlp: the same layers without the graph.")
    layers: int = param(2, lo=1, hi=8, group="Network",
                        help="Graph layers; each reaches one link further.")
    hidden: int = param(16, lo=2, hi=512, group="Network",
                        help="Units per hidden layer (16 in Kipf & Welling).")
    dropout: float = param(0.5, lo=0.0, hi=0.9, group="Network",
                           help="Dropout on the input and between layers.")
    weight_decay: float = param(5e-4, lo=0.0, hi=0.1, group="Training",
                                help="L2 penalty (Adam's weight_decay), 5e-4 in the paper.")
    lr: float = param(0.01, lo=1e-5, hi=1.0, log=True, group="Training",
                      help="Adam step size.")
    epochs: int = param(200, lo=1, hi=5000, group="Training",
                        help="Full-graph steps: each sees every node and every link.")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same graph (sbm), same weights, same dropout.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Karate club, 2 leaders labelled (default)": {},
    "Noisy communities (sbm)": {"graph": "sbm", "feature_noise": 3.0},
    "Cora, Kipf & Welling's settings": {"graph": "cora"},
}


def check(cfg: Config) -> list[str]:
    errors = []
    if cfg.graph == "sbm":
        if cfg.labels_per_class >= cfg.community_size:
            errors.append(f"Labelled nodes per group ({cfg.labels_per_class}) must be fewer "
                          f"than the group size ({cfg.community_size}): something must be left "
                          "to predict.")
        links = sbm_links(cfg.communities, cfg.community_size, cfg.p_in, cfg.p_out)
        if links > MAX_LINKS:
            errors.append(f"The block model would have about {links:,.0f} links, over a "
                          f"million ({MAX_LINKS:,}): lower p in or p out, or use fewer or "
                          "smaller groups.")
    return errors


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


ONNX = False        # a sparse graph product has no ONNX form; weights and script download


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

def _graph_view(s: State, data: Data, pred: np.ndarray) -> dict:
    n = data.extra["n_nodes"]
    if n > graphs.DRAWN_NODES and data.name != "cora":
        return charts.artifact("The graph, coloured by prediction", "markdown",
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
    return charts.artifact("The graph, coloured by prediction", "plotly", fig,
                           f"Colour: predicted class; large, black ring: the {int(labelled.sum())} "
                           f"labelled nodes; red ring: the {shown} unlabelled nodes predicted "
                           "wrong. Hover a node for its true class.")


def _layout_cache():
    from playground.engine.runs import home

    return home() / "cache"


def _embedding_view(s: State, data: Data) -> dict:
    h = s.model.hidden
    if h is None:
        return charts.artifact("Hidden layer in 2-D", "markdown",
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
    return charts.artifact("Every node's hidden layer, in 2-D (PCA)", "plotly", fig,
                           "Coloured by the true class: as it trains the classes pull apart, "
                           "labelled or not.")


def artifacts(s: State, data: Data) -> dict[str, dict]:
    s.model.eval()
    try:
        pred = s.model(s.x).argmax(1).cpu().numpy()
    finally:
        s.model.train()
    return {"graph": _graph_view(s, data, pred), "embedding": _embedding_view(s, data)}


CURVES = (("valid_acc", "Validation-node accuracy", False),)


# ---------------------------------------------------------------------------------------------
# The comparison: the graph, and the same network without it

def _gcn_then_mlp(cfg: Config, earlier: list[str]) -> Config | None:
    plan = (cfg.model if cfg.model != "mlp" else "gcn", "mlp")
    return replace(cfg, model=plan[len(earlier)]) if len(earlier) < 2 else None


def comparison_table(runs) -> tuple[list[dict], str]:
    rows, acc = [], {}
    for name, info in runs:
        final = info.status.get("final") or {}
        acc[name] = final.get("val/acc")
        rows.append({"model": name, "status": info.status.get("status"),
                     "test accuracy": final.get("val/acc"),
                     "validation accuracy": final.get("val/valid_acc"),
                     "seconds": info.status.get("seconds")})
    if not runs or any(v is None for v in acc.values()):
        return rows, "The comparison is incomplete: a run did not finish."
    (a, acc_a), (b, acc_b) = list(acc.items())[:2]
    return rows, (f"With the graph ({a}): {acc_a:.0%} of the test nodes right; without it "
                  f"({b}): {acc_b:.0%}. The links carry what the few labels cannot.")


COMPARE = {"label": "GCN vs MLP", "names": ("graph", "mlp"), "plan": _gcn_then_mlp,
           "table": comparison_table, "views": ("graph",)}

DEMOS = {"gcn-vs-mlp": {"compare": True, "title": "The karate club: GCN vs the same MLP"}}

