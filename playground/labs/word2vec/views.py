"""Word2Vec's pictures: the word map, relations as arrows, nearest words and their similarities."""
from __future__ import annotations

import math

import numpy as np
import torch

from playground.data import Data
from playground.i18n import N_
from playground.ui import charts

MAP_WORDS = 200               # the most frequent words on the map


# ---------------------------------------------------------------------------------------------
# What the page shows

def _word_ids(data: Data, words) -> list[int]:
    index = {w: i for i, w in enumerate(data.classes)}
    return [index[w] for w in words if w in index]


def _pairs(data: Data, section: str, n: int) -> list[tuple[int, int]]:
    """The first n distinct (a, b) pairs of one kind of analogy question."""
    questions = data.test[0][:, :2].tolist()
    pairs = [tuple(q) for q, s in zip(questions, data.extra["sections"]) if s == section]
    return list(dict.fromkeys(pairs))[:n]


def _pca(vectors: torch.Tensor) -> np.ndarray:
    """(n, D) -> (n, 2) on the two main directions, each signed so that its largest loading is
    positive (the map does not flip from one refresh to the next)."""
    x = (vectors - vectors.mean(0)).cpu()
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    axes = vh[:2] * vh[:2].gather(1, vh[:2].abs().argmax(1, keepdim=True)).sign()
    return (x @ axes.T).numpy().round(4)


def _scatter(name: str, xy: np.ndarray, words: list[str], labels: list[str], axis: str = "",
             **marker) -> dict:
    return {"type": "scatter", "mode": "markers+text", "name": name, "x": xy[:, 0].tolist(),
            "y": xy[:, 1].tolist(), "text": labels, "hovertext": words, "hoverinfo": "text",
            "textposition": "top center", "textfont": {"size": 10}, "marker": marker,
            "xaxis": "x" + axis, "yaxis": "y" + axis}


def _tsne(vectors: torch.Tensor) -> np.ndarray:
    """(n, D) -> (n, 2) by t-SNE on cosine distances (scikit-learn), seeded: the same run gives
    the same map."""
    from sklearn.manifold import TSNE

    x = vectors.float().cpu().numpy()
    return TSNE(n_components=2, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3)), init="pca",
                metric="cosine", random_state=0).fit_transform(x)


def _map(vectors: torch.Tensor, data: Data, extra_word: int | None = None,
         method: str = "pca") -> dict:
    """The most frequent words on the two main directions of their vectors (or by t-SNE)."""
    labelled = set(_word_ids(data, data.extra["probes"])) or set(range(min(15, len(data.classes))))
    labelled |= {extra_word} if extra_word is not None else set()
    ids = sorted(set(range(min(MAP_WORDS, len(data.classes)))) | labelled)
    xy = _tsne(vectors[ids]) if method == "tsne" else _pca(vectors[ids])     # (n, 2)
    groups = [data.extra["groups"].get(data.classes[i], "other") for i in ids]
    traces = []
    for group in sorted(set(groups)):
        rows = [k for k, g in enumerate(groups) if g == group]
        words = [data.classes[ids[k]] for k in rows]
        traces.append(_scatter(group, xy[rows], words,
                               [w if ids[k] in labelled else "" for k, w in zip(rows, words)],
                               size=6 if group == "other" else 8,
                               **({"color": "#bbbbbb"} if group == "other" else {})))
    fig = {"data": traces, "layout": {
        "height": 480, "template": "plotly_white", "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"title": {"text": N_("first principal direction") if method == "pca" else ""},
                  "zeroline": False},
        "yaxis": {"title": {"text": N_("second") if method == "pca" else ""}, "zeroline": False},
        "legend": {"orientation": "h", "y": -0.15}}}
    if method == "tsne":
        return charts.artifact(
            N_("Word map (t-SNE of the word vectors)"), "plotly", fig,
            N_("The {n} most frequent words placed so that each one's nearest words stay near "
               "it; distances between far-apart clusters mean little. Hover for the names."),
            n=len(ids))
    return charts.artifact(
        N_("Word map (PCA of the word vectors)"), "plotly", fig,
        N_("The {n} most frequent words projected on the two directions along which their "
           "vectors vary most; words used alike end up together. Hover for the others' names."),
        n=len(ids))


