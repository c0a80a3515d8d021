"""A visitor's own table of numbers: a CSV with a header line, one example per row, one column the
target (the last unless named). Torch-free: the page checks an upload with it, the worker reads it.

Every refusal names the line (as a spreadsheet numbers it: the header is line 1) and the column,
so a visitor can fix the file rather than guess.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass

import numpy as np

MIN_ROWS = 20
MAX_ROWS = 50_000
MAX_COLUMNS = 100
MAX_CLASSES = 20
TASKS = ("auto", "classification", "regression")


class BadTable(ValueError):
    """A file that is not a table to train on; the message says where and what to do."""


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    values: np.ndarray              # (rows, columns) float64, every one finite


@dataclass(frozen=True)
class Prepared:
    """The inputs and the target as a network takes them."""
    x: np.ndarray                   # (rows, inputs) float32, each column centred and scaled
    y: np.ndarray                   # class ids (int64) or the standardised value (float32)
    inputs: tuple[str, ...]
    target: str
    task: str                       # "classification" | "regression"
    classes: tuple[str, ...]        # the target's values, in id order (classification)


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def dialect_of(lines: list[str]):
    """How a CSV's first lines separate their cells: tabs, else comma or semicolon as the csv
    module's sniffer reads them (quoted cells may hold the other)."""
    if all("\t" in ln for ln in lines):
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;")
    except csv.Error:
        return csv.excel


def parse(text: str) -> Table:
    """The table in a CSV text (comma, semicolon or tab between cells), or BadTable."""
    numbered = [(i, ln) for i, ln in enumerate(text.split("\n"), start=1) if ln.strip()]
    if not numbered:
        raise BadTable("The file is empty: upload a CSV with a header line (x1,x2,label) and "
                       "one row of numbers per example.")
    rows = csv.reader([ln for _, ln in numbered], dialect_of([ln for _, ln in numbered[:20]]))
    first, header = numbered[0][0], [c.strip() for c in next(rows)]
    if all(_number(c) is not None for c in header):
        raise BadTable(f"Line {first} is numbers, not a header: add a first line naming the "
                       "columns, e.g. x1,x2,label.")
    if len(header) < 2:
        raise BadTable(f"Line {first} names one column ({header[0][:40]!r}): a table needs at "
                       "least one input column and the target. Separate cells with commas.")
    if len(header) > MAX_COLUMNS:
        raise BadTable(f"The header names {len(header)} columns; at most {MAX_COLUMNS} are "
                       "accepted.")
    for j, name in enumerate(header):
        if not name:
            raise BadTable(f"Line {first}, column {j + 1} has no name: name every column.")
        if name in header[:j]:
            raise BadTable(f"Line {first} names the column {name[:40]!r} twice.")
    values = []
    for (line, raw), cells in zip(numbered[1:], rows):
        if len(values) >= MAX_ROWS:
            raise BadTable(f"The file has more than {MAX_ROWS:,} rows of data (line {line} is "
                           f"beyond): use at most {MAX_ROWS:,}.")
        cells = [c.strip() for c in cells]
        if len(cells) != len(header):
            raise BadTable(f"Line {line} has {len(cells)} cells; the header names "
                           f"{len(header)} columns: {raw[:60]!r}.")
        row = []
        for name, cell in zip(header, cells):
            if not cell:
                raise BadTable(f"Line {line}, column {name[:40]!r} is empty: every cell needs "
                               "a number.")
            v = _number(cell)
            if v is None:
                raise BadTable(f"Line {line}, column {name[:40]!r}: {cell[:40]!r} is not a "
                               "number. Only numbers can be trained on (turn categories into "
                               "numbers first).")
            if not math.isfinite(v):
                raise BadTable(f"Line {line}, column {name[:40]!r} is {cell[:20]!r}: every value "
                               "must be a finite number (no NaN or infinity).")
            row.append(v)
        values.append(row)
    if len(values) < MIN_ROWS:
        raise BadTable(f"The file has {len(values)} rows of data; a network needs at least "
                       f"{MIN_ROWS} (and a few hundred to generalise).")
    return Table(tuple(header), np.asarray(values, np.float64))


def target_index(table: Table, target: str) -> int:
    """The target column's index: the one named, else the last; BadTable for an unknown name."""
    if not target:
        return len(table.columns) - 1
    if target not in table.columns:
        shown = ", ".join(table.columns[:12]) + (", ..." if len(table.columns) > 12 else "")
        raise BadTable(f"The file has no column named {target[:40]!r}: its columns are {shown}.")
    return table.columns.index(target)


def task_of(y: np.ndarray, asked: str = "auto") -> str:
    """classification when asked, or (auto) when the target holds at most MAX_CLASSES distinct
    whole numbers; regression otherwise."""
    if asked != "auto":
        return asked
    whole = bool(np.all(y == np.round(y)))
    return "classification" if whole and len(np.unique(y)) <= MAX_CLASSES else "regression"


def _label(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:g}"


def prepare(table: Table, target: str = "", task: str = "auto") -> Prepared:
    """Inputs centred and scaled column by column into [-1, 1] (the range the page's plane and
    its features expect), the target as class ids or standardised; BadTable when the target
    cannot be learnt as asked."""
    j = target_index(table, target)
    name = table.columns[j]
    y = table.values[:, j]
    x = np.delete(table.values, j, axis=1)
    task = task_of(y, task)
    kinds = np.unique(y)
    if task == "classification":
        if len(kinds) < 2:
            raise BadTable(f"Every row's {name!r} is {_label(kinds[0])}: a classifier needs two "
                           "or more classes.")
        if len(kinds) > MAX_CLASSES:
            raise BadTable(f"{name!r} holds {len(kinds):,} different values: too many classes "
                           f"(at most {MAX_CLASSES}). Choose task = regression to predict it as "
                           "a number.")
        ids = np.searchsorted(kinds, y).astype(np.int64)
        target_out, classes = ids, tuple(_label(v) for v in kinds)
    else:
        spread = y.std()
        if spread == 0:
            raise BadTable(f"{name!r} is {_label(y[0])} in every row: there is nothing to predict.")
        target_out, classes = ((y - y.mean()) / spread).astype(np.float32), ()
    x = x - x.mean(0)
    scale = np.abs(x).max(0)
    x = x / np.where(scale > 0, scale, 1.0)
    inputs = tuple(c for i, c in enumerate(table.columns) if i != j)
    return Prepared(x.astype(np.float32), target_out, inputs, name, task, classes)
