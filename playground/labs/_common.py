"""What the labs' faces share, without torch: the choices of activation and optimizer, and the
words of export for labs that train on a visitor's upload."""
from __future__ import annotations

# activation -> its torch.nn module's name (the torch part builds the modules)
ACTIVATION_MODULES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU",
                      "leaky_relu": "LeakyReLU", "linear": "Identity"}
ACTIVATION_NAMES = tuple(ACTIVATION_MODULES)
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")


def text_exportable(cfg) -> str:
    """A char model's `exportable`: why a run cannot be a standalone script ("" when it can)."""
    if cfg.task == "chars" and cfg.text_file:
        return ("this run trained on an uploaded text, which a script cannot carry: download "
                "its weights or the whole run instead")
    return ""


def text_stubs(cfg) -> dict[str, str]:
    """A char model's `export_stubs`: a script trains on the built-in text (a run on an uploaded
    one is not exportable); its build is given the data, never asks for the alphabet."""
    return {"_own_text": "def _own_text(cfg):\n    return None   # the built-in English text",
            "_alphabet": "def _alphabet(cfg):\n    raise AssertionError('build passes the data')"}


def points_exportable(cfg) -> str:
    """A generative lab's `exportable`: a run on uploaded points cannot be a standalone script."""
    return ("this run trained on your uploaded points, which a script cannot carry: download "
            "its weights or the whole run instead") if cfg.data == "points" else ""


def points_stubs(cfg) -> dict[str, str]:
    """A generative lab's `export_stubs`: a script trains on the built-in data sets only."""
    return {"_own_points": "def _own_points(cfg):\n    raise SystemExit('this script trains on "
                           "the built-in data sets only')"}
