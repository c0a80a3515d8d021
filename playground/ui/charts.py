"""Chart and image builders shared by labs and pages. Plain plotly figure dicts (no Streamlit, no
plotly object validation: these run on training threads about once a second)."""
from __future__ import annotations

import base64
import io
import math
import re

import numpy as np

from playground.i18n import N_

BLUE, ORANGE = "#1f77b4", "#ff7f0e"
# one colour per class (plotly's own, red last: a red ring or frame means "wrong" elsewhere)
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#bcbd22", "#7f7f7f", "#d62728")
DIVERGING = [[0.0, BLUE], [0.5, "#f7f7f7"], [1.0, ORANGE]]
MAX_POINTS = 2000
_LAYOUT = dict(margin=dict(l=10, r=10, t=36, b=10), template="plotly_white", height=340)


def artifact(title: str, kind: str, data, caption: str = "", **values) -> dict:
    """One artefact: kind is "plotly" (a figure dict), "image" (base64 PNG), "markdown" or
    "warning" (text shown as a warning). Its title and caption are made in the worker, in
    English; with `values` they are messages with placeholders ("Feature maps of test image
    {i}"), kept beside the English so that a page shows them in its own language."""
    item = {"title": title.format(**values) if values else title, "kind": kind, "data": data,
            "caption": caption.format(**values) if values and caption else caption}
    if values:
        item["words"] = {"title": title, "caption": caption, "values": values}
    return item


def code_block(text: str, lang: str = "text") -> str:
    """Markdown showing `text` verbatim in a fenced block that nothing in it can close: a model
    trained on an uploaded text writes whatever that text taught it, backticks too."""
    fence = "`" * max(3, 1 + max(map(len, re.findall("`+", text)), default=0))
    return f"{fence}{lang}\n{text}\n{fence}"


def downsample(xs: list, ys: list, max_points: int = MAX_POINTS):
    """Keep at most max_points by striding, always keeping the last point (the newest value)."""
    n = len(xs)
    if n <= max_points:
        return xs, ys
    idx = np.unique(np.concatenate([np.linspace(0, n - 1, max_points).astype(int), [n - 1]]))
    return [xs[i] for i in idx], [ys[i] for i in idx]


def smooth(ys: list, weight: float) -> list:
    """TensorBoard's exponential moving average with debiasing; None gaps pass through."""
    if weight <= 0:
        return ys
    out, last, n = [], 0.0, 0
    for y in ys:
        if y is None:
            out.append(None)
            continue
        n += 1
        last = last * weight + (1 - weight) * y
        out.append(last / (1 - weight ** n))
    return out


def curves(series: dict[str, tuple[list, list]], title: str, x_title: str = "step",
           y_title: str = "", smoothing: float = 0.0, smooth_only: tuple = (),
           log_y: bool = False, max_points: int = MAX_POINTS) -> dict:
    """Line charts; `smooth_only` names the dense series to smooth (an average over sparse,
    unevenly spaced evaluations would lag far behind the value it shows)."""
    traces = []
    for name, (xs, ys) in series.items():
        if not smooth_only or name in smooth_only:
            ys = smooth(ys, smoothing)
        xs, ys = downsample(xs, ys, max_points)
        mode = "lines" if len(xs) > 30 else "lines+markers"     # a few points must stay visible
        traces.append({"type": "scatter", "mode": mode, "name": name, "x": xs, "y": ys})
    layout = {**_LAYOUT, "title": {"text": title}, "height": 300,
              "xaxis": {"title": {"text": x_title}},
              "yaxis": {"title": {"text": y_title}, **({"type": "log"} if log_y else {})},
              "legend": {"orientation": "h", "y": -0.25},
              "showlegend": True}             # one run of a comparison still says which it is
    return {"data": traces, "layout": layout}


def player(frames: list[dict], prefix: str, active: int, frame_ms: int, transition_ms: int = 0,
           button_y: float = 1.08, pad: int = 30) -> dict:
    """Layout entries that play plotly `frames` in the browser: a slider (one stop per frame,
    labelled by its name after `prefix`) and a Play button."""
    steps = [{"label": f["name"], "method": "animate",
              "args": [[f["name"]], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                     "transition": {"duration": 0}}]} for f in frames]
    return {"sliders": [{"steps": steps, "active": active, "y": -0.02,
                         "currentvalue": {"prefix": prefix}, "pad": {"t": pad}}],
            "updatemenus": [{"type": "buttons", "showactive": False, "x": 0, "y": button_y,
                             "xanchor": "left", "buttons": [{
                                 "label": "▶ Play", "method": "animate",
                                 "args": [None, {"frame": {"duration": frame_ms, "redraw": True},
                                                 "fromcurrent": False,
                                                 "transition": {"duration": transition_ms}}]}]}]}


