"""The Fundamentals lab's face: its settings, presets and the words its page shows; its torch part
is model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/fundamentals.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.params import param

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
LOSS_TASKS = ("regression", "classification")
CHECK_EVERY = 20                # early stopping looks at the validation loss every N steps
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adagrad", "adam")
SURFACES = ("rosenbrock", "beale", "saddle", "narrow", "noisy")
INITS = ("zeros", "normal", "xavier", "he")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid", "softplus",
               "linear")


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
    start_x: float = param(-1.5, lo=-4.0, hi=4.0, group="Optimizers",
                           when={"experiment": ("optimizers",)}, help="Where all start: x.")
    start_y: float = param(2.0, lo=-4.0, hi=4.0, group="Optimizers",
                           when={"experiment": ("optimizers",)}, help="Where all start: y.")
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


def divergence_hint(cfg: Config) -> str | None:
    if cfg.experiment == "init":
        he = math.sqrt(2 / cfg.width)
        if cfg.init == "normal" and cfg.init_std > 1.5 * he:
            return _("the signal overflowed - each of the {depth} layers multiplies its "
                     "spread by about {factor:.2g} (std {std:g}; He's for width {width} is "
                     "{he:.3g}). Pick init = he, or init std {he:.3g}.", depth=cfg.depth,
                     factor=cfg.init_std / he, std=cfg.init_std, width=cfg.width, he=he)
        return None
    if cfg.experiment in ("regularization", "losses"):
        return _("training became unstable; this experiment's step size is fixed: lower L1 "
                 "and L2 (regularization) or focal gamma (losses).")
    return None


ONNX = False          # a race has no input to map; the deep MLP's weights and script download


# ---------------------------------------------------------------------------------------------
# What the page shows: slow motion's words (race.py takes the steps), the curves

STEPS = {"title": "Slow motion: the race, one step per click",
         "help": "Start the race again from its first step, with this run's settings, and take "
                 "the steps yourself: every racer moves once per click. Nothing is saved; the "
                 "run itself is unchanged.",
         "ready": "Every racer on the start. Take a step: see who moves how far, and why.",
         "from": "start",
         "when": lambda cfg: cfg.experiment == "optimizers",
         "actions": ("One step", "Ten steps")}


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
            rows.append({N_("run"): name, N_("status"): info.status.get("status"),
                         **{head: final.get(key) for key, head in columns},
                         N_("seconds"): info.status.get("seconds")})
        if len(runs) < 2 or any(r["status"] != "completed" for r in rows):
            return rows, _("The comparison is incomplete: a run did not finish.")
        return rows, verdict(*(n for n, _info in runs[:2]), *finals[:2])
    return table


def _steps(v) -> str:
    return _("step {v:.0f}", v=v) if v is not None and v >= 0 else _("not within the tolerance")


def comparison(cfg: Config) -> dict | None:
    """COMPARE, one per experiment (the regression and classification losses already train
    side by side in one run)."""
    if cfg.experiment == "optimizers":
        return {"label": _("SGD vs Adam on {surface}", surface=cfg.surface),
                "names": ("SGD", "Adam"),
                "plan": _plan(({"optimizers": ("sgd",)}, {"optimizers": ("adam",)})),
                "curves": (("train/loss", N_("Loss on the surface"), False),
                           ("val/loss", N_("Gap to the minimum"), False)),
                "table": _table((("val/loss", N_("gap to the minimum")),), lambda a, b, fa, fb: _(
                    "{a}: {reached_a}, {gap_a:.2g} from the minimum at the end; {b}: "
                    "{reached_b}, {gap_b:.2g}.", a=a, reached_a=_steps(fa.get('val/steps_sgd')),
                    gap_a=fa.get('val/loss', 0), b=b,
                    reached_b=_steps(fb.get('val/steps_adam')), gap_b=fb.get('val/loss', 0))),
                "views": ("race",)}
    if cfg.experiment == "init":
        return {"label": _("He vs Xavier at depth {depth}", depth=cfg.depth),
                "names": ("He", "Xavier"),
                "plan": _plan(({"init": "he"}, {"init": "xavier"})),
                "table": _table((("val/acc", N_("test accuracy")),
                                 ("val/act_std_init",
                                  N_("last layer's spread at initialisation"))),
                                lambda a, b, fa, fb: _(
                    "{a}: the last layer's spread starts at {spread_a:.2g} and it reaches "
                    "{acc_a:.0%}; {b}: {spread_b:.2g}, {acc_b:.0%} (half is chance).",
                    a=a, spread_a=fa.get('val/act_std_init', 0), acc_a=fa.get('val/acc', 0),
                    b=b, spread_b=fb.get('val/act_std_init', 0), acc_b=fb.get('val/acc', 0)))}
    if cfg.experiment == "activations":
        return {"label": _("ReLU vs leaky ReLU"), "names": ("ReLU", "leaky ReLU"),
                "plan": _plan(({"activation": "relu"}, {"activation": "leaky_relu"})),
                "curves": (("val/dead", N_("Dead units (share)"), False),
                           ("val/acc", N_("Test accuracy"), False)),
                "table": _table((("val/dead", N_("dead units")),
                                 ("val/acc", N_("test accuracy"))),
                                lambda a, b, fa, fb: _(
                    "{a}: {dead_a:.0%} of the units dead at lr {lr:g}; {b}: {dead_b:.0%}.",
                    a=a, dead_a=fa.get('val/dead', 0), lr=cfg.lr, b=b,
                    dead_b=fb.get('val/dead', 0)))}
    if cfg.experiment == "regularization":
        on = regularizers(cfg)
        with_ = {k: getattr(cfg, k) for k in NO_REGULARIZATION} if on else SUGGESTED
        return {"label": _("Without vs with regularization"),
                "names": ("none", on or regularizers(replace(cfg, **SUGGESTED))),
                "plan": _plan((NO_REGULARIZATION, with_)),
                "curves": (("val/loss", N_("Test loss"), False),
                           ("val/acc", N_("Test accuracy"), False)),
                "table": _table((("val/acc", N_("test accuracy")), ("val/loss", N_("test loss")),
                                 ("val/memorised",
                                  N_("share of wrong labels learned by heart"))),
                                lambda a, b, fa, fb: _(
                    "Without regularization the network repeats {memorised_a:.0%} of the wrong "
                    "training labels and gets {acc_a:.0%} of the test set right; with {b}: "
                    "{memorised_b:.0%} and {acc_b:.0%}.",
                    memorised_a=fa.get('val/memorised', 0), acc_a=fa.get('val/acc', 0), b=b,
                    memorised_b=fb.get('val/memorised', 0), acc_b=fb.get('val/acc', 0))),
                "views": ("acc_curves",)}
    return None


COMPARE = comparison

DEMOS = {"race": {"title": "Five optimizers race down the Rosenbrock valley"},
         "regularization": {"settings": {"experiment": "regularization"}, "compare": True,
                            "title": "A network learns wrong labels by heart; L2 refuses them",
                            "picture": "acc_curves"}}


__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
