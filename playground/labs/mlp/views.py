"""The MLP's pictures of a visitor's table: classes over the plane (two inputs, more than two
classes), and for wider tables predicted against true and the inputs' first two principal
components."""
from __future__ import annotations

import numpy as np
import torch

from playground.data import Data
from playground.i18n import N_
from playground.labs._shared import predict
from playground.ui import charts

WRONG = "#d62728"


def axis_names(data: Data) -> tuple[str, str]:
    names = tuple(data.extra.get("inputs") or ("x1", "x2"))
    return names[0], names[1]


def name_axes(fig: dict, data: Data) -> dict:
    """A table's two columns name the plane's axes (x1 and x2 otherwise)."""
    x, y = axis_names(data)
    fig["layout"]["xaxis"] = {**fig["layout"].get("xaxis", {}), "title": {"text": x}}
    fig["layout"]["yaxis"] = {**fig["layout"].get("yaxis", {}), "title": {"text": y}}
    return fig


def _colour(k: int) -> str:
    return charts.CLASS_COLOURS[k % len(charts.CLASS_COLOURS)]


def regions(model, data: Data, axis: torch.Tensor, grid: torch.Tensor) -> dict:
    """More than two classes over the plane: each place coloured by the class it is given."""
    res = len(axis)
    k = data.num_classes
    cls = predict(model, grid).argmax(1).reshape(res, res).cpu().numpy()
    ax = np.round(axis.cpu().numpy(), 4).tolist()
    # a stepped scale: class i owns the band [i, i + 1) / k of the colours
    scale = [[edge / k, _colour(i)] for i in range(k) for edge in (i, i + 1)]
    traces = [{"type": "heatmap", "x": ax, "y": ax, "z": cls.tolist(), "zmin": -0.5,
               "zmax": k - 0.5, "colorscale": scale, "opacity": 0.45, "showscale": False,
               "hovertemplate": "given class %{z}<extra></extra>"}]
    names = list(data.classes) or [str(i) for i in range(k)]
    for split, (x, y), symbol in (("train", data.train, "circle"), ("test", data.test, "diamond")):
        x, y = x[:charts.MAX_POINTS // 2].cpu().numpy(), y[:charts.MAX_POINTS // 2].cpu().numpy()
        traces.append({"type": "scatter", "mode": "markers", "name": split,
                       "x": np.round(x[:, 0], 3).tolist(), "y": np.round(x[:, 1], 3).tolist(),
                       "text": [names[i] for i in y],
                       "marker": {"color": [_colour(int(i)) for i in y], "symbol": symbol,
                                  "size": 6, "line": {"width": 1, "color": "white"
                                                      if symbol == "circle" else "black"}},
                       "hovertemplate": "class %{text}<extra></extra>"})
    fig = {"data": traces, "layout": {
        "template": "plotly_white", "height": 420, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"range": [ax[0], ax[-1]]}, "yaxis": {"range": [ax[0], ax[-1]], "scaleanchor": "x"},
        "legend": {"orientation": "h", "y": -0.15}}}
    legend = ", ".join(f"{n}" for n in names[:8])
    return charts.artifact(N_("Classes over the plane"), "plotly", name_axes(fig, data),
                           f"Background: the class the network gives each place ({legend} in "
                           "the colours of their points); circles are training rows, diamonds "
                           "test rows.")


