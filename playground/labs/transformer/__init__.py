"""The Transformer lab's face: its settings, presets and the words its page shows; its torch part
is model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/transformer.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from playground.data.sequences import ALGORITHMIC, algorithmic_layout
from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.labs._common import OPTIMIZERS, text_exportable, text_stubs
from playground.params import param

TITLE, ICON, SECTION = "Transformer", "🔦", "Sequences & text"
TRY_THIS = ("Train the default (reverse 8 digits) and watch the attention maps of layer 1 draw an "
            "anti-diagonal: each answer digit looks at its mirror image in the question. Then "
            "press 'With vs without positional encoding': without positions it never forms and "
            "accuracy stays low.")

STAGE = ("task", "length", "pos_encoding", "layers")
TASKS = ALGORITHMIC + ("chars",)
ARCHS = ("decoder", "encoder-decoder")
POSITIONS = ("learned", "sinusoidal", "none")


@dataclass(frozen=True)
class Config:
    task: str = param("reverse", choices=TASKS, group="Task",
                      help="reverse / sort / copy a string of digits, add two numbers (the sum "
                           "written least significant digit first), or chars: predict the next "
                           "character of English text.")
    length: int = param(8, lo=1, hi=64, group="Task", label="Digits",
                        help="Digits in the question (addition: in each number).")
    base: int = param(10, lo=2, hi=64, group="Task", label="Alphabet",
                      help="How many different digits (the number base for addition).")
    n_samples: int = param(10_000, lo=200, hi=200_000, group="Task", label="Examples",
                           help="Examples generated (80% train, 20% test); chars: the first "
                                "n x 40 characters of the text.")
    text_file: str = param("", upload=("txt",), group="Task", label="Your own text (.txt)",
                           when={"task": ("chars",)},
                           help="chars: train on a UTF-8 text of your own instead of the "
                                "built-in English (its alphabet is every character it uses).")
    arch: str = param("decoder", choices=ARCHS, group="Network", label="Architecture",
                      help="decoder: GPT-style, one causal stack reads question and answer. "
                           "encoder-decoder: the paper's torch.nn.Transformer, the encoder reads "
                           "the question, the decoder writes the answer.")
    layers: int = param(2, lo=1, hi=12, group="Network",
                        help="Transformer blocks (encoder-decoder: in each stack).")
    heads: int = param(4, lo=1, hi=16, group="Network",
                       help="Attention heads per layer; d_model must be divisible by it.")
    d_model: int = param(64, lo=8, hi=1024, group="Network", label="d_model",
                         help="Width of every token's vector.")
    mlp_ratio: int = param(4, lo=1, hi=8, group="Network", label="MLP ratio",
                           help="Hidden units of each block's MLP, as a multiple of d_model.")
    context: int = param(32, lo=4, hi=1024, group="Network", label="Context length",
                         help="The most tokens the model reads at once (chars: the window it "
                              "trains on). The algorithmic tasks need their whole example.")
    dropout: float = param(0.0, lo=0.0, hi=0.9, group="Network",
                           help="On attention weights, block outputs and embeddings.")
    pos_encoding: str = param("learned", choices=POSITIONS, group="Network",
                              label="Positional encoding",
                              help="learned: a trained vector per position. sinusoidal: the "
                                   "paper's fixed sines and cosines. none: no position at all.")
    tie_weights: bool = param(True, group="Network", label="Tie weights",
                              help="The output layer reuses the token embedding (fewer "
                                   "parameters; the usual choice in language models).")
    optimizer: str = param("adamw", choices=OPTIMIZERS, group="Training",
                           help="momentum = SGD with momentum 0.9.")
    lr: float = param(0.003, lo=1e-6, hi=10.0, log=True, group="Training",
                      label="Learning rate", help="Peak step size, after the warmup.")
    warmup: int = param(30, lo=0, hi=10_000, group="Training", label="Warmup steps",
                        help="The learning rate rises linearly from 0 over these steps, then "
                             "follows a cosine down to a tenth of its peak at the last step.")
    batch_size: int = param(64, lo=1, hi=4096, group="Training", help="Sequences per step.")
    steps: int = param(400, lo=1, hi=100_000, group="Training", help="Gradient steps.")
    clip: bool = param(True, group="Training", label="Gradient clipping",
                       help="Rescale the gradient when its norm exceeds max norm.")
    max_norm: float = param(1.0, lo=0.01, hi=100.0, log=True, group="Training",
                            label="Max norm", help="The clipping threshold.")
    example: int = param(0, lo=0, hi=999, group="Samples", label="Example shown",
                         help="The test example whose attention maps are drawn.")
    temperature: float = param(0.8, lo=0.05, hi=2.0, group="Samples",
                               when={"task": ("chars",)},
                               help="chars: sampling temperature of the generated text.")
    top_k: int = param(0, lo=0, hi=200, group="Samples", label="Top-k",
                       when={"task": ("chars",)},
                       help="chars: sample only among the k likeliest characters (0 = all).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same data, same initial weights, same curve.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Reverse 8 digits (default)": {},
    "Reverse without positional encoding": {"pos_encoding": "none"},
    "Sort 10 digits": {"task": "sort", "length": 10, "steps": 600},
    "Add two 4-digit numbers": {"task": "addition", "length": 4, "layers": 2, "d_model": 96,
                                "steps": 1500, "batch_size": 128, "n_samples": 20_000},
    "Characters, small (CPU)": {"task": "chars", "context": 64, "d_model": 64, "layers": 2,
                                "heads": 4, "steps": 1500, "batch_size": 32, "lr": 0.003,
                                "warmup": 100, "n_samples": 8000},
    "Characters, larger (GPU)": {"task": "chars", "context": 256, "d_model": 384, "layers": 6,
                                 "heads": 6, "dropout": 0.1, "steps": 5000, "batch_size": 64,
                                 "lr": 0.001, "warmup": 200, "n_samples": 50_000},
    "Encoder-decoder (the paper's shape)": {"arch": "encoder-decoder", "tie_weights": False},
}


def sequence_tokens(cfg: Config) -> int:
    """Tokens the model reads for one example: the question, '=' and the answer but its last."""
    if cfg.task == "chars":
        return cfg.context
    prompt, answer = algorithmic_layout(cfg.task, cfg.length)
    return prompt + answer - 1


def check(cfg: Config) -> list[str]:
    errors = []
    if cfg.d_model % cfg.heads:
        errors.append(_("d_model {d_model} is not divisible by {heads} heads: each head gets "
                        "d_model / heads dimensions. Pick, e.g., {fit}.", d_model=cfg.d_model,
                        heads=cfg.heads, fit=cfg.heads * max(1, round(cfg.d_model / cfg.heads))))
    need = sequence_tokens(cfg)
    if cfg.task != "chars" and need > cfg.context:
        errors.append(_("{task} with {length} digits needs a context of {need} tokens (the "
                        "question, '=' and the answer): raise the context length to {need} or "
                        "use fewer digits.", task=cfg.task, length=cfg.length, need=need))
    if cfg.arch == "encoder-decoder" and cfg.task == "chars":
        errors.append(_("The encoder-decoder needs a question and an answer: use it for "
                        "reverse, sort, copy or addition (chars is the decoder's task)."))
    if cfg.task == "chars" and cfg.n_samples * 40 < 20 * (cfg.context + 1):
        errors.append(_("A context of {context} needs at least {least:,} characters of text; "
                        "{examples} examples give {chars:,}: raise the examples or shorten the "
                        "context.", context=cfg.context, least=20 * (cfg.context + 1),
                        examples=cfg.n_samples, chars=cfg.n_samples * 40))
    return errors


exportable, export_stubs = text_exportable, text_stubs      # uploads stay out of scripts


EXPLORE = {"title": "Ask the finished model", "field": "example",
           "help": "Another test example's attention maps (nothing is retrained).",
           "text_label": "Type a question (or, for chars, a prompt)",
           "options": lambda cfg: ("temperature", "top_k") if cfg.task == "chars" else (),
           "text_help": "reverse / sort / copy: the digits, e.g. 31415926. addition: 1234+5678. "
                        "chars: any text; shows the next-character distribution, what the last "
                        "character attends to, and a continuation."}

CURVES = (("token_acc", "Token accuracy", False), ("lr", "Learning rate", False))


# ---------------------------------------------------------------------------------------------
# The comparison

def _with_and_without_positions(cfg: Config, earlier: list[str]) -> Config | None:
    plan = (cfg.pos_encoding if cfg.pos_encoding != "none" else "learned", "none")
    return replace(cfg, pos_encoding=plan[len(earlier)]) if len(earlier) < 2 else None


def comparison_table(runs) -> tuple[list[dict], str]:
    rows, score = [], {}
    for name, info in runs:
        final = info.status.get("final") or {}
        score[name] = final.get("val/acc")
        rows.append({N_("positions"): name, N_("status"): info.status.get("status"),
                     N_("test accuracy"): final.get("val/acc"),
                     N_("test loss"): final.get("val/loss"),
                     N_("seconds"): info.status.get("seconds")})
    if not runs or any(v is None for v in score.values()):
        return rows, _("The comparison is incomplete: a run did not finish.")
    (a, acc_a), (b, acc_b) = list(score.items())[:2]
    if acc_a - acc_b > 0.2:
        return rows, _("With positions: {acc_a:.0%} of test answers right; without: "
                       "{acc_b:.0%}. Attention alone cannot tell where a token sits, so it "
                       "cannot find the mirror digit.", acc_a=acc_a, acc_b=acc_b)
    return rows, _("{a}: {acc_a:.0%}, {b}: {acc_b:.0%}.", a=a, acc_a=acc_a, b=b, acc_b=acc_b)


COMPARE = {"label": "With vs without positional encoding", "names": ("with positions",
                                                                      "no positions"),
           "plan": _with_and_without_positions, "table": comparison_table, "views": ("attention",)}

DEMOS = {"positions": {"compare": True,
                       "title": "Reversing digits with and without positional encoding"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
