"""The fundamentals every architecture rests on, one experiment at a time. **optimizers**: SGD,
momentum, RMSprop, Adagrad and Adam race from the same point down a 2-D loss surface (the
Rosenbrock valley, Beale's function, a saddle, a long narrow bowl, a bowl with noisy gradients),
each path drawn on the contours. **init**: a deep MLP's signal, layer by layer, under zeros,
a small normal, Xavier or He initialisation - the spread of the activations going forward and
of the gradients coming back, and whether the network then learns at all. **activations**: the
functions and their slopes, and the units that die (a ReLU whose every input is negative).
**losses**: three lines fitted to the same points with outliers, by MSE, MAE and Huber; four
classifiers trained side by side by cross-entropy, MSE on the softmax, label smoothing and focal
loss. **regularization**: a network that memorises a small set of digits with wrong labels, and
what L2, L1, dropout, batch norm, early stopping and shifted copies of the images do about it.

**What the page shows.** optimizers: the contour plot with every optimizer's path, its loss
against the step, the steps each needed to come within the tolerance of the minimum. init: the
standard deviation of every layer's activations and gradients (log scale) at initialisation and
now, the accuracy the deep network reaches on two moons. regularization: train, validation and
test loss together, the share of the wrong labels the network has learned by heart, and the
histogram of its weights.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, make_2d
from playground.engine.device import DEVICE_CHOICES
from playground.params import param
from playground.ui import charts

TITLE, ICON, SECTION = "Fundamentals", "🧮", "Foundations"
TRY_THIS = ("Train the default: five optimizers race down the Rosenbrock valley from the same "
            "point - plain SGD crawls along the valley floor, momentum overshoots and catches "
            "up, Adam's steps stay the same size whatever the slope. Then pick experiment = "
            "init at depth 50: He keeps the signal's spread near 1 through every ReLU layer, "
            "Xavier lets it fade, zeros never start. Last, experiment = activations at lr 0.05: "
            "watch ReLU units die, then try leaky_relu. And experiment = regularization: with "
            "nothing on, the network learns the wrong labels by heart and its test loss climbs; "
            "set l2 = 0.01 and it refuses them.")

STAGE = ("experiment", "surface", "depth", "init", "activation", "l2", "early_stopping")
EXPERIMENTS = ("optimizers", "init", "activations", "losses", "regularization")
REG_LOSSES = ("mse", "mae", "huber")
LOSS_TASKS = ("regression", "classification")
CLS_LOSSES = ("ce", "mse", "smooth", "focal")
CLS_TITLES = {"ce": "cross-entropy", "mse": "MSE on softmax", "smooth": "label smoothing",
              "focal": "focal"}
CLS_COLORS = {"ce": "#1f77b4", "mse": "#ff7f0e", "smooth": "#2ca02c", "focal": "#9467bd"}
CLS_WIDTH, CLS_LR = 64, 1e-2    # four small classifiers, one per loss, the same start
REG_WIDTH, REG_LR = 256, 1e-3   # regularization's network: 64 pixels, 2 x 256 ReLU, 10 digits
REG_VALID = 200                 # held-out examples early stopping watches (labels as noisy)
CHECK_EVERY = 20                # early stopping looks at the validation loss every N steps
HISTORY_POINTS = 150            # rows of the lab's own curves in a run
TRUE_LINE = (2.0, 0.5)           # y = 2 x + 0.5 + noise; the outliers sit far above
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adagrad", "adam")
SURFACES = ("rosenbrock", "beale", "saddle", "narrow", "noisy")
INITS = ("zeros", "normal", "xavier", "he")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid", "softplus",
               "linear")
ACT_FNS = {"relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "gelu": F.gelu,
           "silu": F.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus,
           "linear": lambda h: h}
ACT_DEPTH, ACT_WIDTH = 4, 32     # the small net of `activations`
COLORS = {"sgd": "#1f77b4", "momentum": "#ff7f0e", "rmsprop": "#2ca02c", "adagrad": "#9467bd",
          "adam": "#d62728"}
DIVERGED = 1e8               # an optimizer whose loss passes this has left the surface


@dataclass(frozen=True)
class Config:
    experiment: str = param("optimizers", choices=EXPERIMENTS, group="Experiment",
                            help="optimizers: a race on a 2-D loss surface. init: how a deep "
                                 "network's initialisation carries the signal. activations: "
                                 "the functions, their slopes, and the units that die. losses: "
                                 "lines and classifiers trained by different losses. "
                                 "regularization: a network that overfits, and what helps.")
    surface: str = param("rosenbrock", choices=SURFACES, group="Optimizers",
                         when={"experiment": ("optimizers",)},
                         help="rosenbrock: a curved valley, minimum 0 at (1, 1). beale: steep "
                              "walls, minimum 0 at (3, 0.5). saddle: x^2 - y^2 + y^4/4, minima "
                              "-1 at (0, +-1.41), a saddle at the origin. narrow: a bowl 50x "
                              "steeper across than along. noisy: a round bowl whose gradients "
                              "carry noise (std 2), as minibatches do.")
    optimizers: tuple[str, ...] = param(OPTIMIZERS, choices=OPTIMIZERS, min_len=1,
                                        group="Optimizers", when={"experiment": ("optimizers",)},
                                                            help="Which optimizers race.")
    lr_sgd: float = param(1e-3, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                          label="lr SGD", when={"experiment": ("optimizers",)},
                                          help="Step size of plain SGD.")
    lr_momentum: float = param(1e-3, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                               label="lr momentum", when={"experiment": ("optimizers",)},
                                                    help="Step size of SGD with momentum.")
    lr_rmsprop: float = param(1e-2, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                              label="lr RMSprop", when={"experiment": ("optimizers",)},
                                                  help="Step size of RMSprop.")
    lr_adagrad: float = param(0.3, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                              label="lr Adagrad", when={"experiment": ("optimizers",)},
                                                  help="Step size of Adagrad.")
    lr_adam: float = param(5e-2, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                           label="lr Adam", when={"experiment": ("optimizers",)},
                                            help="Step size of Adam.")
    momentum: float = param(0.9, lo=0.0, hi=0.999, group="Optimizers",
                            when={"experiment": ("optimizers",)},
                            help="Momentum's share of the last step (SGD with momentum).")
    beta1: float = param(0.9, lo=0.0, hi=0.999, group="Optimizers",
                         when={"experiment": ("optimizers",)},
                         help="Adam's average of gradients.")
    beta2: float = param(0.999, lo=0.0, hi=0.99999, group="Optimizers",
                         when={"experiment": ("optimizers",)},
                         help="Adam's (and RMSprop's, as alpha) average of squared gradients.")
    start_x: float = param(-1.5, lo=-4.0, hi=4.0, group="Optimizers", when={"experiment": ("optimizers",)},
                                                                      help="Where all start: x.")
    start_y: float = param(2.0, lo=-4.0, hi=4.0, group="Optimizers", when={"experiment": ("optimizers",)},
                                                                     help="Where all start: y.")
    tolerance: float = param(1e-3, lo=1e-9, hi=1.0, log=True, group="Optimizers",
                             when={"experiment": ("optimizers",)},
                             help="'Reached' means within this of the surface's minimum.")
    depth: int = param(50, lo=2, hi=100, group="Initialisation",
                       when={"experiment": ("init",)},
                       help="Hidden layers of the deep MLP.")
    width: int = param(128, lo=4, hi=1024, group="Initialisation", when={"experiment": ("init",)},
                                                                   help="Units per layer.")
    init: str = param("he", choices=INITS, group="Initialisation",
                      when={"experiment": ("init",)},
                      help="zeros: every weight 0. normal: N(0, init_std^2). xavier: std "
                           "sqrt(2 / (in + out)), made for tanh. he: std sqrt(2 / in), made "
                           "for ReLU (which zeroes half the signal).")
    init_std: float = param(0.01, lo=1e-6, hi=10.0, log=True, group="Initialisation",
                            label="init std", when={"experiment": ("init",), "init": ("normal",)},
                                              help="The std of 'normal'.")
    activation: str = param("relu", choices=ACTIVATIONS, group="Initialisation",
                            when={"experiment": ("init", "activations")},
                            help="Between the layers (init and activations).")
    lr: float = param(1e-3, lo=1e-6, hi=1.0, log=True, group="Initialisation",
                      when={"experiment": ("init", "activations")},
                      help="Adam's step size when the network trains (init: the deep one on "
                           "two moons; activations: 4 layers of 32 on the spiral).")
    loss_task: str = param("regression", choices=LOSS_TASKS, group="Losses", label="task",
                           when={"experiment": ("losses",)},
                           help="regression: lines through points with outliers (MSE, MAE, "
                                "Huber). classification: four networks on the spiral "
                                "(cross-entropy, MSE on softmax, label smoothing, focal).")
    outliers: float = param(0.1, lo=0.0, hi=0.5, group="Losses",
                            when={"experiment": ("losses",), "loss_task": ("regression",)},
                            help="Share of the points moved far above the line.")
    smoothing: float = param(0.1, lo=0.0, hi=0.5, group="Losses", label="label smoothing",
                             when={"experiment": ("losses",), "loss_task": ("classification",)},
                             help="Label smoothing's share of the target spread over all "
                                  "classes: the right class's target is 1 - s + s/K.")
    focal_gamma: float = param(2.0, lo=0.0, hi=5.0, group="Losses", label="focal gamma",
                               when={"experiment": ("losses",), "loss_task": ("classification",)},
                               help="Focal loss multiplies cross-entropy by (1 - p)^gamma: "
                                    "examples already right count less. 0 is cross-entropy.")
    train_size: int = param(300, lo=50, hi=1000, group="Regularisation", label="training set",
                            when={"experiment": ("regularization",)},
                            help="Digits (8x8) to train on; 200 more are the validation set, "
                                 "the rest (about 1,300) the test set.")
    label_noise: float = param(0.3, lo=0.0, hi=0.8, group="Regularisation",
                               when={"experiment": ("regularization",)},
                               help="Share of the training and validation labels replaced by "
                                    "a wrong digit: a big network learns them by heart.")
    l2: float = param(0.0, lo=0.0, hi=10.0, group="Regularisation", label="L2",
                      when={"experiment": ("regularization",)},
                      help="Adds l2 x (sum of squared weights) to the loss: weights shrink "
                           "towards 0 (try 0.01).")
    l1: float = param(0.0, lo=0.0, hi=10.0, group="Regularisation", label="L1",
                      when={"experiment": ("regularization",)},
                      help="Adds l1 x (sum of absolute weights): many weights become exactly "
                           "0 (try 0.0003; from 0.003 every weight dies).")
    dropout: float = param(0.0, lo=0.0, hi=0.9, group="Regularisation",
                           when={"experiment": ("regularization",)},
                           help="Share of the hidden units zeroed at each training step.")
    batch_norm: bool = param(False, group="Regularisation", label="batch norm",
                             when={"experiment": ("regularization",)},
                             help="Normalise each hidden layer over the batch (its noise "
                                  "regularises a little; mainly it speeds training).")
    early_stopping: int = param(0, lo=0, hi=100, group="Regularisation",
                                label="early stopping patience",
                                when={"experiment": ("regularization",)},
                                help=f"Stop when the validation loss has not improved for this "
                                     f"many checks (one every {CHECK_EVERY} steps) and keep the "
                                     "best weights. 0: off.")
    augment: bool = param(False, group="Regularisation", label="augmentation",
                          when={"experiment": ("regularization",)},
                          help="Shift every training image by up to one pixel, anew at each "
                               "step: more digits than the set holds.")
    steps: int = param(1500, lo=1, hi=20_000, group="Training",
                       when={"experiment": ("optimizers", "losses", "regularization")},
                       help="Steps of every racer (optimizers), of the fits (losses) and of "
                            "the network (regularization).")
    train_steps: int = param(300, lo=1, hi=20_000, group="Initialisation",
                             when={"experiment": ("init", "activations")},
                             help="Adam steps on the whole data set (init, activations).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same weights, same noise.")
    device: str = param("cpu", choices=DEVICE_CHOICES, group="Training",
                        help="These experiments are small: the CPU is fastest.")


PRESETS = {
    "Optimizers on the Rosenbrock valley (default)": {},
    "Optimizers at a saddle": {"surface": "saddle", "start_x": -1.5, "start_y": 0.001,
                               "lr_sgd": 0.01, "lr_momentum": 0.01, "lr_adam": 0.05},
    "Optimizers in a narrow bowl": {"surface": "narrow", "start_x": -3.0, "start_y": 1.0,
                                    "lr_sgd": 0.035, "lr_momentum": 0.01},
    "SGD at a learning rate that diverges": {"optimizers": ("sgd", "adam"), "lr_sgd": 0.01},
    "Init: He at depth 50 (ReLU)": {"experiment": "init"},
    "Init: Xavier at depth 50 (ReLU)": {"experiment": "init", "init": "xavier"},
    "Init: twice He's std (explodes)": {"experiment": "init", "init": "normal",
                                        "init_std": 0.25},
    "Init: zeros": {"experiment": "init", "init": "zeros"},
    "Activations: ReLU at a high learning rate (units die)": {
        "experiment": "activations", "lr": 0.05, "train_steps": 500},
    "Activations: leaky ReLU at the same rate": {
        "experiment": "activations", "activation": "leaky_relu", "lr": 0.05, "train_steps": 500},
    "Losses: outliers (regression)": {"experiment": "losses"},
    "Losses: four classification losses": {"experiment": "losses",
                                           "loss_task": "classification", "steps": 600},
    "Regularization: nothing (it memorises)": {"experiment": "regularization"},
    "Regularization: L2 0.01": {"experiment": "regularization", "l2": 0.01},
    "Regularization: L1 (sparse weights)": {"experiment": "regularization", "l1": 3e-4},
    "Regularization: dropout 0.5": {"experiment": "regularization", "dropout": 0.5},
    "Regularization: batch norm": {"experiment": "regularization", "batch_norm": True},
    "Regularization: early stopping": {"experiment": "regularization", "early_stopping": 5},
    "Regularization: augmentation": {"experiment": "regularization", "augment": True},
}


def steps_of(cfg: Config) -> int:
    return cfg.train_steps if cfg.experiment in ("init", "activations") else cfg.steps


# ---------------------------------------------------------------------------------------------
# The surfaces: f(x, y) on tensors; (range of x, range of y, minimum value, its place)

def surface_fn(name: str):
    if name == "rosenbrock":
        return lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2
    if name == "beale":
        return lambda x, y: ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2
                             + (2.625 - x + x * y ** 3) ** 2)
    if name == "saddle":
        return lambda x, y: x ** 2 - y ** 2 + y ** 4 / 4
    if name == "narrow":
        return lambda x, y: 0.5 * (x ** 2 + 50 * y ** 2)
    return lambda x, y: x ** 2 + y ** 2


SURFACE_INFO = {"rosenbrock": ((-2, 2), (-1, 3), 0.0, (1, 1)),
                "beale": ((-4.5, 4.5), (-4.5, 4.5), 0.0, (3, 0.5)),
                "saddle": ((-2, 2), (-2.5, 2.5), -1.0, (0, math.sqrt(2))),
                "narrow": ((-3.5, 3.5), (-1.5, 1.5), 0.0, (0, 0)),
                "noisy": ((-2.5, 2.5), (-2.5, 2.5), 0.0, (0, 0))}
NOISE = 2.0


def load_data(cfg: Config) -> Data:
    if cfg.experiment == "init":
        return make_2d("moons", n=800, noise=0.15, train_ratio=0.5, seed=cfg.seed)
    if cfg.experiment == "activations":
        return make_2d("spiral", n=800, noise=0.1, train_ratio=0.5, seed=cfg.seed)
    if cfg.experiment == "losses" and cfg.loss_task == "classification":
        return make_2d("spiral", n=800, noise=0.1, train_ratio=0.5, seed=cfg.seed)
    if cfg.experiment == "regularization":
        return noisy_digits(cfg)
    if cfg.experiment == "losses":
        g = torch.Generator().manual_seed(cfg.seed)
        x = torch.rand(200, 1, generator=g) * 4 - 2
        y = TRUE_LINE[0] * x + TRUE_LINE[1] + 0.3 * torch.randn(200, 1, generator=g)
        far = torch.rand(200, 1, generator=g) < cfg.outliers
        y = torch.where(far, y + 15 + 5 * torch.rand(200, 1, generator=g), y)
        return Data(train=(x, y), test=(x, y), num_classes=1, input_shape=(1,), name="outliers",
                    kind="tabular")
    # the race needs no data: one placeholder row, so every step is one step of every racer
    one = torch.zeros(1, 2)
    return Data(train=(one,), test=(one,), num_classes=1, input_shape=(2,), name=cfg.surface,
                kind="surface")


def noisy_digits(cfg: Config) -> Data:
    """scikit-learn's 1,797 digits: `train_size` to train on, REG_VALID to validate, the rest to
    test. A `label_noise` share of the training and validation labels is replaced by another
    digit (validation too: in practice the labels one can check against are as noisy). `train`
    carries the true labels as a third tensor, to count what was learned by heart."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]     # (N, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.int64)
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(y), generator=g)
    x, y = x[order], y[order]
    seen = cfg.train_size + REG_VALID
    wrong = (torch.rand(seen, generator=g) < cfg.label_noise)
    shift = torch.randint(1, 10, (seen,), generator=g)                  # never the true digit
    noisy = torch.where(wrong, (y[:seen] + shift) % 10, y[:seen])
    tr = slice(0, cfg.train_size)
    return Data(train=(x[tr], noisy[tr], y[tr]), test=(x[seen:], y[seen:]), num_classes=10,
                input_shape=(1, 8, 8), classes=tuple(str(i) for i in range(10)), kind="image",
                name="digits with wrong labels",
                extra={"valid": (x[cfg.train_size:seen], noisy[cfg.train_size:seen])})


