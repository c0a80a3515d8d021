"""Node-classification graphs as tensors: Zachary's karate club and stochastic block models
(networkx, always offline), and Planetoid's Cora (downloaded when online, read from
$PLAYGROUND_DATA_DIR/Cora/raw in Planetoid's raw layout otherwise).

A graph is one Data: `train` and `test` are (node ids, labels) of the labelled and the test
nodes, so the engine's batches are node ids; the whole graph (features, edges, validation nodes,
every label, a drawing layout) is in `extra`.
"""
from __future__ import annotations

import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np

from playground.data.base import Data, DataUnavailable

PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"
PLANETOID_FILES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
# networkx lays out 2,700 nodes in ~10 s on 2 cores; a bigger graph is not drawn
DRAWN_NODES = 2000
SHIPPED_LAYOUTS = Path(__file__).parent / "layouts"
CORA_CLASSES = ("Case based", "Genetic algorithms", "Neural networks", "Probabilistic methods",
                "Reinforcement learning", "Rule learning", "Theory")


def _graph_data(name: str, x: np.ndarray, y: np.ndarray, edges: np.ndarray, train: np.ndarray,
                val: np.ndarray, test: np.ndarray, classes: tuple[str, ...]) -> Data:
    import torch

    as_long = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
    y_t = as_long(y)
    return Data(train=(as_long(train), y_t[as_long(train)]),
                test=(as_long(test), y_t[as_long(test)]),
                num_classes=len(classes), input_shape=(x.shape[1],), classes=classes,
                kind="graph", name=name,
                extra={"x": torch.as_tensor(x, dtype=torch.float32), "y": y_t,
                       "edges": as_long(edges).reshape(-1, 2), "val": as_long(val),
                       "n_nodes": len(y)})


def undirected(edges: np.ndarray, n: int) -> np.ndarray:
    """Each link once as (i, j) with i < j, self-loops and repeats dropped."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    e = np.sort(e[e[:, 0] != e[:, 1]], axis=1)
    return np.unique(e, axis=0) if len(e) else e.reshape(0, 2)


@lru_cache(maxsize=4)
def karate() -> Data:
    """Zachary's club: 34 members, 78 friendships, split in two after a quarrel. Only the two
    leaders (the instructor, node 0, and the administrator, node 33) are labelled; the task is
    everyone else's side. Features: one-hot node ids (the graph is all there is)."""
    import networkx as nx

    g = nx.karate_club_graph()
    y = np.array([0 if g.nodes[i]["club"] == "Mr. Hi" else 1 for i in g.nodes])
    train = np.array([0, 33])
    rest = np.setdiff1d(np.arange(34), train)
    return _graph_data("karate", np.eye(34, dtype=np.float32), y, undirected(list(g.edges), 34),
                       train, rest, rest, ("Mr. Hi", "Officer"))


MAX_LINKS = 1_000_000        # a block model's expected links: beyond, memory and time balloon


def sbm_links(communities: int, size: int, p_in: float, p_out: float) -> float:
    """The expected number of links of a block model, known before any is drawn."""
    inside = communities * size * (size - 1) / 2
    across = communities * (communities - 1) / 2 * size * size
    return p_in * inside + p_out * across


def sbm_edges(communities: int, size: int, p_in: float, p_out: float,
              rng: np.random.Generator) -> np.ndarray:
    """A block model's links (i < j), drawn block pair by block pair as arrays: no Python
    list of edges (networkx's is ~100 bytes a link), memory a block pair at a time."""
    if sbm_links(communities, size, p_in, p_out) > MAX_LINKS:
        raise ValueError(f"a block model of over {MAX_LINKS:,} links is refused")
    out = []
    for a in range(communities):
        for b in range(a, communities):
            p = p_in if a == b else p_out
            if p <= 0:
                continue
            i, j = np.nonzero(rng.random((size, size), dtype=np.float32) < p)
            if a == b:
                keep = i < j
                i, j = i[keep], j[keep]
            out.append(np.stack([i + a * size, j + b * size], 1))
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, 2), np.int64)


