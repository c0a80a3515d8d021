"""Each lab's guide, docs/labs/<lab>.md: the one source of what the lab teaches.

The page's introduction is the guide's first paragraph, "More about this architecture" the rest;
Home's gallery takes its first sentence, an exported script its first paragraph. The guide is
prose written by hand, except the sections that are read from the lab's code (its Try this, its
settings with their CLI names, ranges and help, its metrics), which `python -m playground guides`
writes between markers and the test suite checks are current. Torch-free: the server reads it.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "docs" / "labs"
BEGIN, END = "<!-- from the lab's code: {name} -->", "<!-- end: {name} -->"
GENERATED = ("try-this", "settings", "metrics")
REQUIRED = ("## On the page", "## Measured", "## Try this", "## Settings",
            "## Metrics")


def path(lab_name: str) -> Path:
    return ROOT / f"{lab_name}.md"


@lru_cache(maxsize=64)
def _read(lab_name: str, stamp: float) -> str:
    return path(lab_name).read_text(encoding="utf-8")


def text(lab_name: str) -> str:
    """The guide as written ('' when there is none), re-read when the file changes."""
    p = path(lab_name)
    try:
        return _read(lab_name, p.stat().st_mtime)
    except FileNotFoundError:
        return ""


def _body(lab_name: str) -> tuple[str, str]:
    """(the first paragraph, the rest), the title line left out."""
    lines = text(lab_name).split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    first, _, rest = "\n".join(lines).strip().partition("\n\n")
    return " ".join(first.split()), rest.strip()


def intro(lab_name: str) -> str:
    """The guide's first paragraph: what the lab is, with its papers."""
    return _body(lab_name)[0]


def more(lab_name: str, leave_out: tuple[str, ...] = ("Try this",)) -> str:
    """The rest, for "More about this architecture": without the sections the page shows
    elsewhere, the markers, and pictures (which a page cannot load from a relative path; the
    page draws its own)."""
    out, skipping = [], False
    for line in _body(lab_name)[1].split("\n"):
        if line.startswith("## "):
            skipping = line[3:].strip() in leave_out
        if skipping or line.startswith("<!--") or line.lstrip().startswith("!["):
            continue
        out.append("##" + line if line.startswith("## ") else line)   # under the dialog title
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


# ---------------------------------------------------------------------------------------------
# The sections read from the code

def _number(spec, v) -> str:
    return f"{int(v):,}" if spec.kind in ("int", "ints") else f"{v:g}"


def _range(spec) -> str:
    if spec.choices:
        return " \\| ".join(f"`{c}`" for c in spec.choices)
    if spec.kind == "bool":
        return "`true` \\| `false`"
    if spec.lo is not None and spec.hi is not None:
        return (f"{_number(spec, spec.lo)} to {_number(spec, spec.hi)}"
                + (" (log)" if spec.log else "") + (" each" if spec.kind == "ints" else ""))
    if spec.upload:
        return "a file: " + ", ".join(f".{t}" for t in spec.upload)
    if spec.runs_of:
        return "a finished run of " + ", ".join(spec.runs_of)
    return "text"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def generated(lab_name: str) -> dict[str, str]:
    """{section: its markdown} read from the lab's face."""
    from playground import params, registry

    lab = registry.get(lab_name)
    rows = ["| setting (`--set NAME=...`) | default | values | what it does |", "|---|---|---|---|"]
    for spec in params.specs(lab.Config):
        default = params.to_text(spec, spec.default)
        where = ("; only where " + ", ".join(f"{k} is {' or '.join(map(str, v))}"
                                             for k, v in spec.when)) if spec.when else ""
        rows.append(f"| `{spec.name}` ({spec.title}) | `{default or '(empty)'}` | "
                    f"{_range(spec)} | {_cell(spec.help + where)} |")
    what = {"val/loss": "loss on the test set", "val/acc": "accuracy on the test set",
            **dict(registry.headlines(lab_name)),
            **{f"val/{c[0]}": c[1] for c in getattr(lab, "CURVES", ())}}
    metrics = [k for k in _recorded(lab_name) if k.startswith("val/")]
    metrics += [k for k in what if k not in metrics and k not in ("val/loss", "val/acc")]
    live = getattr(lab, "LIVE", ())
    notes = (["Settings that can change while a run trains (`--change STEP:NAME=VALUE`): "
              + ", ".join(f"`{n}`" for n in live) + "."] if live else [])
    return {
        "try-this": lab.TRY_THIS,
        "settings": "\n".join(rows + ([""] + notes if notes else [])),
        "metrics": "\n".join(["| metric | what it is |", "|---|---|"]
                             + [f"| `{k}` | {_cell(what.get(k, k[4:].replace('_', ' ')))} |"
                                for k in metrics])
                   + "\n\nThe metrics its recorded demos wrote, then those it declares for other "
                     "settings. Those measured on the training batches are written as "
                     "`train/...`; `python -m playground train " + lab_name + " --json` prints "
                     "the final ones, `metrics.csv` (a run's downloads) all of them.",
    }


def _recorded(lab_name: str) -> list[str]:
    """The metrics of the lab's recorded demos, in the order they first appear."""
    from playground import demos

    seen: dict[str, None] = {}
    for name in demos.demos_of(lab_name):
        for run in demos.load(lab_name, name).runs:
            for record in run.records:
                seen.update(dict.fromkeys(k for k in record if "/" in k))
    return list(seen)


def refresh(lab_name: str, guide: str | None = None) -> str:
    """The guide with its generated sections written anew (each between its markers)."""
    guide = text(lab_name) if guide is None else guide
    for name, body in generated(lab_name).items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        block = f"{begin}\n{body}\n{end}"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if pattern.search(guide):
            guide = pattern.sub(lambda _: block, guide)
        else:
            raise ValueError(f"{path(lab_name)} has no {begin} ... {end} section")
    return guide


def stale(lab_names) -> list[str]:
    """The guides whose generated sections are not what the code says now."""
    return [n for n in lab_names if refresh(n) != text(n)]