# ---------------------------------------------------------------------------------------------
# The deep MLP of `init`

class DeepMLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        depth, width = ((ACT_DEPTH, ACT_WIDTH) if cfg.experiment == "activations"
                        else (cfg.depth, cfg.width))
        widths = [2] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(width, 2)
        self.act = ACT_FNS[cfg.activation]
        for lin in self.hidden:
            initialise(lin, cfg)
        self.trace: list[torch.Tensor] | None = None   # set to a list to record activations
        self.pre: list[torch.Tensor] | None = None     # and one for what goes into them

    def forward(self, x):
        h = x
        for lin in self.hidden:
            z = lin(h)
            h = self.act(z)
            if self.trace is not None:
                self.trace.append(h)
            if self.pre is not None:
                self.pre.append(z)
        return self.out(h)


def dead_units(model: DeepMLP, x: torch.Tensor) -> list[float]:
    """Per hidden layer, the share of units whose slope is 0 for every input (a ReLU that outputs
    0 for all of them: no gradient reaches its weights any more)."""
    model.pre = []
    try:
        with torch.no_grad():
            model(x)
        out = []
        for z in model.pre:
            z = z.detach().requires_grad_(True)
            with torch.enable_grad():
                slope, = torch.autograd.grad(model.act(z).sum(), z)
            out.append((slope.abs() < 1e-8).all(0).float().mean())
        return torch.stack(out).tolist()
    finally:
        model.pre = None


