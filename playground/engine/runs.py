"""The run store: one folder per run under $PLAYGROUND_HOME/runs, the source of truth for the UI.

    runs/<id>/config.json     lab, config, created, owner; changes made while it trained
    runs/<id>/status.json     status, progress, message (replaced atomically a few times a second)
    runs/<id>/metrics.jsonl   one JSON record per line, appended and flushed
    runs/<id>/artifacts/latest.json   the newest artefacts (replaced atomically)
    runs/<id>/model.pt        the final state_dict (a stopped run's too)
    runs/<id>/optim.pt        its optimizers' state, for labs that step on from a run (STEPS)
    runs/<id>/cancel          present when someone asked the run to stop
    runs/<id>/control.jsonl   asks to a training run, one per line: settings changed
                              ({"set": {...}}), {"pause": true|false}, {"step": 1}

A refresh, a second tab, a restarted server or a reloaded module all read the same files.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from playground.i18n import N_

ACTIVE = ("queued", "running")
TERMINAL = ("completed", "cancelled", "diverged", "failed", "interrupted")
RUN_ID = re.compile(r"^\d{8}-\d{6}-[a-z0-9_]{1,32}-[0-9a-f]{6}$")


class NoSuchRun(LookupError):
    pass


class DamagedRun(NoSuchRun):
    """The folder exists but a file in it cannot be read (a crash mid-write, a hand edit)."""


def home() -> Path:
    return Path(os.environ.get("PLAYGROUND_HOME") or Path.home() / ".neural_playground")


def _clean(obj):
    """JSON cannot hold NaN/inf; a non-finite metric is stored as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunInfo:
    run_id: str
    lab: str
    config: dict
    status: dict
    created: float
    damaged: str = ""          # why the folder could not be read, when it could not
    owner: str | None = None   # hosted mode: the owner id of the visitor who started it
    # settings changed while it trained: [{"step": updates done before, field: new value}]
    changes: list = field(default_factory=list)


def _parse_lines(raw: bytes) -> list[dict]:
    text = raw.decode("utf-8", errors="replace")     # damaged bytes spoil one line only
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