@lru_cache(maxsize=8)
def sbm(communities: int, size: int, p_in: float, p_out: float, noise: float,
        labels_per_class: int, seed: int) -> Data:
    """A stochastic block model: `communities` groups of `size` nodes, linked with probability
    p_in inside a group and p_out across. Each node's 16 features are its group's mean plus
    Gaussian noise of std `noise`: with a lot of noise only the links tell the groups apart."""
    edges = sbm_edges(communities, size, p_in, p_out, np.random.default_rng([seed, 1]))
    y = np.repeat(np.arange(communities), size)
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((communities, 16)).astype(np.float32)
    x = means[y] + noise * rng.standard_normal((len(y), 16)).astype(np.float32)
    train, val, test = [], [], []
    for c in range(communities):
        members = rng.permutation(np.flatnonzero(y == c))
        train += members[:labels_per_class].tolist()
        rest = members[labels_per_class:]
        val += rest[:len(rest) // 4].tolist()
        test += rest[len(rest) // 4:].tolist()
    return _graph_data("sbm", x, y, edges, np.array(train),
                       np.array(val), np.array(test), tuple(f"group {c}" for c in range(communities)))


def planetoid_dir(root: Path, name: str = "Cora") -> Path:
    return Path(root) / name / "raw"


def _download_planetoid(raw: Path, name: str) -> None:
    from torchvision.datasets.utils import download_url

    for suffix in PLANETOID_FILES:
        download_url(f"{PLANETOID_URL}/ind.{name.lower()}.{suffix}", str(raw))


def cora(root: Path, download: bool = True) -> Data:
    return _cora(str(root), download)


@lru_cache(maxsize=2)
def _cora(root: str, download: bool) -> Data:
    """Cora, 2,708 papers in 7 fields, 1,433-word bag-of-words features (rows normalised to sum
    1, as Kipf & Welling did), the public Planetoid split: 140 labelled, 500 validation, 1,000
    test nodes."""
    raw = planetoid_dir(Path(root))
    if not all((raw / f"ind.cora.{s}").is_file() for s in PLANETOID_FILES):
        if download:
            try:
                _download_planetoid(raw, "Cora")
            except Exception as e:  # noqa: BLE001 - offline, a proxy, a half-written file
                raise DataUnavailable(
                    f"Cora could not be downloaded ({type(e).__name__}). Put Planetoid's raw files "
                    f"(ind.cora.x, .tx, .allx, .y, .ty, .ally, .graph, .test.index) in {raw}, or "
                    "train on the karate club.", fix={"graph": "karate"}) from None
        else:
            raise DataUnavailable(f"Cora is not in {raw}: train on the karate club, or put "
                                  "Planetoid's raw files there.", fix={"graph": "karate"})
    parts = {}
    for s in PLANETOID_FILES[:-1]:
        with open(raw / f"ind.cora.{s}", "rb") as f:
            # Planetoid's own files: pickles of scipy matrices and a dict (Python 2's latin1)
            try:
                parts[s] = _PlanetoidUnpickler(f, encoding="latin1").load()
            except Exception as e:  # noqa: BLE001 - truncated, or not Planetoid's
                raise DataUnavailable(
                    f"{raw / f'ind.cora.{s}'} is not a Planetoid file ({e}); delete it to "
                    "download again, or train on the karate club.", fix={"graph": "karate"}
                ) from None
    test_index = np.loadtxt(raw / "ind.cora.test.index", dtype=np.int64)
    x = np.vstack([parts["allx"].toarray(), parts["tx"].toarray()]).astype(np.float32)
    y = np.vstack([parts["ally"], parts["ty"]]).argmax(1)
    order = np.sort(test_index)
    x[test_index], y[test_index] = x[order], y[order]       # the test rows in their node order
    x /= np.maximum(x.sum(1, keepdims=True), 1e-12)
    edges = [(i, j) for i, links in parts["graph"].items() for j in links]
    n = len(y)
    return _graph_data("cora", x, y, undirected(edges, n), np.arange(140), np.arange(140, 640),
                       test_index, CORA_CLASSES)


class _PlanetoidUnpickler(pickle.Unpickler):
    """Planetoid's files are pickles: only what they hold (scipy matrices, numpy arrays, a dict
    of lists) may be built from them - a downloaded or copied file runs no other code."""

    ALLOWED = {("__builtin__", "list"), ("builtins", "list"), ("collections", "defaultdict"),
               ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("scipy.sparse.csr", "csr_matrix"),
               ("scipy.sparse._csr", "csr_matrix")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a Planetoid file")
        if module.startswith("scipy.sparse"):
            import scipy.sparse

            return scipy.sparse.csr_matrix        # its old module path is deprecated
        return super().find_class(module, name)


def layout(name: str, n: int, edges: np.ndarray, cache_dir: Path | None = None) -> np.ndarray:
    """Node positions for drawing (networkx's spring layout), computed once per graph: kept in
    memory, and on disk under `cache_dir` (Cora's, shipped, would take networkx ~10 s)."""
    edges = np.ascontiguousarray(edges, dtype=np.int64)
    return _layout(name, n, edges.tobytes(), str(cache_dir) if cache_dir else "")


@lru_cache(maxsize=8)
def _layout(name: str, n: int, edges: bytes, cache_dir: str) -> np.ndarray:
    import hashlib

    import networkx as nx

    key = hashlib.sha256(edges).hexdigest()[:16]
    file = f"layout-{name}-{n}-{key}.npy"
    path = Path(cache_dir) / file if cache_dir else None
    # Cora's layout ships with the package (keyed by its links: another Cora is laid out anew)
    for known in (SHIPPED_LAYOUTS / file, path):
        if known is not None and known.is_file():
            try:
                pos = np.load(known)
                if pos.shape == (n, 2):
                    return pos.astype(np.float32)
            except (OSError, ValueError):
                pass                               # damaged: computed again below
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(np.frombuffer(edges, dtype=np.int64).reshape(-1, 2).tolist())
    placed = nx.spring_layout(g, seed=0, iterations=30 if n > 1000 else 100)
    pos = np.array([placed[i] for i in range(n)], dtype=np.float32)
    pos /= max(1e-6, float(np.abs(pos).max()))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, pos)
            tmp.replace(path)
        except OSError:
            pass                                   # a read-only home: memory only
    return pos