def initialise(lin: nn.Linear, cfg: Config) -> None:
    with torch.no_grad():
        lin.bias.zero_()
        if cfg.init == "zeros":
            lin.weight.zero_()
        elif cfg.init == "normal":
            lin.weight.normal_(0, cfg.init_std)
        elif cfg.init == "xavier":
            nn.init.xavier_normal_(lin.weight)
        else:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")


def spreads(model: DeepMLP, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
    """The std of every hidden layer's activations (forward) and of the loss's gradient with
    respect to them (backward), for one batch."""
    model.trace = []
    try:
        with torch.enable_grad():
            loss = F.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, model.trace, allow_unused=True)
        acts = torch.stack([h.detach().float().std() for h in model.trace]).tolist()
        back = torch.stack([g.float().std() if g is not None else torch.zeros(())
                            for g in grads]).tolist()
    finally:
        model.trace = None
    return acts, back


# ---------------------------------------------------------------------------------------------
# The race: one nn.Parameter (x, y) and one torch optimizer per racer

class Racers(nn.Module):
    """Every racer's position; a module so that the engine can count, save and export it."""

    def __init__(self, names: tuple[str, ...], start: tuple[float, float]):
        super().__init__()
        self.names = names
        self.pos = nn.ParameterDict({n: nn.Parameter(torch.tensor(start)) for n in names})

    def forward(self, x=None):
        return torch.stack([self.pos[n] for n in self.names])


class Lines(nn.Module):
    """One line y = a x + b per regression loss, fitted side by side on the same points."""

    def __init__(self):
        super().__init__()
        self.fit = nn.Linear(1, len(REG_LOSSES))

    def forward(self, x):
        return self.fit(x)


def regression_losses(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each column's own loss: MSE, MAE and Huber (delta 1) of its line."""
    err = pred - y
    return torch.stack([(err[:, 0] ** 2).mean(), err[:, 1].abs().mean(),
                        F.huber_loss(pred[:, 2], y[:, 0], delta=1.0)])


class Classifiers(nn.Module):
    """Four copies of one small network (the same weights at the start), one per classification
    loss, so that only the loss differs."""

    def __init__(self, num_classes: int):
        super().__init__()
        one = nn.Sequential(nn.Linear(2, CLS_WIDTH), nn.ReLU(), nn.Linear(CLS_WIDTH, CLS_WIDTH),
                            nn.ReLU(), nn.Linear(CLS_WIDTH, num_classes))
        self.nets = nn.ModuleList(copy.deepcopy(one) for _ in CLS_LOSSES)

    def forward(self, x):
        return torch.stack([net(x) for net in self.nets])        # (losses, n, classes)


def classification_losses(logits: torch.Tensor, y: torch.Tensor, cfg: Config) -> torch.Tensor:
    """Per loss (rows, in CLS_LOSSES' order) and per example: cross-entropy; squared error
    between the softmax and the one-hot target; cross-entropy against the smoothed target;
    focal loss, (1 - p)^gamma times cross-entropy."""
    k = logits.shape[-1]
    logp = logits.float().log_softmax(-1)                           # (4, n, k)
    target = F.one_hot(y, k).float()
    ce = -(target * logp[0]).sum(-1)
    mse = ((logp[1].exp() - target) ** 2).sum(-1)
    smooth = -(((1 - cfg.smoothing) * target + cfg.smoothing / k) * logp[2]).sum(-1)
    right = (target * logp[3]).sum(-1)
    focal = -(1 - right.exp()) ** cfg.focal_gamma * right
    return torch.stack([ce, mse, smooth, focal])


class RegNet(nn.Module):
    """The network that overfits: 64 pixels, two hidden layers of REG_WIDTH ReLUs (with batch
    norm and dropout where asked), 10 digits."""

    def __init__(self, cfg: Config):
        super().__init__()
        layers, width = [nn.Flatten()], 64
        for _ in range(2):
            layers.append(nn.Linear(width, REG_WIDTH))
            if cfg.batch_norm:
                layers.append(nn.BatchNorm1d(REG_WIDTH))
            layers.append(nn.ReLU())
            if cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            width = REG_WIDTH
        layers.append(nn.Linear(width, 10))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)

    def weights(self) -> list[torch.Tensor]:
        """The weight matrices, which L1 and L2 act on (biases and batch norm's scales are
        left alone, as usual)."""
        return [m.weight for m in self.net if isinstance(m, nn.Linear)]