@dataclass
class Tail:
    """What a page shows of one run, read incrementally: metrics.jsonl from the last offset
    (complete lines only), artefacts only when latest.json changed. `version` and
    `artifacts_version` change exactly when new data arrived, so anything derived from them
    (series, figures) can be cached against them. Shared by every page watching the run."""
    folder: Path
    offset: int = 0
    records: list = field(default_factory=list)
    latest: dict = field(default_factory=dict)       # newest value of every metric
    version: int = 0
    art: dict = field(default_factory=dict)
    art_stamp: tuple = ()
    artifacts_version: int = 0
    derived: dict = field(default_factory=dict)      # caches keyed by what they derive from
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> list[dict]:
        with self.lock:
            path = self.folder / "metrics.jsonl"
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                return self.records
            if size < self.offset:                  # replaced (not appended): start over
                self.offset, self.records, self.latest = 0, [], {}
                self.version += 1
            if size == self.offset:
                return self.records
            with open(path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(size - self.offset)
            end = chunk.rfind(b"\n")
            if end < 0:
                return self.records                 # a line still being written
            new = _parse_lines(chunk[:end + 1])
            self.offset += end + 1
            if new:
                self.records = self.records + new   # a new list: earlier readers keep theirs
                for r in new:
                    self.latest.update({k: v for k, v in r.items() if isinstance(v, (int, float))})
                self.version += 1
            return self.records

    def artifacts(self) -> dict:
        with self.lock:
            path = self.folder / "artifacts" / "latest.json"
            try:
                st = path.stat()
            except FileNotFoundError:
                return self.art
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp != self.art_stamp:
                try:
                    art = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                    art = {}
                self.art = art if isinstance(art, dict) else {}
                self.art_stamp = stamp
                self.artifacts_version += 1
            return self.art

    def cached(self, key, make):
        """make() once per key (which should include the version it derives from)."""
        with self.lock:
            if key in self.derived:
                return self.derived[key]
        value = make()
        with self.lock:
            if len(self.derived) > 64:
                self.derived.clear()
            self.derived[key] = value
        return value


class RunStore:
    TAILS = 64                  # runs whose tails are kept (the pages being watched)

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else home() / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._tails: OrderedDict[str, Tail] = OrderedDict()
        self._tails_lock = threading.Lock()
        # Statuses that could not be written (a full disk): this process still tells the truth
        # about them, and a run whose end was not saved can be deleted, freeing its space.
        self._unsaved: dict[str, dict] = {}

    def tail(self, run_id: str) -> Tail:
        """The incremental reader of one run (kept for the most recently watched runs)."""
        folder = self.path(run_id)
        with self._tails_lock:
            t = self._tails.get(run_id)
            if t is None:
                t = self._tails[run_id] = Tail(folder)
                while len(self._tails) > self.TAILS:
                    self._tails.popitem(last=False)
            self._tails.move_to_end(run_id)
            return t

    # -- ids and paths ------------------------------------------------------------------------
    def new_id(self, lab: str) -> str:
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{lab}-{secrets.token_hex(3)}"

    def path(self, run_id) -> Path:
        """The folder of a run. The id is checked against a strict pattern first, so ids from
        URLs and users can never name anything outside the runs folder."""
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            raise NoSuchRun(f"no such run: {str(run_id)[:80]!r} is not a run id")
        return self.root / run_id

    def exists(self, run_id) -> bool:
        try:
            return (self.path(run_id) / "config.json").is_file()
        except NoSuchRun:
            return False

    # -- writing ------------------------------------------------------------------------------
    def create(self, lab: str, config: dict, owner: str | None = None,
               schedule: list | None = None, **status) -> str:
        """A new run's folder; `schedule`: changes its loop makes at given steps (a replay)."""
        run_id = self.new_id(lab)
        d = self.path(run_id)
        (d / "artifacts").mkdir(parents=True)
        now = time.time()
        record = {"run_id": run_id, "lab": lab, "config": config, "created": now}
        if owner:
            record["owner"] = owner
        if schedule:
            record["schedule"] = schedule
        atomic_write(d / "config.json", json.dumps(record, indent=1).encode())
        self.set_status(run_id, status="queued", created=now, pid=os.getpid(), **status)
        return run_id

    def set_status(self, run_id: str, **fields) -> dict:
        """Merge `fields` into the run's status. An OSError (no space left) is raised, and the
        status is still what this process reports for the run from then on."""
        d = self.path(run_id)
        current = dict(self._unsaved.get(run_id) or self._read_json(d / "status.json", default={}))
        current.update(fields)
        current["updated"] = time.time()
        try:
            atomic_write(d / "status.json", json.dumps(_clean(current)).encode())
        except OSError:
            self._unsaved[run_id] = current
            raise
        self._unsaved.pop(run_id, None)
        return current

    def append_metrics(self, run_id: str, records: list[dict]) -> None:
        if not records:
            return
        lines = "".join(json.dumps(_clean(r)) + "\n" for r in records)
        with open(self.path(run_id) / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()

    def write_artifacts(self, run_id: str, artifacts: dict) -> None:
        text = json.dumps(artifacts)
        if "NaN" in text or "Infinity" in text:      # rare: only then walk the whole tree
            text = json.dumps(_clean(artifacts))
        atomic_write(self.path(run_id) / "artifacts" / "latest.json", text.encode())

    def save_model(self, run_id: str, state_dict) -> None:
        import io

        import torch

        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
        atomic_write(self.path(run_id) / "model.pt", buf.getvalue())

    def save_optimizers(self, run_id: str, states: dict) -> None:
        """{name: optimizer.state_dict()}, so that a step taken later continues the run's own
        Adam rather than a fresh one (whose first steps jump by the whole learning rate)."""
        import io

        import torch

        def cpu(x):
            if isinstance(x, torch.Tensor):
                return x.detach().cpu()
            if isinstance(x, dict):
                return {k: cpu(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return type(x)(cpu(v) for v in x)
            return x

        buf = io.BytesIO()
        torch.save(cpu(states), buf)
        atomic_write(self.path(run_id) / "optim.pt", buf.getvalue())

    def optimizers(self, run_id: str) -> dict:
        """What save_optimizers kept ({} when nothing was), read with weights_only=True."""
        import torch

        p = self.path(run_id) / "optim.pt"
        return torch.load(p, map_location="cpu", weights_only=True) if p.is_file() else {}

    def request_cancel(self, run_id: str) -> None:
        (self.path(run_id) / "cancel").touch()

    def cancel_requested(self, run_id: str) -> bool:
        return (self.path(run_id) / "cancel").exists()

    def request_control(self, run_id: str, **ask) -> None:
        """Ask a training run, in whatever process trains it, to change settings ({"set":
        {...}}), pause or resume ({"pause": bool}) or take one step while paused ({"step": 1}).
        Appended whole in one write: a reader never sees half a line."""
        line = (json.dumps(_clean({**ask, "at": time.time()})) + "\n").encode()
        fd = os.open(self.path(run_id) / "control.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                     0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def controls(self, run_id: str, offset: int = 0) -> tuple[list[dict], int]:
        """The asks after byte `offset` (complete lines only) and the offset after them. A stat
        when nothing is new: cheap enough for every flush of the training loop."""
        path = self.path(run_id) / "control.jsonl"
        try:
            if path.stat().st_size <= offset:
                return [], offset
            with open(path, "rb") as f:
                f.seek(offset)
                raw = f.read()
        except FileNotFoundError:
            return [], offset
        end = raw.rfind(b"\n") + 1
        return _parse_lines(raw[:end]), offset + end

    def record_change(self, run_id: str, change: dict) -> list[dict]:
        """Keep a change made while the run trained in its config.json (the schedule an export
        replays); returns the whole schedule so far."""
        d = self.path(run_id)
        record = self._read_json(d / "config.json")
        record["changes"] = [*(record.get("changes") or []), _clean(change)]
        atomic_write(d / "config.json", json.dumps(record, indent=1).encode())
        return record["changes"]

    def delete(self, run_id: str) -> None:
        """Remove a run's folder for good. A queued or running run is refused: its worker would
        keep writing into a folder that no longer exists."""
        d = self.path(run_id)
        if not d.is_dir():
            raise NoSuchRun(f"no such run: {run_id}")
        try:
            state = self.status(run_id).get("status")
        except (NoSuchRun, AttributeError):
            state = None            # no readable status: a damaged folder, nothing trains in it
        if state in ACTIVE:
            raise ValueError(f"Run {run_id} is {state}: stop it first, then delete it.")
        # Renamed out of the id pattern first, so list() never meets a half-removed folder
        # (a config.json whose status.json is already gone).
        with self._tails_lock:
            self._tails.pop(run_id, None)
        trash = self.root / f".deleting-{run_id}-{secrets.token_hex(3)}"
        os.replace(d, trash)
        self._unsaved.pop(run_id, None)
        shutil.rmtree(trash)

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    def _read_json(path: Path, default=None):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if default is not None:
                return default
            raise

    def config(self, run_id: str) -> dict:
        try:
            cfg = self._read_json(self.path(run_id) / "config.json")
        except FileNotFoundError:
            raise NoSuchRun(f"no such run: {run_id}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DamagedRun(f"run {run_id} is damaged: its config.json cannot be read") from None
        if not isinstance(cfg, dict):
            raise DamagedRun(f"run {run_id} is damaged: its config.json is not an object")
        return cfg

    def status(self, run_id: str) -> dict:
        d = self.path(run_id)
        if run_id in self._unsaved:
            return dict(self._unsaved[run_id])
        try:
            return self._read_json(d / "status.json")
        except FileNotFoundError:
            raise NoSuchRun(f"no such run: {run_id}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"status": "damaged", "message": N_("This run's status.json cannot be read.")}

    def metrics(self, run_id: str) -> list[dict]:
        """All records; a torn last line (a crash mid-write) is skipped, not fatal."""
        try:
            raw = (self.path(run_id) / "metrics.jsonl").read_bytes()
        except FileNotFoundError:
            return []
        return _parse_lines(raw)

    def metrics_csv(self, run_id: str) -> str:
        """Every metric record as CSV: step, epoch, time, then the other keys sorted; a record
        without a key leaves its cell empty (evaluations and training steps log different keys)."""
        if not self.path(run_id).is_dir():
            raise NoSuchRun(f"no such run: {run_id}")
        records = self.metrics(run_id)
        first = ["step", "epoch", "time"]
        others = sorted({k for r in records for k in r} - set(first))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=first + others, restval="", lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: "" if v is None else v for k, v in r.items()})
        return out.getvalue()

    def artifacts(self, run_id: str) -> dict:
        try:
            art = self._read_json(self.path(run_id) / "artifacts" / "latest.json")
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return art if isinstance(art, dict) else {}

    def owner(self, run_id: str) -> str | None:
        owner = self.config(run_id).get("owner")
        return owner if isinstance(owner, str) and owner else None

    def model_path(self, run_id: str) -> Path | None:
        p = self.path(run_id) / "model.pt"
        return p if p.is_file() else None

    def info(self, run_id: str) -> RunInfo:
        try:
            cfg = self.config(run_id)
            try:
                status = self.status(run_id)
            except NoSuchRun:
                # create() writes config.json, then status.json: a crash between the two
                raise DamagedRun(f"run {run_id} is damaged: its status.json is missing") from None
            if not isinstance(status, dict):
                raise DamagedRun("status.json is not an object")
            owner = cfg.get("owner")
            changes = [c for c in cfg.get("changes") or [] if isinstance(c, dict)]
            return RunInfo(run_id, str(cfg.get("lab", "?")), dict(cfg.get("config") or {}), status,
                           float(cfg.get("created") or 0.0),
                           damaged=status.get("message", "") if status.get("status") == "damaged"
                           else "", owner=owner if isinstance(owner, str) and owner else None,
                           changes=changes)
        except (DamagedRun, AttributeError, TypeError, ValueError) as e:
            return RunInfo(run_id, "?", {}, {"status": "damaged"}, 0.0,
                           damaged=str(e) if isinstance(e, DamagedRun)
                           else f"unreadable run folder ({type(e).__name__})")

    def list(self, lab: str | None = None, limit: int | None = None,
             where=None) -> list[RunInfo]:
        """Newest first, those `where(info)` accepts (all by default). A damaged folder is listed
        as damaged; the others still load."""
        ids = sorted((p.name for p in self.root.iterdir() if RUN_ID.fullmatch(p.name)),
                     reverse=True)
        out = []
        for run_id in ids:
            if not (self.root / run_id / "config.json").exists():
                continue
            info = self.info(run_id)
            if (lab is None or info.lab == lab) and (where is None or where(info)):
                out.append(info)
                if limit and len(out) >= limit:
                    break
        return out

    def recover(self) -> list[str]:
        """Runs left queued/running by a process that no longer exists become `interrupted`."""
        fixed = []
        for info in self.list():
            st = info.status
            if st.get("status") in ACTIVE and not _pid_alive(st.get("pid")):
                self.set_status(info.run_id, status="interrupted", ended=time.time(),
                                message=N_("The server stopped while this run was {status}; its "
                                           "metrics so far are kept. Press Train to start again."
                                           ).format(status=st.get("status")))
                fixed.append(info.run_id)
        return fixed