def _offsets(vectors: torch.Tensor, data: Data, n: int = 8) -> dict | None:
    """One panel per kind of pair: its words on their own two main directions, an arrow from
    a to b. Parallel arrows of one length: one vector offset is the relation, which is what
    the analogy test relies on (untrained vectors give arrows in every direction)."""
    kinds = [(k, p) for k in data.extra["shown_sections"] if len(p := _pairs(data, k, n)) >= 3]
    if not kinds:
        return None
    traces, arrows, layout = [], [], {}
    for panel, (kind, pairs) in enumerate(kinds, start=1):
        axis = "" if panel == 1 else str(panel)
        ids = [i for pair in pairs for i in pair]
        xy = _pca(vectors[ids])                                               # (2n, 2)
        words = [data.classes[i] for i in ids]
        pair_scatter = _scatter(kind, xy, words, words, axis, size=7)
        # a above its point, b below: the two words of a pair do not print over each other
        pair_scatter["textposition"] = ["top center", "bottom center"] * len(pairs)
        traces.append(pair_scatter)
        arrows += [{"x": float(xy[k + 1, 0]), "y": float(xy[k + 1, 1]), "ax": float(xy[k, 0]),
                    "ay": float(xy[k, 1]), "xref": "x" + axis, "yref": "y" + axis,
                    "axref": "x" + axis, "ayref": "y" + axis, "showarrow": True, "text": "",
                    "arrowhead": 2, "arrowsize": 1.6, "arrowwidth": 1.3, "standoff": 5,
                    "arrowcolor": "#666"}
                   for k in range(0, len(ids), 2)]
        width = 1 / len(kinds)
        layout[f"xaxis{axis}"] = {"domain": [(panel - 1) * width + 0.03, panel * width - 0.03],
                                  "title": {"text": kind.replace("-", " -> ")},
                                  "showticklabels": False, "zeroline": False}
        layout[f"yaxis{axis}"] = {"anchor": "x" + axis, "showticklabels": False,
                                  "zeroline": False}
    fig = {"data": traces, "layout": {**layout, "height": 380, "template": "plotly_white",
                                      "annotations": arrows, "showlegend": False,
                                      "margin": {"l": 10, "r": 10, "t": 10, "b": 40}}}
    return charts.artifact(N_("Relations as directions"), "plotly", fig,
                           N_("The words of each kind of pair, projected on their own two main "
                              "directions, an arrow from a to b: where the arrows run parallel "
                              "and equally long, b - a + c lands on the answer."))


def nearest(vectors: torch.Tensor, ids: list[int], k: int) -> tuple[list, list]:
    sims = vectors[ids] @ vectors.T                                           # (n, V)
    sims[torch.arange(len(ids)), ids] = -math.inf
    top = sims.topk(min(k, vectors.shape[0] - 1), dim=1)
    return top.indices.tolist(), top.values.tolist()


def _neighbours(vectors: torch.Tensor, data: Data, words: list[int], k: int = 6,
                title: str = N_("Nearest neighbours"), **values) -> dict:
    """A table of each word's nearest words; `title` a message, its placeholders `values`."""
    idx, sims = nearest(vectors, words, k)
    rows = ["| " + " | ".join((N_("word"), N_("nearest words (cosine)"))) + " |", "|---|---|"]
    for w, near, cos in zip(words, idx, sims):
        shown = ", ".join(f"{data.classes[j]} ({c:.2f})" for j, c in zip(near, cos))
        rows.append(f"| **{data.classes[w]}** | {shown} |")
    return charts.artifact(title, "markdown", "\n".join(rows),
                           N_("Words whose vectors point the same way (cosine similarity)."),
                           **values)


def _similarities(vectors: torch.Tensor, data: Data, chosen: list[int] | None = None) -> dict:
    ids = chosen or [i for kind in data.extra["shown_sections"] for pair in _pairs(data, kind, 3)
                     for i in pair]
    ids = list(dict.fromkeys(ids)) or _word_ids(data, data.extra["probes"]) or list(range(12))
    ids = [i for i in ids if i < len(data.classes)]
    sims = (vectors[ids] @ vectors[ids].T).cpu().numpy().round(2)
    names = [data.classes[i] for i in ids]
    fig = {"data": [{"type": "heatmap", "z": sims.tolist(), "x": names, "y": names,
                     "zmin": -1, "zmax": 1, "colorscale": charts.DIVERGING,
                     "text": sims.tolist(), "texttemplate": "%{text:.2f}",
                     "hovertemplate": "%{y} / %{x}: %{z:.2f}<extra></extra>"}],
           "layout": {"height": 460, "template": "plotly_white",
                      "margin": {"l": 90, "r": 10, "t": 10, "b": 90},
                      "xaxis": {"type": "category", "automargin": True, "tickangle": -45},
                      "yaxis": {"type": "category", "autorange": "reversed",
                                "automargin": True}}}
    return charts.artifact(N_("Cosine similarity of chosen words"), "plotly", fig,
                           N_("1: the same direction, 0: unrelated, -1: opposite."))
