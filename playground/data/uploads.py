"""A visitor's own text to train on, kept under its fingerprint.

The page checks an upload (size, UTF-8, not binary, long enough, not too many distinct
characters) and writes it once to $PLAYGROUND_HOME/uploads/<id>.txt, where `id` is the first 16
hex digits of its SHA-256: the training process, which is not the page's, reads it from there; the
same file uploaded twice is stored once; a run's config holds only the id. A run whose text is
gone (another server, a cleaned folder) fails with a message that says to upload it again.

Who uploaded what: an empty marker owners/<id>.<owner> per visitor and file (its time is their
last upload of it), so concurrent saves never rewrite a shared index. Under hosting's upload caps
(per visitor: files, overall: MB) a new upload first makes room by deleting files no run
references (their oldest first, and overall the heaviest uploader's first), else it is refused;
`prune` deletes unreferenced files past a grace period (the form holds an id before any run does).
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import threading
import time
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


GRACE_S = 3600                    # an unreferenced upload is kept this long (a form may hold it)
PRUNE_EVERY_S = 60                # how often a save in a capped server looks for expired files
_BLOCK = 4096                     # a file costs whole disk blocks: else 100 MB = 2.5M tiny files
_OWNER = re.compile(r"[0-9a-f]{1,64}")
_REF = re.compile(rb'"([0-9a-f]{16})"')    # an upload id as a JSON string value
_lock = threading.Lock()          # one server process saves; the worker and the CLI only read
_pruned_at = 0.0


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
    points x,y (checked as such), "labelled": text,label rows, "table": columns of numbers under
    a header (data.table), "txt": prose for a model to learn from."""
    if len(raw) > max_bytes:
        raise BadUpload(f"The file is {len(raw) / 2**20:.1f} MB; at most "
                        f"{max_bytes / 2**20:.0f} MB are accepted.")
    if not raw.strip():
        raise BadUpload("The file is empty: upload a .csv file of x,y points, one per line."
                        if kind == "csv" else
                        "The file is empty: upload a .csv file of text,label rows."
                        if kind == "labelled" else
                        "The file is empty: upload a .csv file with a header line and rows of "
                        "numbers." if kind == "table" else
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
    if kind == "labelled":
        labelled(text)
        return text
    if kind == "table":
        table(text)
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


def save(raw: bytes, max_bytes: int = MAX_BYTES, kind: str = "txt",
         owner: str | None = None) -> tuple[str, dict]:
    """Check and store an upload; returns (id, {"chars", "distinct"}). Written atomically, once,
    recorded as `owner`'s (the visitor's owner id) and held to hosting's upload caps."""
    from playground.engine import hosting

    text = decode(raw, max_bytes, kind)
    data = text.encode("utf-8")
    text_id = hashlib.sha256(data).hexdigest()[:16]
    target = path(text_id)
    caps = hosting.caps()
    capped = bool(caps.uploads_per_visitor or caps.uploads_mb)
    try:
        if capped and time.time() - _pruned_at > PRUNE_EVERY_S:
            with contextlib.suppress(OSError):
                prune()
        with _lock:
            target.parent.mkdir(parents=True, exist_ok=True)
            if capped:
                _make_room(text_id, len(data), owner, caps)
            if target.exists():
                os.utime(target)              # a re-upload starts its grace period again
            else:
                from playground.engine.runs import atomic_write

                atomic_write(target, data)    # a unique temp name, removed on failure
            if owner:
                marker = _owners() / f"{text_id}.{_owner_key(owner)}"
                marker.parent.mkdir(exist_ok=True)
                marker.touch()
    except OSError as e:
        reason = os.strerror(e.errno).lower() if e.errno else type(e).__name__
        raise BadUpload(f"The server could not store your file ({reason}): try again later, "
                        "or train on the built-in data.") from None
    if kind == "csv":
        return text_id, {"points": len(points(text))}
    if kind == "labelled":
        texts, labels = labelled(text)
        return text_id, {"rows": len(texts), "labels": len(set(labels))}
    if kind == "table":
        found = table(text)
        return text_id, {"rows": len(found.values), "columns": len(found.columns)}
    return text_id, {"chars": len(text), "distinct": len(set(text))}


# ---- quotas and clean-up ---------------------------------------------------------------------

def _owners() -> Path:
    return folder() / "owners"


def _owner_key(owner: str) -> str:
    """A file-name-safe form of an owner id (hosting's are hex digests already)."""
    return owner if _OWNER.fullmatch(owner) else hashlib.sha256(owner.encode()).hexdigest()[:32]


def _cost(size: int) -> int:
    return max(1, -(-size // _BLOCK)) * _BLOCK


def _inventory() -> tuple[dict[str, tuple[int, float]], dict[str, dict[str, float]]]:
    """({id: (bytes on disk, time of the last upload)}, {id: {owner: time of their upload}})."""
    files, owners = {}, {}
    with contextlib.suppress(FileNotFoundError):
        for p in folder().glob("*.txt"):
            with contextlib.suppress(FileNotFoundError):
                if ID.fullmatch(p.stem):
                    st = p.stat()
                    files[p.stem] = (_cost(st.st_size), st.st_mtime)
    with contextlib.suppress(FileNotFoundError):
        for p in _owners().iterdir():
            text_id, _, who = p.name.partition(".")
            with contextlib.suppress(FileNotFoundError):
                if ID.fullmatch(text_id) and who:
                    owners.setdefault(text_id, {})[who] = p.stat().st_mtime
    return files, owners


def referenced() -> set[str]:
    """Ids of uploads that some run, sweep or recorded demo names (any JSON string equal to an
    id): never deleted. A raw scan, so a damaged config.json still protects its upload."""
    from playground import sweeps
    from playground.demos import ROOT as DEMOS
    from playground.engine.runs import RUN_ID, home

    found = set()
    files = [p / "config.json" for p in _listdir(home() / "runs") if RUN_ID.fullmatch(p.name)]
    files += list(sweeps.home().glob("*.json")) + list(DEMOS.glob("*/*/demo.json"))
    for p in files:
        with contextlib.suppress(OSError):
            found.update(m.decode() for m in _REF.findall(p.read_bytes()))
    return found


def _listdir(d: Path) -> list[Path]:
    try:
        return list(d.iterdir())
    except FileNotFoundError:
        return []


def _unmark(text_id: str, owners: dict[str, dict[str, float]], who: str | None = None) -> None:
    """Drop `who`'s marker of a file (everyone's when None)."""
    for w in [who] if who else list(owners.get(text_id, {})):
        (_owners() / f"{text_id}.{w}").unlink(missing_ok=True)
        owners.get(text_id, {}).pop(w, None)
    if not owners.get(text_id):
        owners.pop(text_id, None)


def _delete(text_id: str, owners: dict[str, dict[str, float]]) -> None:
    path(text_id).unlink(missing_ok=True)
    _unmark(text_id, owners)


def _make_room(text_id: str, size: int, owner: str | None, caps) -> None:
    """Delete unreferenced uploads until this one fits the caps, or BadUpload."""
    files, owners = _inventory()
    refs: set[str] | None = None
    cap = caps.uploads_per_visitor
    if owner and cap:
        me = _owner_key(owner)
        mine = sorted((owners[i][me], i) for i in files
                      if me in owners.get(i, {}) and i != text_id)       # oldest first
        count = len(mine)
        if count >= cap:
            refs = referenced()
            for _, i in mine:
                if count < cap:
                    break
                if i in refs:
                    continue
                _unmark(i, owners, me)
                if i not in owners:                 # nobody else uploaded it: the file goes
                    _delete(i, owners)
                    del files[i]
                count -= 1
            if count >= cap:
                raise BadUpload(f"This server keeps at most {cap} of your uploaded files, and "
                                "each of yours is still used by a run: delete runs trained on "
                                "them (Runs page), or use a file you uploaded before.")
    cap_bytes = (caps.uploads_mb or 0) * 2**20
    need = 0 if text_id in files else _cost(size)
    total = sum(c for c, _ in files.values())
    if not cap_bytes or total + need <= cap_bytes:
        return
    refs = referenced() if refs is None else refs
    spare: dict[str, list[tuple[float, str]]] = {}     # uploader -> their deletable files
    weight: dict[str, int] = {}                        # uploader -> bytes of those
    for i, (cost, mtime) in files.items():
        if i not in refs and i != text_id:
            for who in owners.get(i) or [""]:          # "" = uploaded by no one we know
                spare.setdefault(who, []).append((mtime, i))
                weight[who] = weight.get(who, 0) + cost
    for queue in spare.values():
        queue.sort(reverse=True)                       # oldest last: pop() takes it
    while total + need > cap_bytes and weight:
        heaviest = max(weight, key=weight.__getitem__)
        _, i = spare[heaviest].pop()
        if i in files:                                 # not gone with another uploader's turn
            for who in owners.get(i) or [""]:
                weight[who] -= files[i][0]
            _delete(i, owners)
            total -= files.pop(i)[0]
        if not spare[heaviest]:
            del spare[heaviest], weight[heaviest]
    if total + need > cap_bytes:
        raise BadUpload(f"This server keeps at most {caps.uploads_mb:,} MB of uploaded files, "
                        "and those it holds are still used by runs: try again later, or train "
                        "on the built-in data.")


def prune(grace_s: float = GRACE_S) -> list[str]:
    """Delete uploads that no run references and nobody uploaded in the last `grace_s` seconds,
    owner markers of files that are gone, and temp files a crashed process left; the ids
    deleted. Saves call it in a capped server; a job manager may call it too."""
    global _pruned_at
    _pruned_at = now = time.time()
    with _lock:
        files, owners = _inventory()
        old = [i for i, (_, mtime) in files.items() if now - mtime > grace_s]
        gone = sorted(set(old) - referenced()) if old else []
        for i in gone:
            _delete(i, owners)
        for i in set(owners) - set(files):      # markers only: the file may be newer than the list
            _unmark(i, owners)
        for p in _listdir(folder()):
            with contextlib.suppress(OSError):
                if p.name.startswith(".") and now - p.stat().st_mtime > grace_s:
                    p.unlink()
    return gone


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


def labelled(text: str):
    """(texts, labels) of a CSV of text,label rows (data.sentiment.labelled); BadUpload says
    which row is wrong."""
    from playground.data.sentiment import labelled as rows

    try:
        return rows(text)
    except ValueError as e:
        raise BadUpload(str(e)) from None


def table(text: str):
    """The data.table.Table of a CSV of numbers under a header; BadUpload says which line is
    wrong."""
    from playground.data.table import BadTable, parse

    try:
        return parse(text)
    except BadTable as e:
        raise BadUpload(str(e)) from None


def stored_points(points_id: str, fix: dict):
    """An uploaded CSV of points (see `points`), or DataUnavailable with `fix` when it is gone
    or unreadable: the generative labs' data = points."""
    try:
        return points(load(points_id, fix=fix))
    except BadUpload as e:
        raise DataUnavailable(str(e), fix=fix) from None