def boundary(grid_x: np.ndarray, grid_y: np.ndarray, prob: np.ndarray, points: list[tuple]) -> dict:
    """A probability heatmap (class 1) with scatter overlays: points = [(name, x, y, labels, symbol)]."""
    traces = [{"type": "heatmap", "x": np.round(grid_x, 4).tolist(),
               "y": np.round(grid_y, 4).tolist(), "z": np.round(prob, 3).tolist(), "zmin": 0,
               "zmax": 1, "colorscale": DIVERGING, "opacity": 0.6, "showscale": False,
               "hovertemplate": "x1=%{x:.2f}<br>x2=%{y:.2f}<br>p(orange)=%{z:.2f}<extra></extra>"}]
    for name, xs, ys, labels, symbol in points:
        keep = slice(0, MAX_POINTS // 2)
        traces.append({"type": "scatter", "mode": "markers", "name": name,
                       "x": np.round(xs[keep], 3).tolist(), "y": np.round(ys[keep], 3).tolist(),
                       "marker": {"color": np.asarray(labels[keep]).astype(int).tolist(),
                                  "colorscale": [[0, BLUE], [1, ORANGE]], "cmin": 0, "cmax": 1,
                                  "symbol": symbol, "size": 6,
                                  "line": {"width": 1, "color": "white" if symbol == "circle"
                                           else "black"}}})
    layout = {**_LAYOUT, "height": 420,
              "xaxis": {"title": {"text": "x1"}, "range": [float(grid_x[0]), float(grid_x[-1])]},
              "yaxis": {"title": {"text": "x2"}, "range": [float(grid_y[0]), float(grid_y[-1])],
                        "scaleanchor": "x"},
              "legend": {"orientation": "h", "y": -0.15}}
    return {"data": traces, "layout": layout}


def confusion(matrix: np.ndarray, classes: list[str]) -> dict:
    m = np.asarray(matrix)
    return {"data": [{"type": "heatmap", "z": m.tolist(), "x": list(classes), "y": list(classes),
                      "colorscale": "Blues", "showscale": False, "text": m.astype(int).tolist(),
                      "texttemplate": "%{text}",
                      "hovertemplate": "true %{y}, predicted %{x}: %{z}<extra></extra>"}],
            "layout": {**_LAYOUT, "height": 400,
                       "xaxis": {"title": {"text": "predicted"}, "type": "category"},
                       "yaxis": {"title": {"text": "true"}, "type": "category",
                                 "autorange": "reversed"}}}


def heatmap_grid(mats: list[list[np.ndarray]], row_titles: list[str], col_titles: list[str],
                 x_labels: list[str], y_labels: list[str], cell_px: int = 180) -> dict:
    """A grid of heatmaps on one colour scale (0 to 1): rows x columns of matrices (e.g. layers x
    attention heads), token labels on the axes and the exact value on hover. Axes are numeric
    with label ticks: repeated labels (the same digit twice) stay separate cells."""
    rows, cols = len(mats), len(mats[0])
    gap = 0.04
    traces, layout = [], {**_LAYOUT, "height": cell_px * rows + 70, "showlegend": False,
                          "margin": dict(l=40, r=10, t=40, b=30), "annotations": []}
    small = max(len(x_labels), len(y_labels)) <= 40

    def ticks(labels, px: float):
        if not small:
            return {"showticklabels": False}
        # a token needs ~14 px: a long sequence in a small cell labels every k-th, upright,
        # instead of an illegible strip (hover names every cell)
        step = max(1, math.ceil(len(labels) * 14 / max(px, 1)))
        return {"tickvals": list(range(0, len(labels), step)), "ticktext": labels[::step],
                "tickfont": {"size": 9}, "tickangle": 0}

    for r in range(rows):
        for c in range(cols):
            i = r * cols + c + 1
            ax = "" if i == 1 else str(i)
            z = np.asarray(mats[r][c])
            traces.append({"type": "heatmap", "z": np.round(z, 3).tolist(), "zmin": 0, "zmax": 1,
                           "colorscale": "Blues", "showscale": False,
                           "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                           "customdata": [[[y_labels[a], x_labels[b]] for b in range(z.shape[1])]
                                          for a in range(z.shape[0])],
                           "hovertemplate": f"{row_titles[r]}, {col_titles[c]}<br>"
                                            "%{customdata[0]} attends to %{customdata[1]}: "
                                            "%{z:.2f}<extra></extra>"})
            x0, x1 = c / cols + gap / 2, (c + 1) / cols - gap / 2
            y1, y0 = 1 - r / rows - gap / 2, 1 - (r + 1) / rows + gap / 2
            # a cell's width: a half-page column (~480 px) shared by the heads
            layout[f"xaxis{ax}"] = {"domain": [x0, x1], "anchor": f"y{ax}",
                                    **ticks(x_labels, min(cell_px, 480 / cols)),
                                    "showgrid": False}
            layout[f"yaxis{ax}"] = {"domain": [y0, y1], "anchor": f"x{ax}",
                                    **ticks(y_labels, cell_px), "autorange": "reversed",
                                    "showgrid": False}
            if r == 0:
                layout["annotations"].append({"text": col_titles[c], "showarrow": False,
                                              "xref": "paper", "yref": "paper",
                                              "x": (x0 + x1) / 2, "y": 1.0, "yanchor": "bottom"})
            if c == 0:
                layout["annotations"].append({"text": row_titles[r], "showarrow": False,
                                              "xref": "paper", "yref": "paper", "textangle": -90,
                                              "x": 0, "xanchor": "right", "xshift": -22,
                                              "y": (y0 + y1) / 2})
    return {"data": traces, "layout": layout}