def shifted(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Every image moved by -1, 0 or 1 pixel in each direction (its own shift), zeros coming in
    at the edge: the nine shifted copies are cut from one padded batch."""
    n, _, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1))
    copies = torch.stack([padded[:, :, dy:dy + h, dx:dx + w] for dy in range(3)
                          for dx in range(3)])                          # (9, n, 1, h, w)
    pick = torch.randint(0, 9, (n,), device=x.device, generator=gen)
    return copies[pick, torch.arange(n, device=x.device)]


def make_optimizer(name: str, params, cfg: Config) -> torch.optim.Optimizer:
    lr = getattr(cfg, f"lr_{name}")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.beta2)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))


def blueprint(cfg: Config):
    if cfg.experiment in ("init", "activations"):
        return DeepMLP(cfg), (2,)
    if cfg.experiment == "regularization":
        return RegNet(cfg), (1, 8, 8)
    if cfg.experiment == "losses":
        return (Classifiers(2), (2,)) if cfg.loss_task == "classification" else (Lines(), (1,))
    return Racers(cfg.optimizers, (cfg.start_x, cfg.start_y)), (2,)


ONNX = False          # a race has no input to map; the deep MLP's weights and script download


@dataclass
class State:
    cfg: Config
    model: nn.Module
    opts: dict                                  # racer -> optimizer (init: "adam" -> Adam)
    f: object = None
    gen: torch.Generator | None = None
    path: list = None                           # racers' positions, one (n, 2) tensor a step
    losses: list = None                         # racers' losses, one (n,) tensor a step
    stopped: torch.Tensor | None = None         # step at which a racer left the surface (-1)
    step: int = 0
    at_init: tuple | None = None                # init: the spreads before training
    history: list = None                        # losses, regularization: a device row ...
    history_steps: list = None                  # ... every record_every steps, and its step
    record_every: int = 1
    sets: tuple = ()                            # the sets the history measures
    valid: tuple | None = None                  # regularization: early stopping's examples
    best: tuple | None = None                   # ... its best (validation loss, step, weights)
    waited: int = 0                             # ... checks since the best
    ended: str | None = None                    # why the run ended early, once it has
    last_out: dict | None = None                # regularization: the last step's metrics


def build(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    if cfg.experiment == "regularization":
        model = RegNet(cfg).to(device)
        valid = tuple(t.to(device) for t in data.extra["valid"])
        s = State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=REG_LR)},
                  gen=torch.Generator(device=device).manual_seed(cfg.seed), history=[],
                  history_steps=[], record_every=max(1, cfg.steps // HISTORY_POINTS),
                  valid=valid, sets=(data.train[:2], valid, data.test))
        _record(s)
        s.at_init = torch.cat([w.detach().flatten() for w in model.weights()]).cpu()
        return s
    if cfg.experiment == "losses" and cfg.loss_task == "classification":
        model = Classifiers(data.num_classes).to(device)
        # one Adam over the four networks is four Adams: its statistics are per weight
        s = State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=CLS_LR)},
                  history=[], history_steps=[], record_every=max(1, cfg.steps // HISTORY_POINTS),
                  sets=(data.test,))
        _record(s)
        return s
    if cfg.experiment == "losses":
        model = Lines().to(device)
        with torch.no_grad():
            model.fit.weight.zero_()
            model.fit.bias.zero_()
        return State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=0.05)})
    if cfg.experiment != "optimizers":
        model = DeepMLP(cfg).to(device)
        s = State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=cfg.lr)})
        s.at_init = spreads(model, *data.train)
        return s
    model = Racers(cfg.optimizers, (cfg.start_x, cfg.start_y)).to(device)
    opts = {n: make_optimizer(n, [model.pos[n]], cfg) for n in cfg.optimizers}
    s = State(cfg, model, opts, f=surface_fn(cfg.surface),
              gen=torch.Generator(device=device).manual_seed(cfg.seed))
    start = model().detach()
    s.path = [start.clone()]
    s.losses = [s.f(start[:, 0], start[:, 1]).detach()]
    s.stopped = torch.full((len(cfg.optimizers),), -1, device=device)
    return s


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    if s.cfg.experiment == "regularization":
        return _regularized_step(s, batch)
    if s.cfg.experiment == "losses" and s.cfg.loss_task == "classification":
        x, y = batch
        each = classification_losses(s.model(x), y, s.cfg).mean(1)
        opt = s.opts["adam"]
        opt.zero_grad(set_to_none=True)
        each.sum().backward()                  # the networks share nothing: each its own loss
        opt.step()
        s.step += 1
        if s.step % s.record_every == 0:
            _record(s)
        return {"train/loss": each[0].detach(),
                **{f"train/loss_{n}": each[i].detach() for i, n in enumerate(CLS_LOSSES)}}
    if s.cfg.experiment == "losses":
        x, y = batch
        each = regression_losses(s.model(x), y)
        opt = s.opts["adam"]
        opt.zero_grad(set_to_none=True)
        each.sum().backward()                  # the lines share no weights: each its own loss
        opt.step()
        return {"train/loss": each.sum().detach()}
    if s.cfg.experiment != "optimizers":
        x, y = batch
        loss = F.cross_entropy(s.model(x), y)
        opt = s.opts["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"train/loss": loss.detach()}
    cfg, s.step = s.cfg, s.step + 1
    before = s.model().detach()
    for i, name in enumerate(cfg.optimizers):
        p = s.model.pos[name]
        opt = s.opts[name]
        opt.zero_grad(set_to_none=True)
        s.f(p[0], p[1]).backward()
        if cfg.surface == "noisy":
            p.grad.add_(torch.randn(2, device=p.device, generator=s.gen) * NOISE)
        opt.step()
    now = s.model().detach()
    loss = s.f(now[:, 0], now[:, 1])
    # a racer that left the surface (a loss past DIVERGED, or not a number) stays where it
    # was, marked with the step it left at: the others race on (no host sync needed)
    gone = ~torch.isfinite(loss) | (loss.abs() > DIVERGED) | (s.stopped >= 0)
    s.stopped = torch.where(gone & (s.stopped < 0), torch.full_like(s.stopped, s.step), s.stopped)
    with torch.no_grad():
        kept = torch.where(gone[:, None], before, now)
        for i, name in enumerate(cfg.optimizers):
            s.model.pos[name].copy_(kept[i])
    loss = s.f(kept[:, 0], kept[:, 1])
    s.path.append(kept)
    s.losses.append(loss)
    finite = torch.where(gone, torch.full_like(loss, float("inf")), loss)
    best = torch.where(torch.isfinite(finite.min()), finite.min(), torch.zeros(()))
    return {"train/loss": best, **{f"train/f_{n}": loss[i] for i, n in
                                   enumerate(cfg.optimizers)}}


def penalty(s: State) -> torch.Tensor:
    cfg, ws = s.cfg, s.model.weights()
    out = torch.zeros((), device=ws[0].device)
    if cfg.l2 > 0:
        out = out + cfg.l2 * sum((w ** 2).sum() for w in ws)
    if cfg.l1 > 0:
        out = out + cfg.l1 * sum(w.abs().sum() for w in ws)
    return out


def _regularized_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch[0], batch[1]
    if s.ended:                     # stopped early: the best weights stay as they are
        return s.last_out
    if s.cfg.augment:
        x = shifted(x, s.gen)
    logits = s.model(x)
    loss = F.cross_entropy(logits, y)
    extra = penalty(s)
    opt = s.opts["adam"]
    opt.zero_grad(set_to_none=True)
    (loss + extra).backward()
    opt.step()
    s.step += 1
    s.last_out = {"train/loss": loss.detach(), "train/penalty": extra.detach(),
                  "train/acc": (logits.argmax(1) == y).float().mean()}
    if s.step % s.record_every == 0:
        _record(s)
    if s.cfg.early_stopping and s.step % CHECK_EVERY == 0:
        _check_validation(s)
    return s.last_out


def _record(s: State) -> None:
    """One row of the lab's own curves, measured at a fixed step interval (the engine's test
    points follow the wall clock, too few in a run of a second); it stays on the device, no
    sync. regularization: loss and accuracy on the training (its labels), validation and test
    sets. classification losses: each network's test accuracy and mean confidence."""
    training = s.model.training
    s.model.eval()
    with torch.no_grad():
        if s.cfg.experiment == "regularization":
            row = []
            for x, y in s.sets:
                logits = s.model(x)
                row += [F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()]
            row = torch.stack(row)
        else:
            x, y = s.sets[0]
            logits = s.model(x).float()
            row = torch.cat([(logits.argmax(-1) == y).float().mean(1),
                             logits.softmax(-1).max(-1).values.mean(1)])
    s.model.train(training)
    s.history.append(row)
    s.history_steps.append(s.step)


