"""The MLP lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/mlp.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from playground.data.table import TASKS, BadTable, parse, prepare
from playground.data.toy2d import DATASETS_2D, REGRESSION_2D
from playground.engine.device import DEVICE_CHOICES
from playground.labs import torch_part
from playground.labs._common import ACTIVATION_NAMES, OPTIMIZERS
from playground.params import param

TITLE, ICON, SECTION = "MLP", "🧠", "Foundations"
TRY_THIS = ("Spiral with activation = linear: the boundary stays a straight line however many "
            "layers you add. Switch back to relu and watch it curl around the arms. Then try "
            "features x1^2 and x2^2 alone on circles with no hidden layer at all.")

STAGE = ("dataset", "features", "hidden_sizes", "activation")
# Settings a running run takes at its next flush (the live panel's "Change while it trains"):
# the optimizer's step size, the penalty, the dropout rate - nothing that reshapes the network.
LIVE = ("lr", "regularization", "reg_rate", "dropout")
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
IMAGE_SETS = ("digits", "mnist", "fashion_mnist")
POINT_SETS = DATASETS_2D + REGRESSION_2D


@dataclass(frozen=True)
class Config:
    dataset: str = param("spiral", choices=POINT_SETS + IMAGE_SETS + ("csv",), group="Data",
                         help="2-D point sets are generated here; plane and multi_gaussian are "
                              "regression (a value to predict at each point, as in TensorFlow "
                              "Playground: MSE loss, R²); digits is embedded (8x8); MNIST and "
                              "Fashion-MNIST (28x28) download on first use; csv is your own "
                              "table of numbers.")
    csv_file: str = param("", upload=("csv",), holds="table", group="Data",
                          label="Your data (.csv)", when={"dataset": ("csv",)},
                          help="Columns of numbers under a header line (x1,x2,label), one "
                               "example per row, at most 50,000 rows; the target is the last "
                               "column unless you name another.")
    target: str = param("", group="Data", label="Target column", when={"dataset": ("csv",)},
                        help="The column to predict, as the header names it; empty = the last "
                             "column. The other columns are the inputs.")
    task: str = param("auto", choices=TASKS, group="Data", when={"dataset": ("csv",)},
                      help="auto: classification when the target holds at most 20 different "
                           "whole numbers, regression otherwise.")
    noise: float = param(0.05, lo=0.0, hi=0.5, group="Data", when={"dataset": POINT_SETS},
                         help="Jitter added to every 2-D point (the plane spans about -1..1).")
    n_samples: int = param(1000, lo=50, hi=20000, group="Data", when={"dataset": POINT_SETS},
                           help="How many 2-D points to generate.")
    train_ratio: float = param(0.5, lo=0.1, hi=0.9, group="Data",
                               help="Share of the points (or digits) used for training; the rest "
                                    "is the test set. MNIST keeps its official split.")
    features: tuple[str, ...] = param(("x1", "x2"), choices=FEATURES, min_len=1, group="Features",
                                      help="Inputs computed from each 2-D point (sin uses "
                                           "sin(pi x)); a table with two input columns takes "
                                           "them too. Ignored for images and wider tables.")
    hidden_sizes: tuple[int, ...] = param((32, 32), lo=1, hi=100_000, max_len=6, group="Network",
                                          help="Neurons per hidden layer, e.g. 16,16. Empty = no "
                                               "hidden layer (a linear classifier).")
    activation: str = param("relu", choices=ACTIVATION_NAMES, group="Network",
                            help="The non-linearity f after every hidden layer.")
    init: str = param("xavier", choices=("xavier", "he", "normal", "zeros"), group="Network",
                      help="Initial weights. Zeros makes every neuron of a layer identical.")
    dropout: float = param(0.0, lo=0.0, hi=0.9, group="Network",
                           help="Probability of zeroing each hidden activation while training.")
    optimizer: str = param("adam", choices=OPTIMIZERS,
                           group="Training", help="momentum = SGD with momentum 0.9.")
    lr: float = param(0.01, lo=1e-6, hi=100.0, log=True, group="Training", label="Learning rate",
                      help="Step size of the optimizer.")
    regularization: str = param("none", choices=("none", "l1", "l2"), group="Training",
                                help="Penalty on the weights added to the loss.")
    reg_rate: float = param(1e-4, lo=0.0, hi=1.0, log=True, group="Training", label="Regularization rate",
                            help="Weight of the L1/L2 penalty.")
    batch_size: int = param(32, lo=1, hi=8192, group="Training",
                            help="Examples per gradient step.")
    epochs: int = param(100, lo=1, hi=2000, group="Training",
                        help="Passes over the training set.")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same data, same initial weights, same curve.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Spiral (default)": {},
    "Linear can't spiral": {"activation": "linear", "hidden_sizes": (16, 16, 16)},
    "Circles, features only": {"dataset": "circles", "features": ("x1^2", "x2^2"),
                               "hidden_sizes": (), "epochs": 30, "lr": 0.03},
    "XOR with one hidden layer": {"dataset": "xor", "hidden_sizes": (4,), "lr": 0.03,
                                  "epochs": 60},
    "Tanh, slower to escape": {"activation": "tanh", "hidden_sizes": (16, 16)},
    "Zero init (symmetry)": {"init": "zeros"},
    "Digits": {"dataset": "digits", "hidden_sizes": (64,), "activation": "relu", "lr": 0.003,
               "epochs": 40, "train_ratio": 0.8},
    "Regression: plane": {"dataset": "plane", "noise": 0.05, "hidden_sizes": (8,),
                          "epochs": 40},
    "Regression: multi-Gaussian": {"dataset": "multi_gaussian", "noise": 0.05,
                                   "hidden_sizes": (32, 32), "epochs": 150},
    "MNIST 784-512-512-10": {"dataset": "mnist", "hidden_sizes": (512, 512), "activation": "relu",
                             "lr": 0.001, "batch_size": 64, "epochs": 3, "init": "he"},
}

def table_text(cfg: Config) -> str:
    """The uploaded file (DataUnavailable when it is not on this server). An exported script
    reads it from a file instead (export_stubs)."""
    from playground.data import DataUnavailable, uploads

    try:
        return uploads.load(cfg.csv_file)
    except DataUnavailable:
        raise DataUnavailable(f"The uploaded table {cfg.csv_file[:16]} is not on this server (it "
                              "was uploaded elsewhere, or removed): upload the file again, or "
                              "pick a built-in data set.", fix={"dataset": "spiral"}) from None


@functools.lru_cache(maxsize=4)
def _parsed(text: str):
    return parse(text)


def table_of(cfg: Config):
    """The uploaded table as the network takes it (data.table.Prepared), parsed once per
    process; BadTable when its target cannot be learnt as asked."""
    return prepare(_parsed(table_text(cfg)), cfg.target, cfg.task)


def check(cfg: Config) -> list[str]:
    if cfg.dataset != "csv":
        return []
    if not cfg.csv_file:
        return ["dataset = csv trains on a table of your own: upload one (Data, 'Your data'), "
                "or pick a built-in data set."]
    from playground.data import DataUnavailable

    try:
        table_of(cfg)
    except (BadTable, DataUnavailable) as e:
        return [str(e)]
    return []


# TensorFlow Playground's step button, on a finished or stopped run (a running one pauses and
# steps in its live panel): one batch, and the pictures redrawn.
STEPS = {"title": "One step at a time",
         "help": "Pick up this run where it ended - its weights and its optimizer's state - and "
                 "take one batch per click (or ten): its pictures are redrawn after each. Nothing "
                 "is saved; the run itself is unchanged.",
         "ready": "The run as it ended. Each click trains on one batch of its examples.",
         "optimizers": ("opt",),
         "actions": ("One step", "Ten steps")}

def export_stubs(cfg: Config) -> dict[str, str]:
    """A script on a table reads it from a file (the upload stays on the server)."""
    return {"table_text": 'def table_text(cfg):\n'
                          '    """Your table: data.csv beside this script, or the file '
                          '$PLAYGROUND_CSV names."""\n'
                          '    import os\n\n'
                          '    with open(os.environ.get("PLAYGROUND_CSV", "data.csv"), '
                          'encoding="utf-8-sig") as f:\n'
                          '        return f.read()'}


CURVES = (("mse", "Mean squared error (regression)", True), ("r2", "R² (1 = perfect)", False))
HEADLINE = (("val/acc", "test acc"), ("val/r2", "test R²"), ("val/loss", "test loss"))

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
