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

from playground import i18n
from playground.i18n import N_

ROOT = Path(__file__).resolve().parents[1] / "docs" / "labs"
BEGIN, END = "<!-- from the lab's code: {name} -->", "<!-- end: {name} -->"
GENERATED = ("try-this", "settings", "metrics")
REQUIRED = ("## On the page", "## Measured", "## Try this", "## Settings",
            "## Metrics")


def path(lab_name: str, lang: str = "en") -> Path:
    """docs/labs/<lab>.md, or its translation <lab>.<lang>.md."""
    return ROOT / (f"{lab_name}.md" if lang == "en" else f"{lab_name}.{lang}.md")


@lru_cache(maxsize=64)
def _read(p: Path, stamp: float) -> str:
    return p.read_text(encoding="utf-8")


def text(lab_name: str, lang: str = "en") -> str:
    """The guide as written ('' when there is none), re-read when the file changes."""
    p = path(lab_name, lang)
    try:
        return _read(p, p.stat().st_mtime)
    except FileNotFoundError:
        return ""


def _shown(lab_name: str) -> str:
    """The guide in the page's language, the English one where it has none yet."""
    lang = i18n.current()
    return (lang != "en" and text(lab_name, lang)) or text(lab_name)


def _body(lab_name: str) -> tuple[str, str]:
    """(the first paragraph, the rest), the title line left out."""
    lines = _shown(lab_name).split("\n")
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
    leave_out = {*leave_out, *(i18n.translate(x) for x in leave_out)}
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


def _range(spec, t) -> str:
    if spec.choices:
        return " \\| ".join(f"`{c}`" for c in spec.choices)
    if spec.kind == "bool":
        return "`true` \\| `false`"
    if spec.lo is not None and spec.hi is not None:
        return (t(N_("{lo} to {hi}")).format(lo=_number(spec, spec.lo), hi=_number(spec, spec.hi))
                + (t(N_(" (log)")) if spec.log else "")
                + (t(N_(" each")) if spec.kind == "ints" else ""))
    if spec.upload:
        return t(N_("a file: {types}")).format(types=", ".join(f".{x}" for x in spec.upload))
    if spec.runs_of:
        return t(N_("a finished run of {labs}")).format(labs=", ".join(spec.runs_of))
    return t(N_("text"))


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def generated(lab_name: str, lang: str = "en") -> dict[str, str]:
    """{section: its markdown} read from the lab's face, in `lang` (its catalogue's words)."""
    from playground import params, registry

    def t(text: str) -> str:
        return i18n.translate(text, lang)

    lab = registry.get(lab_name)
    rows = [t(N_("| setting (`--set NAME=...`) | default | values | what it does |")),
            "|---|---|---|---|"]
    for spec in params.specs(lab.Config):
        default = params.to_text(spec, spec.default)
        where = (t(N_(" Only where {conditions}.")).format(conditions=", ".join(
            t(N_("{setting} is {values}")).format(setting=k, values=t(N_(" or ")).join(map(str, v)))
            for k, v in spec.when))) if spec.when else ""
        default = default or t(N_("(empty)"))
        rows.append(f"| `{spec.name}` ({t(spec.title)}) | `{default}` | "
                    f"{_range(spec, t)} | {_cell(t(spec.help) + where)} |")
    what = {"val/loss": N_("loss on the test set"), "val/acc": N_("accuracy on the test set"),
            **dict(registry.headlines(lab_name)),
            **{f"val/{c[0]}": c[1] for c in getattr(lab, "CURVES", ())}}
    metrics = [k for k in _recorded(lab_name) if k.startswith("val/")]
    metrics += [k for k in what if k not in metrics and k not in ("val/loss", "val/acc")]
    live = getattr(lab, "LIVE", ())
    notes = ([t(N_("Settings that can change while a run trains (`--change STEP:NAME=VALUE`): "
                   "{names}.")).format(names=", ".join(f"`{n}`" for n in live))] if live else [])
    return {
        "try-this": t(lab.TRY_THIS),
        "settings": "\n".join(rows + ([""] + notes if notes else [])),
        "metrics": "\n".join([t(N_("| metric | what it is |")), "|---|---|"]
                             + [f"| `{k}` | {_cell(t(what.get(k, k[4:].replace('_', ' '))))} |"
                                for k in metrics])
                   + "\n\n" + t(N_("The metrics its recorded demos wrote, then those it declares "
                                   "for other settings. Those measured on the training batches "
                                   "are written as `train/...`; `python -m playground train "
                                   "{lab} --json` prints the final ones, `metrics.csv` (a run's "
                                   "downloads) all of them.")).format(lab=lab_name),
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


def languages(lab_name: str) -> list[str]:
    """The languages the lab's guide is written in (English always)."""
    return ["en", *(lang for lang in i18n.LANGUAGES if lang != "en" and text(lab_name, lang))]


def refresh(lab_name: str, guide: str | None = None, lang: str = "en") -> str:
    """The guide with its generated sections written anew (each between its markers)."""
    guide = text(lab_name, lang) if guide is None else guide
    for name, body in generated(lab_name, lang).items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        block = f"{begin}\n{body}\n{end}"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if pattern.search(guide):
            guide = pattern.sub(lambda _: block, guide)
        else:
            raise ValueError(f"{path(lab_name, lang)} has no {begin} ... {end} section")
    return guide


def stale(lab_names) -> list[tuple[str, str]]:
    """(lab, language) of the guides whose generated sections are not what the code says now."""
    return [(n, lang) for n in lab_names for lang in languages(n)
            if refresh(n, lang=lang) != text(n, lang)]