def _check_validation(s: State) -> None:
    """Early stopping decides on the host, once every CHECK_EVERY steps: one sync there."""
    s.model.eval()
    with torch.no_grad():
        loss = float(F.cross_entropy(s.model(s.valid[0]), s.valid[1]))
    s.model.train()
    if s.best is None or loss < s.best[0]:
        weights = {k: v.detach().clone() for k, v in s.model.state_dict().items()}
        s.best, s.waited = (loss, s.step, weights), 0
        return
    s.waited += 1
    if s.waited >= s.cfg.early_stopping:
        s.model.load_state_dict(s.best[2])
        s.model.eval()
        with torch.no_grad():           # the run's last training metrics: the kept weights'
            logits = s.model(s.sets[0][0])
            s.last_out = {"train/loss": F.cross_entropy(logits, s.sets[0][1]),
                          "train/penalty": penalty(s),
                          "train/acc": (logits.argmax(1) == s.sets[0][1]).float().mean()}
        s.model.train()
        s.ended = (f"Stopped early at step {s.step}: the validation loss had not improved for "
                   f"{s.waited} checks; the weights are the best ones, from step {s.best[1]} "
                   f"(validation loss {s.best[0]:.3f}).")


def finished(s: State) -> str | None:
    return s.ended


def reached(s: State) -> dict[str, int | None]:
    """The first step each racer came within the tolerance of the minimum (None: not yet)."""
    minimum = SURFACE_INFO[s.cfg.surface][2]
    losses = torch.stack(s.losses).cpu()
    out = {}
    for i, name in enumerate(s.cfg.optimizers):
        hit = torch.nonzero(losses[:, i] - minimum <= s.cfg.tolerance)
        out[name] = int(hit[0]) if len(hit) else None
    return out


def evaluate(s: State, data: Data) -> dict[str, float]:
    if s.cfg.experiment == "regularization":
        return _regularization_metrics(s, data)
    if s.cfg.experiment == "losses" and s.cfg.loss_task == "classification":
        return _classifier_metrics(s, data)
    if s.cfg.experiment == "losses":
        grid = torch.linspace(-2, 2, 41, device=data.test[0].device)[:, None]
        gap = (s.model(grid) - (TRUE_LINE[0] * grid + TRUE_LINE[1])).abs().mean(0).tolist()
        out = {f"val/off_{n}": v for n, v in zip(REG_LOSSES, gap)}    # mean gap to the truth
        out["val/loss"] = float(regression_losses(s.model(data.test[0]), data.test[1]).sum())
        return out
    if s.cfg.experiment != "optimizers":
        s.model.eval()
        x, y = data.test
        logits = s.model(x)
        s.model.train()
        if s.cfg.experiment == "activations":
            dead = dead_units(s.model, data.train[0])
            return {"val/loss": float(F.cross_entropy(logits, y)),
                    "val/acc": float((logits.argmax(1) == y).float().mean()),
                    "val/dead": sum(dead) / len(dead)}
        acts, back = spreads(s.model, *data.train)
        return {"val/loss": float(F.cross_entropy(logits, y)),
                "val/acc": float((logits.argmax(1) == y).float().mean()),
                "val/act_std_last": acts[-1], "val/grad_std_first": back[0],
                "val/act_std_init": s.at_init[0][-1]}
    last = s.losses[-1].cpu()
    stopped = s.stopped.cpu()
    minimum = SURFACE_INFO[s.cfg.surface][2]
    ok = [float(v) for v, st in zip(last, stopped) if st < 0 and math.isfinite(float(v))]
    out = {"val/loss": (min(ok) - minimum) if ok else float("nan")}
    steps = reached(s)
    for i, name in enumerate(s.cfg.optimizers):
        out[f"val/gap_{name}"] = float(last[i]) - minimum
        out[f"val/steps_{name}"] = float(steps[name]) if steps[name] is not None else -1.0
    return out


def _classifier_metrics(s: State, data: Data) -> dict[str, float]:
    x, y = data.test
    logits = s.model(x).float()
    p = logits.softmax(-1)
    acc = (logits.argmax(-1) == y).float().mean(1).tolist()
    conf = p.max(-1).values.mean(1).tolist()             # how sure each network says it is
    nll = torch.stack([F.cross_entropy(lg, y) for lg in logits]).tolist()
    out = {"val/acc": max(acc), "val/loss": min(nll)}
    for i, n in enumerate(CLS_LOSSES):
        out[f"val/acc_{n}"], out[f"val/conf_{n}"], out[f"val/nll_{n}"] = acc[i], conf[i], nll[i]
    return out


def _regularization_metrics(s: State, data: Data) -> dict[str, float]:
    s.model.eval()
    x, noisy, true = data.train
    seen = s.model(x)
    test = s.model(data.test[0])
    valid = s.model(s.valid[0])
    s.model.train()
    wrong = noisy != true
    said = seen.argmax(1)
    out = {"val/loss": float(F.cross_entropy(test, data.test[1])),
           "val/acc": float((test.argmax(1) == data.test[1]).float().mean()),
           "val/train_loss": float(F.cross_entropy(seen, noisy)),
           "val/train_acc": float((said == noisy).float().mean()),
           # of the training examples whose label is wrong, the share it repeats: by heart
           "val/memorised": float((said[wrong] == noisy[wrong]).float().mean())
           if bool(wrong.any()) else 0.0,
           "val/valid_loss": float(F.cross_entropy(valid, s.valid[1]))}
    out["val/penalty"] = float(penalty(s))
    return out


def divergence_hint(cfg: Config) -> str | None:
    if cfg.experiment == "init":
        he = math.sqrt(2 / cfg.width)
        if cfg.init == "normal" and cfg.init_std > 1.5 * he:
            return (f"the signal overflowed - each of the {cfg.depth} layers multiplies its "
                    f"spread by about {cfg.init_std / he:.2g} (std {cfg.init_std:g}; He's for "
                    f"width {cfg.width} is {he:.3g}). Pick init = he, or init std {he:.3g}.")
        return None
    if cfg.experiment in ("regularization", "losses"):
        return ("training became unstable; this experiment's step size is fixed: lower L1 "
                "and L2 (regularization) or focal gamma (losses).")
    return None


# ---------------------------------------------------------------------------------------------
# What the page shows

def _contours(cfg: Config, n: int = 120) -> dict:
    (x0, x1), (y0, y1), minimum, _ = SURFACE_INFO[cfg.surface]
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    z = surface_fn(cfg.surface)(torch.as_tensor(gx), torch.as_tensor(gy)).numpy()
    z = np.log10(z - minimum + 1e-3)                      # valleys need a log scale to show
    return {"type": "contour", "x": xs.round(4).tolist(), "y": ys.round(4).tolist(),
            "z": z.round(3).tolist(), "colorscale": "Greys", "reversescale": True,
            "showscale": False, "ncontours": 30, "hoverinfo": "skip",
            "contours": {"coloring": "lines"}, "name": "log10 loss"}


def _race_views(s: State) -> dict:
    cfg = s.cfg
    path = torch.stack(s.path).cpu().numpy()                  # (steps + 1, racers, 2)
    losses = torch.stack(s.losses).cpu().numpy()
    keep = np.unique(np.linspace(0, len(path) - 1, min(len(path), 600)).astype(int))
    (x0, x1), (y0, y1), minimum, best_at = SURFACE_INFO[cfg.surface]
    traces = [_contours(cfg)]
    stopped = s.stopped.cpu().tolist()
    for i, name in enumerate(cfg.optimizers):
        label = name + (f" (left the surface at step {stopped[i]})" if stopped[i] >= 0 else "")
        # paths often share a valley: thin and see-through, each racer's place now marked big
        traces.append({"type": "scatter", "mode": "lines+markers", "name": label,
                       "x": path[keep, i, 0].round(4).tolist(),
                       "y": path[keep, i, 1].round(4).tolist(), "opacity": 0.75,
                       "line": {"color": COLORS[name], "width": 1.5},
                       # a few steps (slow motion): each step's dot big enough to count
                       "marker": {"size": [3 if len(keep) > 60 else 7] * (len(keep) - 1) + [13],
                                  "color": COLORS[name],
                                  "line": {"color": "#ffffff", "width": 1}}})
    traces.append({"type": "scatter", "mode": "markers", "name": "minimum",
                   "x": [best_at[0]], "y": [best_at[1]],
                   "marker": {"symbol": "star", "size": 14, "color": "#000000"}})
    race = {"data": traces, "layout": {
        "template": "plotly_white", "height": 460, "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
        "xaxis": {"range": [x0, x1], "title": {"text": "x"}},
        "yaxis": {"range": [y0, y1], "title": {"text": "y"}},
        "legend": {"orientation": "h", "y": -0.15}}}
    gap = np.maximum(losses - minimum, 1e-12)
    curves = {"data": [{"type": "scatter", "mode": "lines", "name": name,
                        "x": keep.tolist(), "y": gap[keep, i].astype(float).round(8).tolist(),
                        "line": {"color": COLORS[name]}} for i, name in enumerate(cfg.optimizers)],
              "layout": {"template": "plotly_white", "height": 460,
                         "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                         "xaxis": {"title": {"text": "step"}},
                         "yaxis": {"title": {"text": "loss - minimum"}, "type": "log"},
                         "legend": {"orientation": "h", "y": -0.15}}}
    steps = reached(s)
    rows = "; ".join(f"{n}: {'step ' + str(v) if v is not None else 'not yet'}"
                     for n, v in steps.items())
    return {"race": charts.artifact(f"The race on the {cfg.surface} surface", "plotly", race,
                                    f"Every path from ({cfg.start_x:g}, {cfg.start_y:g}); the "
                                    "contours are log10 of the loss."),
            "gap": charts.artifact("Distance to the minimum's loss", "plotly", curves,
                                   f"Within {cfg.tolerance:g} of the minimum: {rows}.")}


