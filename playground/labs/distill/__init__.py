"""The Distillation lab's face: its settings, presets and the words its page shows; its torch part
is model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/distill.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.labs._common import OPTIMIZERS
from playground.labs.cnn import PRESETS as CNN_PRESETS
from playground.labs.cnn import check as cnn_check
from playground import params
from playground.params import param

TITLE, ICON, SECTION = "Distillation", "⚗️", "Vision"
TRY_THIS = ("Press 'Run the three-way comparison' with the defaults: a 16-neuron student that "
            "sees 300 digits makes fewer test errors with the teacher's soft targets than with "
            "the labels alone (at seed 0: 96.0% against 92.8%). Other seeds move the gap, and the "
            "table says when there is none. Then set transfer size to 0 (all data): the gap "
            "closes. Or drop the digit 3 from the students' data and look at its accuracy.")

STAGE = ("temperature", "alpha_kd", "transfer_size", "drop_class")
DATASETS = ("digits", "mnist", "fashion_mnist")
TEACHER_LABS = ("distill", "mlp", "cnn")        # finished runs of these pages can teach
MODES = ("teacher", "scratch", "distill")
# The CNN page's presets, as architectures (their data and training settings are this page's),
# over the CNN page's defaults.
CNN_DEFAULTS = {"channels": (16, 32), "kernel_size": 3, "stride": 1, "padding": "same",
                "pooling": "max", "pool_every": 1, "batch_norm": False, "activation": "relu",
                "fc_size": 64, "dropout": 0.0}
CNN_MODELS = {
    "tutorial": {k: v for k, v in CNN_PRESETS["Tutorial CNN (2 conv + 2 fc)"].items()
                 if k in CNN_DEFAULTS},
    "lenet5": {k: v for k, v in CNN_PRESETS["LeNet-5"].items() if k in CNN_DEFAULTS},
    "small": {"channels": (8, 16), "fc_size": 32},
}


@dataclass(frozen=True)
class Config:
    dataset: str = param("digits", choices=DATASETS, group="Data",
                         help="digits is embedded (8x8); MNIST and Fashion-MNIST (28x28) download "
                              "on first use.")
    train_ratio: float = param(0.5, lo=0.1, hi=0.9, group="Data",
                               help="Share of the digits used for training (the MLP page's split "
                                    "with the same seed); MNIST keeps its official split.")
    transfer_size: int = param(300, lo=0, hi=60_000, group="Data",
                               help="Training examples the students see (0 = all); the teacher "
                                    "always sees all. Small transfer sets are where soft targets "
                                    "help most.")
    drop_class: int = param(-1, lo=-1, hi=9, group="Data",
                            help="A class removed from the students' training data (-1 = none): "
                                 "what does the distilled student still know about it?")
    mode: str = param("teacher", choices=MODES, group="Distillation",
                      help="What Train trains: the teacher, the student on labels alone "
                           "(scratch), or the student on the teacher's soft targets (distill).")
    teacher_run: str = param("", group="Distillation", runs_of=TEACHER_LABS,
                             help="A finished run to use as the teacher: a teacher run of this "
                                  "page, or an MLP or CNN run on the same data and split. None: "
                                  "the comparison trains one.")
    temperature: float = param(4.0, lo=1.0, hi=50.0, group="Distillation",
                               help="T: softens both networks' outputs, p = softmax(z / T). High "
                                    "T shows the teacher's small probabilities (dark knowledge).")
    alpha_kd: float = param(0.9, lo=0.0, hi=1.0, group="Distillation", label="Alpha (soft weight)",
                            help="Weight of the soft-target term; 1 - alpha weighs the true "
                                 "labels. 0 = a student from scratch.")
    inspect_index: int = param(0, lo=0, hi=9999, group="Distillation", label="Test image",
                               help="The test image of the soft-target inspector (after "
                                    "training, any other can be picked below the run).")
    teacher_model: str = param("mlp", choices=("mlp", "cnn"), group="Teacher",
                               help="An MLP (sizes below) or one of the CNN page's presets.")
    teacher_hidden: tuple[int, ...] = param((256, 256), lo=1, hi=4096, min_len=1, max_len=4,
                                            group="Teacher", label="Teacher hidden sizes",
                                            help="Neurons per hidden layer of an MLP teacher.")
    teacher_cnn: str = param("tutorial", choices=tuple(CNN_MODELS), group="Teacher",
                             label="Teacher CNN", help="The CNN preset of a CNN teacher.")
    teacher_dropout: float = param(0.2, lo=0.0, hi=0.9, group="Teacher",
                                   help="Dropout of an MLP teacher (Hinton's teacher used it).")
    teacher_epochs: int = param(20, lo=1, hi=500, group="Teacher",
                                help="Passes of the teacher over the whole training set.")
    student_model: str = param("mlp", choices=("mlp", "cnn"), group="Student",
                               help="An MLP (sizes below) or one of the CNN page's presets.")
    student_hidden: tuple[int, ...] = param((16,), lo=1, hi=4096, min_len=1, max_len=4,
                                            group="Student", label="Student hidden sizes",
                                            help="Neurons per hidden layer of an MLP student.")
    student_cnn: str = param("small", choices=tuple(CNN_MODELS), group="Student",
                             label="Student CNN", help="The CNN preset of a CNN student.")
    optimizer: str = param("adam", choices=OPTIMIZERS, group="Training",
                           help="momentum = SGD with momentum 0.9.")
    lr: float = param(0.003, lo=1e-6, hi=10.0, log=True, group="Training", label="Learning rate",
                      help="Step size of the optimizer (teacher and students alike).")
    batch_size: int = param(64, lo=1, hi=8192, group="Training", help="Examples per step.")
    epochs: int = param(60, lo=1, hi=500, group="Training",
                        help="Passes of each student over the transfer set (the teacher has its "
                             "own, under Teacher).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed: same split, same data order, same initial student.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Small student, little data (default)": {},
    "CPU-sized MNIST (10k)": {"dataset": "mnist", "transfer_size": 1000,
                              "teacher_hidden": (512, 512), "teacher_dropout": 0.2,
                              "teacher_epochs": 10, "student_hidden": (32,), "epochs": 60,
                              "lr": 0.002, "batch_size": 64, "temperature": 4.0, "alpha_kd": 0.9},
    "Hinton et al. 2015 (MNIST, 2x1200 -> 2x800, T=20)": {
        "dataset": "mnist", "transfer_size": 0, "teacher_hidden": (1200, 1200),
        "teacher_dropout": 0.5, "student_hidden": (800, 800), "temperature": 20.0,
        "alpha_kd": 0.9, "lr": 0.001, "batch_size": 128, "epochs": 30, "teacher_epochs": 30},
    "Digit 3 never seen by the students": {"drop_class": 3, "transfer_size": 0,
                                           "temperature": 8.0},
    "CNN teacher, MLP student": {"teacher_model": "cnn", "teacher_cnn": "small",
                                 "teacher_epochs": 20},
    "All data (distillation helps less)": {"transfer_size": 0},
}
# Hinton, Vinyals & Dean (2015), section 3: 67, 146 and 74 test errors out of MNIST's 10,000
# test images, after training on all 60,000 (the teacher also on jittered images). Shown as
# accuracies: a folder with fewer images has another test set, so errors would not compare.
PAPER = {"teacher": 1 - 67 / 10_000, "scratch": 1 - 146 / 10_000, "distill": 1 - 74 / 10_000}
PAPER_COLUMN = N_("paper's test accuracy (60k MNIST)")


def _matches_paper(cfg: Config) -> bool:
    return (cfg.dataset == "mnist" and cfg.teacher_model == cfg.student_model == "mlp"
            and cfg.teacher_hidden == (1200, 1200) and cfg.student_hidden == (800, 800)
            and cfg.temperature == 20.0 and cfg.transfer_size == 0 and cfg.drop_class < 0)


def check(cfg: Config) -> list[str]:
    errors = []
    if cfg.mode == "distill" and not cfg.teacher_run:
        errors.append(_("Distilling needs a teacher: pick a finished run as teacher run, or set "
                        "mode back to teacher and press 'Run the three-way comparison' (it "
                        "trains the teacher first)."))
    if cfg.teacher_run:
        errors += _teacher_problems(cfg)
    for who, label in (("teacher", N_("Teacher CNN")), ("student", N_("Student CNN"))):
        if getattr(cfg, f"{who}_model") == "cnn":
            errors += [_("{setting}: {error}", setting=_(label), error=e)
                       for e in cnn_check(_cnn_settings(cfg, who))]
    return errors


def _teacher_problems(cfg: Config) -> list[str]:
    """What is wrong with the named teacher run, checked before anything trains."""
    from playground.engine.runs import RUN_ID, RunStore

    run_id = cfg.teacher_run
    if not RUN_ID.fullmatch(run_id):
        return [_("Teacher run {run!r} is not a run id (they look like "
                  "20261125-093000-distill-1a2b3c; the Runs page lists them).",
                  run=run_id[:60])]
    store = RunStore()
    if not store.exists(run_id):
        return [_("There is no run {run}: it may have been deleted. The Runs page lists them.",
                  run=run_id)]
    info = store.info(run_id)
    state = info.status.get("status")
    if info.lab not in TEACHER_LABS:
        return [_("Run {run} is a {lab} run; a teacher is a run of this page, the MLP page or "
                  "the CNN page.", run=run_id, lab=info.lab)]
    if state not in ("completed", "queued", "running"):
        return [_("Teacher run {run} ended {state}: pick a completed run.", run=run_id,
                  state=state)]
    if info.config.get("dataset") != cfg.dataset:
        return [_("Teacher run {run} learnt {learnt}, not {dataset}: set dataset to {learnt} or "
                  "pick another teacher.", run=run_id, learnt=info.config.get("dataset"),
                  dataset=cfg.dataset)]
    return []


# ---------------------------------------------------------------------------------------------
# The networks by name: the MLP and CNN pages' own, sized for each role (model.py builds them)

def _cnn_settings(cfg: Config, who: str) -> SimpleNamespace:
    """What the CNN page's network reads from its own config, for this role's preset."""
    arch = CNN_MODELS[getattr(cfg, f"{who}_cnn")]
    return SimpleNamespace(**{**CNN_DEFAULTS, **arch}, dataset=cfg.dataset, image_size=8)


def _role(cfg: Config) -> str:
    return "teacher" if cfg.mode == "teacher" else "student"


def describe_model(cfg: Config, who: str) -> str:
    if getattr(cfg, f"{who}_model") == "cnn":
        name = getattr(cfg, f"{who}_cnn")
        return f"CNN {name} {CNN_MODELS[name]['channels']}"
    return "MLP " + "x".join(map(str, getattr(cfg, f"{who}_hidden")))


def _cost_key(cfg: Config) -> Config:
    """Only the networks matter to the cost: one cache entry per teacher/student pair."""
    return replace(Config(), dataset=cfg.dataset, teacher_model=cfg.teacher_model,
                   teacher_hidden=cfg.teacher_hidden, teacher_cnn=cfg.teacher_cnn,
                   teacher_dropout=cfg.teacher_dropout, student_model=cfg.student_model,
                   student_hidden=cfg.student_hidden, student_cnn=cfg.student_cnn)


def epochs_of(cfg: Config) -> int:
    """The teacher trains for teacher_epochs over all the data, a student for epochs over the
    transfer set."""
    return cfg.teacher_epochs if cfg.mode == "teacher" else cfg.epochs


def needs(cfg: Config) -> list[str]:
    """Runs that must complete before this one starts: the teacher of a distilled student."""
    return [cfg.teacher_run] if cfg.mode == "distill" and cfg.teacher_run else []


EXPLORE = {"title": "Soft-target inspector", "field": "inspect_index",
           "help": "Any test image: the teacher's and this model's probabilities at T, from the "
                   "finished run's weights (nothing is retrained)."}


def _name_of(mode: str) -> str:
    return {"teacher": "teacher", "scratch": "student from scratch",
            "distill": "distilled student"}[mode]


def comparison_table(runs) -> tuple[list[dict], str]:
    """The final table of a three-way comparison, and an honest verdict. `runs`: (name, RunInfo)
    of teacher, scratch student, distilled student."""
    # the costs are the networks timed: torch, imported on the first table drawn
    from playground.labs.distill.model import _cost, _run_cost

    rows, acc = [], {}
    student_cfg = None
    teacher_ms = None
    for name, info in runs:
        final = info.status.get("final") or {}
        cfg_dict = info.config
        cfg = params.parse(Config, cfg_dict)[0] if info.lab == "distill" else None
        if cfg is not None:
            student_cfg = student_cfg or (cfg if cfg.mode != "teacher" else None)
            cost = _cost(_cost_key(cfg), _role(cfg))
            arch = describe_model(cfg, _role(cfg))
        else:
            cost, arch = _run_cost(info.run_id) or (None, f"{info.lab} run")
        mode = cfg_dict.get("mode", "teacher") if info.lab == "distill" else "teacher"
        acc[mode] = final.get("val/acc")
        errors = final.get("val/errors")
        row = {N_("model"): name, N_("network"): arch, N_("status"): info.status.get("status"),
               N_("test accuracy"): final.get("val/acc"),
               N_("test errors"): None if errors is None else int(errors),
               N_("parameters"): info.status.get("params"),
               N_("CPU ms / 1,000 images"): None if cost is None else round(cost["ms"], 2)}
        if mode == "teacher" and cost is not None:
            teacher_ms = cost["ms"]
        row[N_("speed-up vs teacher")] = (None if cost is None or not teacher_ms
                                          else round(teacher_ms / cost["ms"], 1))
        if "val/acc_dropped" in final:
            row[N_("accuracy on the dropped class")] = final["val/acc_dropped"]
            row[N_("... with its bias raised")] = final.get("val/acc_dropped_bias")
        rows.append(row)
    if student_cfg is not None and _matches_paper(student_cfg):
        for row, mode in zip(rows, MODES):
            row[PAPER_COLUMN] = PAPER[mode]
    return rows, _verdict(acc, rows, student_cfg)


def _verdict(acc: dict, rows: list[dict], cfg: Config | None) -> str:
    scratch, distilled = acc.get("scratch"), acc.get("distill")
    if scratch is None or distilled is None:
        return _("The comparison is incomplete: a run did not finish, so there is nothing to "
                 "judge.")
    diff = distilled - scratch
    errors = {r["model"]: r["test errors"] for r in rows}
    e_s, e_d = errors.get(_name_of("scratch")), errors.get(_name_of("distill"))
    fewer = "" if e_s is None or e_d is None else _("; {errors} test errors against {scratch}",
                                                    errors=e_d, scratch=e_s)
    if diff > 0:
        text = _("Distillation helped here: the distilled student reached {distilled:.1%} test "
                 "accuracy against {scratch:.1%} for the same student on labels alone "
                 "(+{points:.1f} points{fewer}).", distilled=distilled, scratch=scratch,
                 points=100 * diff, fewer=fewer)
    elif diff == 0:
        text = _("Distillation made no difference here: both students reached {scratch:.1%}. "
                 "Try a smaller transfer set or a smaller student.", scratch=scratch)
    else:
        text = _("Distillation did not help at this setting: the distilled student reached "
                 "{distilled:.1%}, the student on labels alone {scratch:.1%} ({points:+.1f} "
                 "points{fewer}). Try a smaller transfer set, a smaller student, or another "
                 "temperature.", distilled=distilled, scratch=scratch, points=100 * diff,
                 fewer=fewer)
    dropped = [r.get("accuracy on the dropped class") for r in rows[1:]]
    raised = [r.get("... with its bias raised") for r in rows[1:]]
    if cfg is not None and cfg.drop_class >= 0 and all(d is not None for d in dropped):
        if all(r is not None for r in raised):
            text += " " + _("On class {drop}, which neither student saw: from scratch "
                            "{scratch:.1%}, distilled {distilled:.1%}; with that class's output "
                            "bias raised (as in the paper): {scratch_raised:.1%} and "
                            "{distilled_raised:.1%}.", drop=cfg.drop_class, scratch=dropped[0],
                            distilled=dropped[1], scratch_raised=raised[0],
                            distilled_raised=raised[1])
        else:
            text += " " + _("On class {drop}, which neither student saw: from scratch "
                            "{scratch:.1%}, distilled {distilled:.1%}.", drop=cfg.drop_class,
                            scratch=dropped[0], distilled=dropped[1])
    return text


def _three_way(cfg: Config, earlier: list[str]):
    """Teacher (or the named teacher run), then the student from scratch, then the distilled
    student that learns from that teacher: the same seed, so the same data order."""
    if not earlier:
        return cfg.teacher_run or replace(cfg, mode="teacher", teacher_run="")
    if len(earlier) == 1:
        return replace(cfg, mode="scratch", teacher_run="")
    if len(earlier) == 2:
        return replace(cfg, mode="distill", teacher_run=earlier[0])
    return None


COMPARE = {"label": "Run the three-way comparison",
           "names": tuple(_name_of(m) for m in MODES), "plan": _three_way,
           "table": comparison_table, "views": ("soft_targets",)}

DEMOS = {"three-way": {"compare": True,
                       "title": "Teacher, student from scratch, distilled student"}}


def exportable(cfg: Config) -> str:
    """Why this run cannot become a standalone script ("" when it can)."""
    if cfg.mode == "distill" and _teacher_settings(cfg) is None:
        return _("This student's teacher (run {run}) is gone or was trained on another page, "
                 "whose code a script would need too: download the weights, or distil from a "
                 "teacher trained on this page.", run=cfg.teacher_run)
    return ""


def _teacher_settings(cfg: Config) -> Config | None:
    """The settings of the teacher run, when it is a teacher of this page."""
    from playground.engine.runs import NoSuchRun, RunStore

    try:
        info = RunStore().info(cfg.teacher_run)
    except NoSuchRun:
        return None
    return params.parse(Config, info.config)[0] if info.lab == "distill" else None


def export_stubs(cfg: Config) -> dict[str, str]:
    """What a standalone script has in place of loading a teacher run: for a distilled student,
    the teacher is trained first in the same script, exactly as its run was."""
    if cfg.mode != "distill":
        return {"teacher_logits": "def teacher_logits(cfg, data):\n    raise SystemExit("
                                  "'this script trains a teacher or a student on labels alone')"}
    teacher = _teacher_settings(cfg)
    settings = "\n".join(f"    {f}={getattr(teacher, f)!r}," for f in Config.__dataclass_fields__)
    head = f"# The teacher: run {cfg.teacher_run}, trained first by this script.\n"
    return {"teacher_logits": head + f'''TEACHER = replace(Config(), **dict(
{settings}
))


def teacher_logits(cfg: Config, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """Train the teacher as its run did, then take its logits for every training and test example
    once, on the CPU (as the playground does with the saved teacher)."""
    _unused, teacher = train(TEACHER)
    seen = load_data(TEACHER)
    teacher = teacher.cpu()
    with torch.no_grad():
        return predict(teacher, seen.train[0], 2048), predict(teacher, seen.test[0], 2048)'''}


__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