def image_grid(images, cols: int, scale: int = 3, padding: int = 2) -> str:
    """Grey images (N, 1, H, W) in [0, 1] as one PNG (base64): `cols` to a row, each pixel
    `scale` x `scale`, white gaps (samples of a generator, reconstructions)."""
    import torch
    from torchvision.utils import make_grid

    x = torch.nn.functional.interpolate(images.float().clamp(0, 1).cpu(), scale_factor=scale,
                                        mode="nearest")
    grid = make_grid(x, nrow=cols, padding=padding, pad_value=1.0)[0]
    return png((grid.numpy() * 255).astype(np.uint8))


def png(image: np.ndarray) -> str:
    """uint8 (H, W) or (H, W, 3) -> base64 PNG, the payload of an "image" artefact."""
    from PIL import Image

    buf = io.BytesIO()
    # compress_level 1: a fraction of the encoding time for a few more kilobytes
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def diverging_rgb(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] -> blue / white / orange uint8 RGB, the colours of the boundary plot."""
    blue, white, orange = (np.array([31, 119, 180.]), np.array([247, 247, 247.]),
                           np.array([255, 127, 14.]))
    v = np.clip(values, -1, 1)[..., None]
    rgb = np.where(v < 0, white + (blue - white) * -v, white + (orange - white) * v)
    return rgb.astype(np.uint8)


def tile_rows(rows: list[list[np.ndarray]], scale: int = 2, gap: int = 4) -> np.ndarray:
    """Lay out rows of equally sized RGB tiles on a white sheet (one row per network layer)."""
    h, w = rows[0][0].shape[:2]
    h, w = h * scale, w * scale
    cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            big = tile.repeat(scale, 0).repeat(scale, 1)
            y, x = gap + i * (h + gap), gap + j * (w + gap)
            sheet[y:y + h, x:x + w] = big
    return sheet


def labelled_grid(images: np.ndarray, labels: list[str], wrong: list[bool], scale: int = 3,
                  cols: int = 8) -> np.ndarray:
    """Test images with their predicted label under each; wrong predictions framed in red.
    images: (N, H, W) or (N, H, W, 3) floats in [0, 1]."""
    from PIL import Image, ImageDraw, ImageFont

    from torchvision.utils import make_grid
    import torch

    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim == 3:
        x = x.unsqueeze(-1).expand(-1, -1, -1, 3)
    x = x.permute(0, 3, 1, 2)                                         # (N, 3, H, W)
    x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")
    frame = torch.tensor([[0.84, 0.15, 0.16] if w else [0.85, 0.85, 0.85] for w in wrong])
    x = torch.nn.functional.pad(x, (3, 3, 3, 3), value=0.0)
    edge = torch.ones_like(x[0, 0], dtype=torch.bool)
    edge[3:-3, 3:-3] = False
    x = torch.where(edge, frame[:, :, None, None], x)                 # coloured frame per tile
    label_h = 14
    x = torch.nn.functional.pad(x, (0, 0, 0, label_h), value=1.0)     # white strip for the label
    grid = make_grid(x, nrow=cols, padding=4, pad_value=1.0)
    img = Image.fromarray((grid.permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=11)
    th, tw = x.shape[2], x.shape[3]
    for i, (label, w) in enumerate(zip(labels, wrong)):
        r, c = divmod(i, cols)
        draw.text((4 + c * (tw + 4) + 3, 4 + r * (th + 4) + th - label_h),
                  label, fill=(214, 39, 40) if w else (40, 40, 40), font=font)
    return np.asarray(img)


def classification_views(pred, data, show: int = 32) -> dict:
    """Test-set pictures of an image classifier: a grid of predictions (mistakes framed in red),
    the confusion matrix and per-class accuracy. `pred`: predicted class per test example."""
    import torch

    x, y = data.test[0], data.test[1]          # a third tensor may follow (teacher logits)
    k = data.num_classes
    cm = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k).cpu().numpy()
    imgs = (x[:show].float().cpu() * data.extra["std"] + data.extra["mean"]).clamp(0, 1)
    imgs = imgs.permute(0, 2, 3, 1).numpy()
    if imgs.shape[-1] == 1:
        imgs = imgs[..., 0]
    names = list(data.classes)
    p, t = pred[:show].tolist(), y[:show].tolist()
    grid = labelled_grid(imgs, [names[i] for i in p], [a != b for a, b in zip(p, t)],
                         scale=4 if imgs.shape[1] <= 16 else 2)
    per_class = np.diag(cm) / np.maximum(1, cm.sum(1))
    bars = {"data": [{"type": "bar", "x": names, "y": np.round(per_class, 4).tolist(),
                      "marker": {"color": BLUE}, "hovertemplate": "%{x}: %{y:.1%}<extra></extra>"}],
            "layout": {**_LAYOUT, "height": 300, "yaxis": {"range": [0, 1], "tickformat": ".0%"},
                       "xaxis": {"type": "category"}}}
    return {
        "predictions": artifact(N_("Test predictions"), "image", png(grid),
                                N_("Predicted label under each test image; red frames are mistakes.")),
        "confusion": artifact(N_("Confusion matrix (test set)"), "plotly",
                              confusion(cm, names)),
        "per_class": artifact(N_("Accuracy per class"), "plotly", bars),
    }


def number(value, share: bool = False) -> str:
    """A metric as a person reads it: three significant figures, scientific where small (a
    gradient of 1.3e-07 is not 0), a share as a percentage, "–" where there is none."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–"
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if share:
        return f"{value:.1%}"
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:,.1f}"
    if size >= 1e-3:
        return f"{value:.4g}"
    return f"{value:.2g}"