def _spread_views(s: State, data: Data) -> dict:
    now = spreads(s.model, *data.train)
    layers = list(range(1, s.cfg.depth + 1))
    figs = {}
    for key, title, k in (("forward", "Activations' spread, layer by layer", 0),
                          ("backward", "Gradients' spread, layer by layer", 1)):
        traces = []
        for when, values, dash in (("at initialisation", s.at_init[k], "dot"),
                                   ("now", now[k], "solid")):
            v = np.maximum(np.asarray(values, dtype=float), 1e-30)
            traces.append({"type": "scatter", "mode": "lines+markers", "name": when,
                           "x": layers, "y": v.tolist(), "line": {"dash": dash}})
        figs[key] = charts.artifact(title, "plotly", {"data": traces, "layout": {
            "template": "plotly_white", "height": 380, "margin": {"l": 60, "r": 10, "t": 10,
                                                                 "b": 40},
            "xaxis": {"title": {"text": "layer"}},
            "yaxis": {"title": {"text": "standard deviation"}, "type": "log",
                      "exponentformat": "power"},
            "legend": {"orientation": "h", "y": -0.2}}},
            f"{s.cfg.init} init, {s.cfg.activation}: after {s.cfg.depth} layers the spread is "
            f"{s.at_init[k][-1 if k == 0 else 0]:.2g} at initialisation"
            + (" (the first layer's gradient)" if k == 1 else "") + ".")
    return figs


def _activation_views(s: State, data: Data) -> dict:
    z = torch.linspace(-4, 4, 161, requires_grad=True)
    figs = {}
    curves = {}
    for name in ACTIVATIONS:
        with torch.enable_grad():
            out = ACT_FNS[name](z)
            slope, = torch.autograd.grad(out.sum(), z)
        curves[name] = (out.detach().numpy(), slope.numpy())
    for key, k, title in (("functions", 0, "The activation functions"),
                          ("slopes", 1, "Their slopes (derivatives)")):
        traces = [{"type": "scatter", "mode": "lines", "name": name,
                   "x": z.detach().numpy().round(3).tolist(),
                   "y": curves[name][k].round(4).tolist(),
                   "line": {"width": 4 if name == s.cfg.activation else 1.2},
                   "opacity": 1.0 if name == s.cfg.activation else 0.55}
                  for name in ACTIVATIONS]
        figs[key] = charts.artifact(title, "plotly", {"data": traces, "layout": {
            "template": "plotly_white", "height": 380,
            "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
            "xaxis": {"title": {"text": "input"}},
            "yaxis": {"range": [-1.5, 4] if k == 0 else [-0.2, 1.3]},
            "legend": {"orientation": "h", "y": -0.2}}},
            f"Bold: {s.cfg.activation}, the one this network uses." if k == 0 else
            "Where the slope is 0, no gradient passes: a ReLU unit whose inputs are all negative "
            "never learns again.")
    dead = dead_units(s.model, data.train[0])
    figs["dead"] = charts.artifact("Dead units, layer by layer", "plotly", {
        "data": [{"type": "bar", "x": [f"layer {i + 1}" for i in range(len(dead))],
                  "y": [round(d, 4) for d in dead], "marker": {"color": "#d62728"}}],
        "layout": {"template": "plotly_white", "height": 300,
                   "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                   "yaxis": {"range": [0, 1], "title": {"text": "share of units"},
                             "tickformat": ".0%"}}},
        f"A unit is dead when its slope is 0 for all {len(data.train[0])} training points; "
        f"{sum(dead) / len(dead):.0%} of the {ACT_DEPTH} x {ACT_WIDTH} units now.")
    return figs


def _fit_views(s: State, data: Data) -> dict:
    x, y = (t.cpu()[:, 0] for t in data.train)
    grid = torch.linspace(-2, 2, 2)
    w, b = s.model.fit.weight[:, 0].cpu(), s.model.fit.bias.cpu()
    traces = [{"type": "scatter", "mode": "markers", "name": "points",
               "x": x.round(decimals=3).tolist(), "y": y.round(decimals=3).tolist(),
               "marker": {"size": 5, "color": "#888888"}},
              {"type": "scatter", "mode": "lines", "name": "the true line",
               "x": grid.tolist(), "y": (TRUE_LINE[0] * grid + TRUE_LINE[1]).tolist(),
               "line": {"dash": "dot", "color": "#000000"}}]
    for i, name in enumerate(REG_LOSSES):
        traces.append({"type": "scatter", "mode": "lines",
                       "name": f"{name}: y = {w[i]:.2f} x + {b[i]:.2f}",
                       "x": grid.tolist(), "y": (w[i] * grid + b[i]).round(decimals=3).tolist(),
                       "line": {"color": ("#1f77b4", "#ff7f0e", "#2ca02c")[i], "width": 3}})
    return {"fit": charts.artifact("Three lines, three losses, the same points", "plotly", {
        "data": traces, "layout": {"template": "plotly_white", "height": 420,
                                   "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
                                   "legend": {"orientation": "h", "y": -0.15}}},
        f"{s.cfg.outliers:.0%} of the points moved far above the line: squared errors let them "
        "pull the MSE line up; absolute errors (MAE) and Huber's barely feel them.")}


