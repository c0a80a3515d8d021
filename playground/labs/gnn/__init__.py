"""The GNN lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/gnn.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from playground.data.graphs import MAX_LINKS, sbm_links
from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.params import param

TITLE, ICON, SECTION = "GNN", "🕸️", "Graphs & RL"
TRY_THIS = ("Train the default: Zachary's karate club, only the two leaders labelled - the GCN "
            "finds everyone's side from the friendships alone. Press 'GCN vs MLP': without "
            "the graph the same network can only guess. Then try graph = cora (2,708 papers, "
            "140 labelled).")

STAGE = ("graph", "model", "labels_per_class")
GRAPHS = ("karate", "sbm", "cora")
MODELS = ("gcn", "sage", "mlp")


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
            errors.append(_("Labelled nodes per group ({labelled}) must be fewer than the group "
                            "size ({size}): something must be left to predict.",
                            labelled=cfg.labels_per_class, size=cfg.community_size))
        links = sbm_links(cfg.communities, cfg.community_size, cfg.p_in, cfg.p_out)
        if links > MAX_LINKS:
            errors.append(_("The block model would have about {links:,.0f} links, over a "
                            "million ({most:,}): lower p in or p out, or use fewer or smaller "
                            "groups.", links=links, most=MAX_LINKS))
    return errors


ONNX = False        # a sparse graph product has no ONNX form; weights and script download

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
        rows.append({N_("model"): name, N_("status"): info.status.get("status"),
                     N_("test accuracy"): final.get("val/acc"),
                     N_("validation accuracy"): final.get("val/valid_acc"),
                     N_("seconds"): info.status.get("seconds")})
    if not runs or any(v is None for v in acc.values()):
        return rows, _("The comparison is incomplete: a run did not finish.")
    (a, acc_a), (b, acc_b) = list(acc.items())[:2]
    return rows, _("With the graph ({a}): {acc_a:.0%} of the test nodes right; without it "
                   "({b}): {acc_b:.0%}. The links carry what the few labels cannot.", a=a,
                   acc_a=acc_a, b=b, acc_b=acc_b)


COMPARE = {"label": "GCN vs MLP", "names": ("graph", "mlp"), "plan": _gcn_then_mlp,
           "table": comparison_table, "views": ("graph",)}

DEMOS = {"gcn-vs-mlp": {"compare": True, "title": "The karate club: GCN vs the same MLP"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