def table_views(model, data: Data, regression: bool) -> dict[str, dict]:
    """A table wider than two inputs: how the test rows are predicted, and where they lie."""
    x, y = data.test[0], data.test[1]
    out = predict(model, x).float()
    keep = slice(0, charts.MAX_POINTS)
    target = data.extra.get("target", "target")
    views = {}
    if regression:
        pred, true = out[:, 0].cpu().numpy(), y.cpu().numpy()
        lo, hi = float(min(pred.min(), true.min())), float(max(pred.max(), true.max()))
        fig = {"data": [{"type": "scatter", "mode": "lines", "name": "perfect", "x": [lo, hi],
                         "y": [lo, hi], "line": {"color": "#888", "dash": "dash"}},
                        {"type": "scatter", "mode": "markers", "name": "test rows",
                         "x": np.round(true[keep], 4).tolist(), "y": np.round(pred[keep], 4).tolist(),
                         "marker": {"color": charts.BLUE, "size": 5, "opacity": 0.7},
                         "hovertemplate": "true %{x:.3f}, predicted %{y:.3f}<extra></extra>"}],
               "layout": {"template": "plotly_white", "height": 380,
                          "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                          "xaxis": {"title": {"text": f"true {target} (standardised)"}},
                          "yaxis": {"title": {"text": "predicted"}},
                          "legend": {"orientation": "h", "y": -0.2}}}
        views["predicted"] = charts.artifact(
            N_("Predicted against true (test rows)"), "plotly", fig,
            N_("On the dashed line a prediction is exact; the further a point lies from it, the "
               "larger its error. Values are standardised (mean 0, spread 1)."))
        colour = {"color": np.round(pred[keep] - true[keep], 3).tolist(),
                  "colorscale": charts.DIVERGING, "cmid": 0,
                  "colorbar": {"title": {"text": "error"}}}
        hover = "error %{marker.color:.3f}<extra></extra>"
        wrong = None
    else:
        pred = out.argmax(1)
        k = data.num_classes
        cm = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k).cpu().numpy()
        views["predicted"] = charts.artifact(
            N_("Predicted against true (confusion matrix, test rows)"), "plotly",
            charts.confusion(cm, list(data.classes)),
            f"Rows: the true {target}; columns: the network's answer. The diagonal is right.")
        true = y.cpu().numpy()
        colour = {"color": [_colour(int(i)) for i in true[keep]]}
        hover = "class %{text}<extra></extra>"
        wrong = (pred != y).cpu().numpy()[keep]
    if x.shape[1] < 2:
        return views
    # the first two principal components of the training inputs, the test rows placed on them
    train_x = data.train[0].float()
    mean = train_x.mean(0)
    _, sv, v = torch.linalg.svd(train_x - mean, full_matrices=False)
    pcs = ((x.float() - mean) @ v[:2].T).cpu().numpy()[keep]
    explained = (sv[:2] ** 2 / (sv ** 2).sum().clamp_min(1e-12)).cpu().numpy()
    names = list(data.classes)
    traces = [{"type": "scatter", "mode": "markers", "name": "test rows",
               "x": np.round(pcs[:, 0], 3).tolist(), "y": np.round(pcs[:, 1], 3).tolist(),
               "text": [names[int(i)] for i in true[keep]] if names else None,
               "marker": {**colour, "size": 6}, "hovertemplate": hover}]
    if wrong is not None and wrong.any():
        traces.append({"type": "scatter", "mode": "markers", "name": "wrong",
                       "x": np.round(pcs[wrong, 0], 3).tolist(),
                       "y": np.round(pcs[wrong, 1], 3).tolist(),
                       "marker": {"symbol": "circle-open", "size": 11, "color": WRONG,
                                  "line": {"width": 2}}, "hoverinfo": "skip"})
    fig = {"data": traces, "layout": {
        "template": "plotly_white", "height": 380, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"title": {"text": f"PC1 ({explained[0]:.0%} of the spread)"}},
        "yaxis": {"title": {"text": f"PC2 ({explained[1]:.0%})"}},
        "legend": {"orientation": "h", "y": -0.2}}}
    views["pca"] = charts.artifact(
        N_("The inputs in 2-D (first two principal components)"), "plotly", fig,
        N_("Each test row placed by its inputs' two main directions, coloured by its true "
           "class; red rings are the ones the network gets wrong.") if wrong is not None else
        N_("Each test row placed by its inputs' two main directions, coloured by the network's "
           "error (blue too low, orange too high)."))
    return views