def result(name: str, final: dict | None) -> str:
    """A run's headline, read in a list of runs of every lab: "93.1% test acc", "modes 8"."""
    from playground import registry

    try:
        found = registry.headline(name, final)
    except registry.UnknownLab:             # a damaged run: its lab cannot be read
        return ""
    if found is None:
        return ""
    column, value = found
    from playground.i18n import translate

    return f"{number(value, registry.is_share(column))} {translate(column)}"      # HEADLINE's word


def arrows(starts, ends, name: str, color: str, width: float = 1.0, head: int = 7) -> dict:
    """Strokes from each start to its end with a head at the end (one trace: segments broken by
    gaps, the head a marker turned along its segment)."""
    xs, ys, sizes = [], [], []
    for (x0, y0), (x1, y1) in zip(starts, ends):
        xs += [round(float(x0), 4), round(float(x1), 4), None]
        ys += [round(float(y0), 4), round(float(y1), 4), None]
        sizes += [0, head, 0]
    return {"type": "scatter", "mode": "lines+markers", "name": name, "x": xs, "y": ys,
            "line": {"color": color, "width": width}, "hoverinfo": "skip",
            "marker": {"symbol": "arrow", "angleref": "previous", "size": sizes,
                       "color": color, "line": {"width": 0}}}
