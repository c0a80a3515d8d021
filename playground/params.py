"""Hyperparameter declarations and the one validator that the form, the URL and the CLI share.

A lab's `Config` is a frozen dataclass whose fields are declared with `param(...)`; the metadata
(range or choices, help, log scale, group) is everything the UI needs to draw a widget and
everything `parse` needs to turn raw user input into a valid config or clear messages.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from playground.i18n import N_


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str                      # "int" | "float" | "str" | "bool" | "ints" | "strs"
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    help: str = ""
    log: bool = False
    group: str = "Training"
    label: str = ""
    min_len: int = 0
    max_len: int = 64
    runs_of: tuple | None = None   # a str field naming a finished run of these labs
    upload: tuple | None = None    # a str field holding the id of an uploaded file of these types
    holds: str = ""                # what that file must hold (data/uploads.decode's kind)
    when: tuple | None = None      # ((field, (values...)), ...): shown only where every one holds

    def applies(self, values: dict) -> bool:
        """Does this field matter for these settings (the form hides it where not)?"""
        return all(values.get(name) in allowed for name, allowed in self.when or ())

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


def param(default, *, lo=None, hi=None, choices=None, help="", log=False, group="Training",
          label="", min_len=0, max_len=64, runs_of=None, upload=None, holds="", when=None):
    """Declare a Config field. `lo`/`hi` bound numbers (and each item of a tuple of numbers);
    `runs_of` marks a str field that names a finished run of those labs (the form lists them);
    `upload` (file types, e.g. ("txt",)) a str field that holds the id of an uploaded file (the
    form shows an uploader; "" = none) and `holds` what it must hold ("labelled": text,label
    rows; by default its type's: txt prose, csv points); `when` ({field: allowed values}) the settings under which
    the field matters (the form shows it only then; it keeps its value meanwhile)."""
    meta = dict(lo=lo, hi=hi, choices=tuple(choices) if choices else None, help=help, log=log,
                group=group, label=label, min_len=min_len, max_len=max_len,
                runs_of=tuple(runs_of) if runs_of else None,
                upload=tuple(upload) if upload else None, holds=holds,
                when=tuple((k, tuple(v)) for k, v in when.items()) if when else None)
    return field(default=default, metadata={"param": meta})


_KINDS = {int: "int", float: "float", str: "str", bool: "bool"}
UPLOAD_ID = re.compile(r"[0-9a-f]{16}")      # an uploaded file's fingerprint (data/uploads.py)


def _kind(tp) -> str:
    if tp in _KINDS:
        return _KINDS[tp]
    if typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0]
        return {int: "ints", str: "strs"}[inner]
    raise TypeError(f"unsupported Config field type {tp!r}")


def specs(config_cls) -> list[Spec]:
    """The declared parameters of a Config class, in declaration order."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        meta = f.metadata.get("param")
        if meta is None:
            raise TypeError(f"{config_cls.__qualname__}.{f.name} is not declared with param()")
        out.append(Spec(name=f.name, kind=_kind(hints[f.name]), default=f.default, **meta))
    return out


# ---------------------------------------------------------------------------------------------
# Coercion: raw values (widget values, URL strings, CLI strings) -> typed values or a message

class Invalid(ValueError):
    pass


def _num(spec: Spec, raw, as_int: bool, what: str | None = None):
    what = what or spec.title
    if isinstance(raw, bool):
        raise Invalid(N_("{what} must be a number, got {raw}").format(what=what, raw=repr(raw)))
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            raise Invalid(N_("{what} is empty: enter a number").format(what=what))
        try:
            raw = float(text)
        except ValueError:
            raise Invalid(N_("{what} must be a number, got {raw}").format(
                what=what, raw=repr(text))) from None
    if not isinstance(raw, (int, float)):
        raise Invalid(N_("{what} must be a number, got {raw}").format(what=what, raw=repr(raw)))
    value = float(raw)
    if not math.isfinite(value):
        raise Invalid(N_("{what} must be a finite number, got {raw}").format(what=what, raw=raw))
    if as_int:
        if value != int(value):
            raise Invalid(N_("{what} must be a whole number, got {raw}").format(
                what=what, raw=f"{raw:g}"))
        value = int(value)
    if spec.lo is not None and value < spec.lo:
        raise Invalid(N_("{what} must be at least {lo}, got {value}").format(
            what=what, lo=f"{spec.lo:g}", value=f"{value:g}"))
    if spec.hi is not None and value > spec.hi:
        raise Invalid(N_("{what} must be at most {hi}, got {value}").format(
            what=what, hi=f"{spec.hi:g}", value=f"{value:g}"))
    return value


def _choice(spec: Spec, raw, what: str | None = None) -> str:
    what = what or spec.title
    value = str(raw).strip()
    if spec.choices and value not in spec.choices:
        raise Invalid(N_("{what}: unknown choice {value}; pick one of {choices}").format(
            what=what, value=repr(value), choices=", ".join(spec.choices)))
    return value


def _items(raw) -> list:
    if isinstance(raw, str):
        text = raw.strip().strip("()[]")
        return [t.strip() for t in text.split(",") if t.strip()] if text else []
    if isinstance(raw, (list, tuple)):
        return list(raw)
    return [raw]


def coerce(spec: Spec, raw):
    """Turn one raw value into the field's type, or raise Invalid with a message a user can act on."""
    if spec.kind == "int":
        return _num(spec, raw, as_int=True)
    if spec.kind == "float":
        return _num(spec, raw, as_int=False)
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise Invalid(N_("{what} must be true or false, got {raw}").format(
            what=spec.title, raw=repr(raw)))
    if spec.kind == "str" and spec.upload:
        value = str(raw).strip()
        if value and not UPLOAD_ID.fullmatch(value):
            raise Invalid(N_("{what}: {value} is not an uploaded file; upload the file on the "
                             "page.").format(what=spec.title, value=repr(value[:40])))
        return value
    if spec.kind == "str":
        return _choice(spec, raw)
    items = _items(raw)
    if len(items) < spec.min_len:
        raise Invalid(N_("{what} needs at least {n} value(s)").format(what=spec.title,
                                                                        n=spec.min_len))
    if len(items) > spec.max_len:
        raise Invalid(N_("{what} takes at most {n} values, got {got}").format(
            what=spec.title, n=spec.max_len, got=len(items)))
    if spec.kind == "ints":
        each = N_("{what} (each value)").format(what=spec.title)
        return tuple(_num(spec, x, as_int=True, what=each) for x in items)
    values = tuple(_choice(spec, x) for x in items)
    if len(set(values)) != len(values):
        raise Invalid(N_("{what} lists a value twice").format(what=spec.title))
    return values


def to_text(spec: Spec, value) -> str:
    """The inverse of coerce for URLs and the CLI: `(8, 8)` -> "8,8"."""
    if spec.kind in ("ints", "strs"):
        return ",".join(str(v) for v in value)
    if spec.kind == "bool":
        return "true" if value else "false"
    if spec.kind == "float":
        return f"{value:g}"
    return str(value)


def bounded(spec: Spec, limits: dict | None) -> Spec:
    """The spec with a tighter range from `limits` (field name -> (lo, hi), None = keep)."""
    if not limits or spec.name not in limits:
        return spec
    lo, hi = limits[spec.name]
    return dataclasses.replace(spec, lo=spec.lo if lo is None else lo,
                               hi=spec.hi if hi is None else hi)


def parse(config_cls, raw: dict, *, check=None, limits: dict | None = None):
    """Build a Config from raw values. Returns (config or None, list of messages).

    Unknown keys are errors (a typo must not silently train the default). `check(cfg)` adds the
    lab's cross-field rules; `limits` maps field name -> (lo, hi) tighter than the declared range.
    """
    by_name = {s.name: s for s in specs(config_cls)}
    errors = [N_("unknown setting {name}; known settings: {known}").format(
        name=repr(k), known=", ".join(by_name)) for k in raw if k not in by_name]
    values = {}
    for name, spec in by_name.items():
        spec = bounded(spec, limits)
        try:
            values[name] = coerce(spec, raw[name]) if name in raw else spec.default
        except Invalid as e:
            errors.append(str(e))
    if errors:
        return None, errors
    cfg = config_cls(**values)
    if check is not None:
        errors = list(check(cfg))
        if errors:
            return None, errors
    return cfg, []


def validate(cfg, *, check=None, limits: dict | None = None) -> list[str]:
    """Messages for every invalid value of an already built config (empty when valid)."""
    return parse(type(cfg), dataclasses.asdict(cfg), check=check, limits=limits)[1]


def to_dict(cfg) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