def margin_curves(cfg: Config, margins: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each loss of one example of two classes against its margin (the right class's logit minus
    the other's), and the loss's slope there: how hard that example pulls on the weights."""
    m = margins.clone().requires_grad_(True)
    slopes = []
    with torch.enable_grad():           # artefacts are drawn under no_grad
        logits = torch.stack([torch.zeros_like(m), m], -1).expand(len(CLS_LOSSES), -1, -1)
        each = classification_losses(logits, torch.ones(len(m), dtype=torch.int64), cfg)
        for row in each:                    # the rows share one margin: each row's own slope
            slope, = torch.autograd.grad(row.sum(), m, retain_graph=True)
            slopes.append(slope)
    return each.detach().numpy(), torch.stack(slopes).abs().numpy()


def _plot(traces: list, height: int, x_title: str, y_title: str, **axes) -> dict:
    return {"data": traces, "layout": {
        "template": "plotly_white", "height": height,
        "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        "xaxis": {"title": {"text": x_title}, **axes.get("xaxis", {})},
        "yaxis": {"title": {"text": y_title}, **axes.get("yaxis", {})},
        "legend": {"orientation": "h", "y": -0.2}, **axes.get("layout", {})}}


def _classifier_views(s: State, data: Data) -> dict:
    cfg = s.cfg
    margins = torch.linspace(-6, 6, 121)
    loss, slope = margin_curves(cfg, margins)
    mx = margins.numpy().round(2).tolist()
    figs = {}
    for key, values, title, y_title, caption in (
            ("margin_loss", loss, "Each loss against the margin", "loss",
             "The margin is the right class's logit minus the other's: negative means wrong, "
             "and the further left, the more confidently wrong."),
            ("margin_slope", slope, "How hard each example pulls", "|slope|",
             "MSE on the softmax barely pulls on a confidently wrong example (left): its slope "
             "dies where cross-entropy's is largest. Focal loss lets go of the ones already "
             f"right (right); label smoothing ({cfg.smoothing:g}) pushes back when a margin "
             "grows too large.")):
        figs[key] = charts.artifact(title, "plotly", _plot(
            [{"type": "scatter", "mode": "lines", "name": CLS_TITLES[n], "x": mx,
              "y": values[i].round(4).tolist(), "line": {"color": CLS_COLORS[n], "width": 2.5}}
             for i, n in enumerate(CLS_LOSSES)], 360, "margin", y_title), caption)
    h = torch.stack(s.history).cpu().numpy()                  # (records, 8)
    figs["accuracy"] = charts.artifact("Test accuracy of each network", "plotly", _plot(
        [{"type": "scatter", "mode": "lines", "name": CLS_TITLES[n], "x": s.history_steps,
          "y": h[:, i].round(4).tolist(), "line": {"color": CLS_COLORS[n]}}
         for i, n in enumerate(CLS_LOSSES)], 360, "step", "accuracy",
        yaxis={"tickformat": ".0%"}), "The same network, the same start, the same data; only "
                                      "the loss differs.")
    x, y = data.test
    logits = s.model(x).detach().float()
    acc = (logits.argmax(-1) == y).float().mean(1).tolist()
    conf = logits.softmax(-1).max(-1).values.mean(1).tolist()
    figs["calibration"] = charts.artifact("Accuracy and confidence", "plotly", _plot(
        [{"type": "bar", "name": "accuracy", "x": [CLS_TITLES[n] for n in CLS_LOSSES],
          "y": [round(a, 4) for a in acc], "marker": {"color": "#7f7f7f"}},
         {"type": "bar", "name": "mean confidence", "x": [CLS_TITLES[n] for n in CLS_LOSSES],
          "y": [round(c, 4) for c in conf], "marker": {"color": "#d62728"}}],
        360, "", "share of the test set", yaxis={"tickformat": ".0%", "range": [0, 1.02]},
        layout={"barmode": "group"}),
        "Confidence above accuracy is overconfidence: "
        + ", ".join(f"{CLS_TITLES[n]} {c - a:+.1%}" for n, a, c in zip(CLS_LOSSES, acc, conf))
        + ".")
    # where each network puts the boundary, and how sure it is of it
    x, y = (t.cpu() for t in data.test)
    lo, hi = (x.min(0).values - 0.2).tolist(), (x.max(0).values + 0.2).tolist()
    gx, gy = np.linspace(lo[0], hi[0], 60), np.linspace(lo[1], hi[1], 60)
    grid = torch.tensor(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2), dtype=torch.float32)
    prob = s.model(grid.to(data.test[0].device)).detach().float().softmax(-1)[..., 1].cpu().numpy()
    for i, n in enumerate(CLS_LOSSES):
        fig = charts.boundary(gx, gy, prob[i].reshape(60, 60),
                              [("test points", x[:, 0].numpy(), x[:, 1].numpy(), y.numpy(),
                                "circle")])
        fig["layout"]["height"] = 340
        figs[f"boundary_{n}"] = charts.artifact(f"{CLS_TITLES[n]}: where it is sure", "plotly",
                                                fig, "Deep colour: probability near 0 or 1.")
    return figs


def _regularization_views(s: State, data: Data) -> dict:
    cfg, figs = s.cfg, {}
    h = np.concatenate([np.asarray(s.history_steps, dtype=float)[:, None],
                        torch.stack(s.history).cpu().numpy()], 1)   # step, then 3 x (loss, acc)
    mark = []
    if s.best is not None and cfg.early_stopping:
        mark = [{"type": "line", "x0": s.best[1], "x1": s.best[1], "yref": "paper", "y0": 0,
                 "y1": 1, "line": {"dash": "dash", "color": "#2ca02c"}}]
    figs["loss_curves"] = charts.artifact("Train, validation and test loss", "plotly", _plot(
        [{"type": "scatter", "mode": "lines", "name": name, "x": h[:, 0].tolist(),
          "y": h[:, k].round(4).tolist(), "line": {"color": color}}
         for name, k, color in (("train (its labels)", 1, "#1f77b4"),
                                ("validation", 3, "#2ca02c"), ("test", 5, "#d62728"))],
        360, "step", "cross-entropy", layout={"shapes": mark}),
        "The training loss falls as the network learns the wrong labels too; the test loss "
        "then climbs. " + (f"Dashed: the best validation loss (step {s.best[1]}), the weights "
                           "early stopping keeps." if mark else ""))
    clean = 1 - float((data.train[1] != data.train[2]).float().mean())
    figs["acc_curves"] = charts.artifact("Train and test accuracy", "plotly", _plot(
        [{"type": "scatter", "mode": "lines", "name": name, "x": h[:, 0].tolist(),
          "y": h[:, k].round(4).tolist(), "line": {"color": color}}
         for name, k, color in (("train (its labels)", 2, "#1f77b4"),
                                ("validation", 4, "#2ca02c"), ("test", 6, "#d62728"))]
        + [{"type": "scatter", "mode": "lines", "name": "right labels in the training set",
            "x": [0, max(s.step, 1)], "y": [clean, clean],
            "line": {"dash": "dot", "color": "#000000"}}],
        360, "step", "accuracy", yaxis={"tickformat": ".0%", "range": [0, 1.02]}),
        f"{1 - clean:.0%} of the training labels are wrong: above the dotted line the network "
        "repeats wrong labels it has learned by heart.")
    now = torch.cat([w.detach().flatten() for w in s.model.weights()]).float().cpu()
    edge = float(max(s.at_init.abs().max(), now.abs().max(), 1e-6))
    bins = np.linspace(-edge, edge, 81)
    centres = ((bins[:-1] + bins[1:]) / 2).round(5).tolist()
    traces = []
    for name, w, color in (("at initialisation", s.at_init, "#7f7f7f"), ("now", now, "#1f77b4")):
        counts, _ = np.histogram(w.numpy(), bins=bins)
        traces.append({"type": "bar", "name": name, "x": centres, "y": counts.tolist(),
                       "marker": {"color": color}, "opacity": 0.6})
    tiny = [float((w.abs() < 1e-3).float().mean()) for w in (s.at_init, now)]
    figs["weights"] = charts.artifact("The weights' histogram", "plotly", _plot(
        traces, 360, "weight", "count (log)", yaxis={"type": "log"},
        layout={"barmode": "overlay", "bargap": 0}),
        f"{len(now):,} weights; near 0 (|w| < 0.001): {tiny[0]:.1%} at initialisation, "
        f"{tiny[1]:.1%} now. Sum of squares {float((now ** 2).sum()):.1f} (at initialisation "
        f"{float((s.at_init ** 2).sum()):.1f}).")
    return figs


def artifacts(s: State, data: Data) -> dict[str, dict]:
    if s.cfg.experiment == "regularization":
        return _regularization_views(s, data)
    if s.cfg.experiment == "losses" and s.cfg.loss_task == "classification":
        return _classifier_views(s, data)
    if s.cfg.experiment == "losses":
        return _fit_views(s, data)
    if s.cfg.experiment == "activations":
        return _activation_views(s, data)
    if s.cfg.experiment == "init":
        return _spread_views(s, data)
    return _race_views(s)


# ---------------------------------------------------------------------------------------------
# Slow motion: the race from its start, one step of every racer per click

def _race_step(s: State, data: Data, n: int = 1) -> dict[str, torch.Tensor]:
    for _ in range(n):
        out = train_step(s, None)
    return {name: out[f"train/f_{name}"] for name in s.cfg.optimizers}


def _race_ten(s: State, data: Data) -> dict[str, torch.Tensor]:
    return _race_step(s, data, 10)


def _last_step_view(s: State) -> dict:
    """How long each racer's last step was beside how steep the surface was under it: SGD's
    step follows the slope, Adam's stays near the learning rate whatever the slope."""
    names = list(s.cfg.optimizers)
    moved = (s.path[-1] - s.path[-2]).norm(dim=1).tolist()
    grads = [float(s.model.pos[n].grad.norm()) if s.model.pos[n].grad is not None else 0.0
             for n in names]
    bars = [{"type": "bar", "name": "slope (gradient length)", "x": names, "y": grads,
             "marker": {"color": "#bbbbbb"}},
            {"type": "bar", "name": "step length", "x": names, "y": moved,
             "marker": {"color": [COLORS[n] for n in names]}}]
    fig = {"data": bars, "layout": {
        "template": "plotly_white", "height": 360, "barmode": "group",
        "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        "yaxis": {"type": "log", "title": {"text": "length (log)"}},
        "legend": {"orientation": "h", "y": -0.15}}}
    return charts.artifact(f"Step {s.step}: how steep, how far", "plotly", fig,
                           f"The gradient each racer saw at step {s.step} (grey) and how far it "
                           "moved (colour); learning rates: " + ", ".join(
                               f"{n} {getattr(s.cfg, 'lr_' + n):g}" for n in names) + ".")


def _show_race_steps(s: State, data: Data) -> dict[str, dict]:
    views = _race_views(s)
    # a few steps are a few pixels on the whole surface: the plot follows the racers instead
    path = torch.stack(s.path).reshape(-1, 2)
    keep = torch.isfinite(path).all(1) & (path.abs() < 1e3).all(1)
    lo, hi = path[keep].min(0).values, path[keep].max(0).values
    pad = torch.clamp((hi - lo) * 0.15, min=0.05)
    layout = views["race"]["data"]["layout"]
    for i, axis in enumerate(("xaxis", "yaxis")):
        layout[axis]["range"] = [float(lo[i] - pad[i]), float(hi[i] + pad[i])]
    if s.step:
        views["last_step"] = _last_step_view(s)
    return views


STEPS = {"title": "Slow motion: the race, one step per click",
         "help": "Start the race again from its first step, with this run's settings, and take "
                 "the steps yourself: every racer moves once per click. Nothing is saved; the "
                 "run itself is unchanged.",
         "ready": "Every racer on the start. Take a step: see who moves how far, and why.",
         "from": "start",
         "when": lambda cfg: cfg.experiment == "optimizers",
         "actions": (("One step", _race_step), ("Ten steps", _race_ten)),
         "show": _show_race_steps}


CURVES = (("act_std_last", "Last layer's activation spread", True),
          ("dead", "Dead units (share)", False),
          ("memorised", "Wrong labels learned by heart (share)", False))
HEADLINE = (("val/acc", "acc"), ("val/loss", "loss"))


def plain_curves(cfg: Config) -> bool:
    """The race draws its own loss pictures (the paths, the gap per racer): no generic chart."""
    return cfg.experiment != "optimizers"


PLAIN_CURVES = plain_curves


# ---------------------------------------------------------------------------------------------
# Comparisons: two runs that differ in the one setting that tells each experiment's story

def regularizers(cfg: Config) -> str:
    """The regularisation a config switches on, in words ('' for none)."""
    parts = [f"L2 {cfg.l2:g}" if cfg.l2 else "", f"L1 {cfg.l1:g}" if cfg.l1 else "",
             f"dropout {cfg.dropout:g}" if cfg.dropout else "",
             "batch norm" if cfg.batch_norm else "",
             f"early stopping ({cfg.early_stopping})" if cfg.early_stopping else "",
             "augmentation" if cfg.augment else ""]
    return " + ".join(p for p in parts if p)


NO_REGULARIZATION = {"l2": 0.0, "l1": 0.0, "dropout": 0.0, "batch_norm": False,
                     "early_stopping": 0, "augment": False}
SUGGESTED = {"l2": 0.01}          # what the comparison adds when the form switches nothing on


def _plan(pair: tuple[dict, dict]):
    def plan(cfg: Config, earlier: list[str]) -> Config | None:
        return replace(cfg, **pair[len(earlier)]) if len(earlier) < 2 else None
    return plan


def _table(columns: tuple[tuple[str, str], ...], verdict):
    """A comparison's table: `columns` (metric, heading) from each run's final metrics, and a
    sentence made by `verdict` from the two runs' metrics."""
    def table(runs) -> tuple[list[dict], str]:
        rows, finals = [], []
        for name, info in runs:
            final = info.status.get("final") or {}
            finals.append(final)
            rows.append({"run": name, "status": info.status.get("status"),
                         **{head: final.get(key) for key, head in columns},
                         "seconds": info.status.get("seconds")})
        if len(runs) < 2 or any(r["status"] != "completed" for r in rows):
            return rows, "The comparison is incomplete: a run did not finish."
        return rows, verdict(*(n for n, _ in runs[:2]), *finals[:2])
    return table


def _steps(v) -> str:
    return f"step {v:.0f}" if v is not None and v >= 0 else "not within the tolerance"


def comparison(cfg: Config) -> dict | None:
    """COMPARE, one per experiment (the regression and classification losses already train
    side by side in one run)."""
    if cfg.experiment == "optimizers":
        return {"label": f"SGD vs Adam on {cfg.surface}", "names": ("SGD", "Adam"),
                "plan": _plan(({"optimizers": ("sgd",)}, {"optimizers": ("adam",)})),
                "curves": (("train/loss", "Loss on the surface", False),
                           ("val/loss", "Gap to the minimum", False)),
                "table": _table((("val/loss", "gap to the minimum"),), lambda a, b, fa, fb: (
                    f"{a}: {_steps(fa.get('val/steps_sgd'))}, {fa.get('val/loss', 0):.2g} from "
                    f"the minimum at the end; {b}: {_steps(fb.get('val/steps_adam'))}, "
                    f"{fb.get('val/loss', 0):.2g}.")), "views": ("race",)}
    if cfg.experiment == "init":
        return {"label": f"He vs Xavier at depth {cfg.depth}", "names": ("He", "Xavier"),
                "plan": _plan(({"init": "he"}, {"init": "xavier"})),
                "table": _table((("val/acc", "test accuracy"),
                                 ("val/act_std_init", "last layer's spread at initialisation")),
                                lambda a, b, fa, fb: (
                    f"{a}: the last layer's spread starts at {fa.get('val/act_std_init', 0):.2g} "
                    f"and it reaches {fa.get('val/acc', 0):.0%}; {b}: "
                    f"{fb.get('val/act_std_init', 0):.2g}, {fb.get('val/acc', 0):.0%} (half is "
                    "chance)."))}
    if cfg.experiment == "activations":
        return {"label": "ReLU vs leaky ReLU", "names": ("ReLU", "leaky ReLU"),
                "plan": _plan(({"activation": "relu"}, {"activation": "leaky_relu"})),
                "curves": (("val/dead", "Dead units (share)", False),
                           ("val/acc", "Test accuracy", False)),
                "table": _table((("val/dead", "dead units"), ("val/acc", "test accuracy")),
                                lambda a, b, fa, fb: (
                    f"{a}: {fa.get('val/dead', 0):.0%} of the units dead at lr {cfg.lr:g}; "
                    f"{b}: {fb.get('val/dead', 0):.0%}."))}
    if cfg.experiment == "regularization":
        on = regularizers(cfg)
        with_ = {k: getattr(cfg, k) for k in NO_REGULARIZATION} if on else SUGGESTED
        return {"label": "Without vs with regularization",
                "names": ("none", on or regularizers(replace(cfg, **SUGGESTED))),
                "plan": _plan((NO_REGULARIZATION, with_)),
                "curves": (("val/loss", "Test loss", False), ("val/acc", "Test accuracy", False)),
                "table": _table((("val/acc", "test accuracy"), ("val/loss", "test loss"),
                                 ("val/memorised", "share of wrong labels learned by heart")),
                                lambda a, b, fa, fb: (
                    f"Without regularization the network repeats {fa.get('val/memorised', 0):.0%} "
                    f"of the wrong training labels and gets {fa.get('val/acc', 0):.0%} of the "
                    f"test set right; with {b}: {fb.get('val/memorised', 0):.0%} and "
                    f"{fb.get('val/acc', 0):.0%}.")), "views": ("acc_curves",)}
    return None


COMPARE = comparison

DEMOS = {"race": {"title": "Five optimizers race down the Rosenbrock valley"},
         "regularization": {"settings": {"experiment": "regularization"}, "compare": True,
                            "title": "A network learns wrong labels by heart; L2 refuses them",
                            "picture": "acc_curves"}}
