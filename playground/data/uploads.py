"""A visitor's own text to train on, kept under its fingerprint.

The page checks an upload (size, UTF-8, not binary, long enough, not too many distinct
characters) and writes it once to $PLAYGROUND_HOME/uploads/<id>.txt, where `id` is the first 16
hex digits of its SHA-256: the training process, which is not the page's, reads it from there; the
same file uploaded twice is stored once; a run's config holds only the id. A run whose text is
gone (another server, a cleaned folder) fails with a message that says to upload it again.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

from playground.data.base import DataUnavailable
from playground.params import UPLOAD_ID

MAX_BYTES = 5 * 1024 * 1024          # .streamlit/config.toml's maxUploadSize is this, in MB
HOSTED_MAX_BYTES = 1024 * 1024


def limit_bytes(hosted: bool) -> int:
    """The most an upload of a text or points file may weigh here."""
    return HOSTED_MAX_BYTES if hosted else MAX_BYTES
MIN_CHARS = 2000                  # a few sentences: less would be memorised in a few steps
MAX_DISTINCT = 300                # the model's alphabet; beyond it, one embedding per rare symbol
ID = UPLOAD_ID


class BadUpload(ValueError):
    """An upload that cannot be trained on; the message says why and what to do."""


def folder() -> Path:
    from playground.engine.runs import home

    return home() / "uploads"


def path(text_id: str) -> Path:
    if not ID.fullmatch(text_id or ""):
        raise BadUpload(f"{str(text_id)[:40]!r} is not the id of an uploaded text.")
    return folder() / f"{text_id}.txt"


def decode(raw: bytes, max_bytes: int = MAX_BYTES, kind: str = "txt") -> str:
    """The text of an upload, or BadUpload with a message a visitor can act on. kind "csv":
    points x,y (checked as such), "txt": prose for a model to learn from."""
    if len(raw) > max_bytes:
        raise BadUpload(f"The file is {len(raw) / 2**20:.1f} MB; at most "
                        f"{max_bytes / 2**20:.0f} MB are accepted.")
    if not raw.strip():
        raise BadUpload("The file is empty: upload a .csv file of x,y points, one per line."
                        if kind == "csv" else
                        "The file is empty: upload a .txt file with some text in it.")
    if b"\x00" in raw[:65536]:
        raise BadUpload("This is not a text file (it holds binary data): upload plain text "
                        "saved as .txt.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadUpload(f"The file is not UTF-8 text (byte {e.start} cannot be read): save it "
                        "as UTF-8 plain text and upload it again.") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if kind == "csv":
        points(text)
        return text
    if len(text) < MIN_CHARS:
        raise BadUpload(f"The text has {len(text):,} characters; a model needs at least "
                        f"{MIN_CHARS:,} to learn from.")
    distinct = len(set(text))
    if distinct > MAX_DISTINCT:
        raise BadUpload(f"The text uses {distinct:,} different characters; at most "
                        f"{MAX_DISTINCT} are accepted (a character model learns one vector "
                        "for each).")
    return text


def save(raw: bytes, max_bytes: int = MAX_BYTES, kind: str = "txt") -> tuple[str, dict]:
    """Check and store an upload; returns (id, {"chars", "distinct"}). Written atomically, once."""
    text = decode(raw, max_bytes, kind)
    data = text.encode("utf-8")
    text_id = hashlib.sha256(data).hexdigest()[:16]
    target = path(text_id)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    if kind == "csv":
        return text_id, {"points": len(points(text))}
    return text_id, {"chars": len(text), "distinct": len(set(text))}


def load(text_id: str, fix: dict | None = None) -> str:
    """The stored text, or DataUnavailable (with the setting that works instead) when it is
    not on this server."""
    try:
        return path(text_id).read_text(encoding="utf-8")
    except (FileNotFoundError, BadUpload):
        raise DataUnavailable(
            f"The uploaded text {str(text_id)[:16]} is not on this server (it was uploaded "
            "elsewhere, or removed): upload the file again, or train on the built-in text.",
            fix=fix or {"text_file": ""}) from None


def points(text: str):
    """A CSV of x,y points (a header line allowed, ; or , between them) as a float32 array
    (N, 2), centred and scaled into [-1, 1]^2; BadUpload says which line is wrong."""
    import numpy as np

    rows = []
    for i, line in enumerate(text.strip().splitlines(), start=1):
        parts = [p.strip() for p in line.replace(";", ",").split(",") if p.strip()]
        try:
            x, y = (float(v) for v in parts)
        except ValueError:
            if i == 1:
                continue                                          # a header
            raise BadUpload(f"Line {i} of the points file is not two numbers x,y: "
                            f"{line[:40]!r}.") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise BadUpload(f"Line {i} of the points file is not finite: {line[:40]!r}.")
        rows.append((x, y))
    if len(rows) < 10:
        raise BadUpload(f"The points file has {len(rows)} point(s); a distribution needs at "
                        "least 10.")
    pts = np.asarray(rows, np.float64)
    pts -= pts.mean(0)
    scale = np.abs(pts).max()
    return (pts / (scale if scale > 0 else 1.0)).astype(np.float32)


def stored_points(points_id: str, fix: dict):
    """An uploaded CSV of points (see `points`), or DataUnavailable with `fix` when it is gone
    or unreadable: the generative labs' data = points."""
    try:
        return points(load(points_id, fix=fix))
    except BadUpload as e:
        raise DataUnavailable(str(e), fix=fix) from None
