"""Where jobs train: a warm worker process (the app) or a thread (the CLI, some tests).

Why a process: training on a thread of the Streamlit server shares one interpreter and its GIL
with every page rerun; measured on 2 cores, a watched run took 4-11x its headless time. A worker
is a fresh interpreter (`python -m playground.engine.worker`, the same as multiprocessing's
`spawn`, so CUDA is safe), started once and kept warm with torch and the labs imported. It runs
one job at a time with the one training loop and writes the run folder, as a thread did; a crash
or an out-of-memory kill takes down the worker, not the app, and frees its GPU memory.

The protocol is JSON lines: commands on the worker's stdin, events on a pipe of their own (so
whatever a library prints cannot corrupt them). Commands: run, cancel, stop, ask (a page's model
work, answered on a thread of its own beside the job: asks.py). Events: ready (with the device
the worker sees), progress, done (the loop's Result), answer (an ask's result or its error).
When the app dies, the worker's stdin closes: it marks its run interrupted and exits, as the
thread did with its process.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from playground.engine import asks, hosting, loop, procfs
from playground.i18n import N_

ROOT = Path(__file__).resolve().parents[2]
MODES = ("process", "thread")
READY_TIMEOUT_S = 120           # a cold disk and a CUDA build of torch
STOP_TIMEOUT_S = 5.0
MAX_IDLE_WORKERS = 1            # each holds torch (~0.5 GB): keep one warm, not one per device
RECYCLE_RSS_MB = 3000.0          # a worker past this after a job is replaced by a fresh one ...
HOSTED_RECYCLE_RSS_MB = 1000.0   # ... hosted: server (~1 GB with 8 visitors) + worker < 2 GB
_ask_ids = itertools.count(1)


def recycle_rss_mb() -> float:
    """PLAYGROUND_WORKER_MAX_RSS_MB, else the hosted or the local default."""
    raw = os.environ.get("PLAYGROUND_WORKER_MAX_RSS_MB")
    try:
        return float(raw)
    except (TypeError, ValueError):
        return HOSTED_RECYCLE_RSS_MB if hosting.caps().hosted else RECYCLE_RSS_MB


def mode() -> str:
    """PLAYGROUND_WORKER=process (default) | thread."""
    value = (os.environ.get("PLAYGROUND_WORKER") or "process").strip().lower()
    return value if value in MODES else "process"


def _env_for_job() -> dict:
    """The settings a job reads from the environment (data folder, caps, threads), as the app
    sees them when the job is submitted, not when the worker was started."""
    return {k: v for k, v in os.environ.items() if k.startswith("PLAYGROUND_")}


def _death(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = (" - usually the machine running out of memory: try a smaller batch or model"
                if -returncode == signal.SIGKILL else "")
        return f"was killed ({name}{hint})"
    return f"exited with code {returncode}"


def _failed(job, message: str) -> loop.Result:
    return loop.Result(job.run_id, job.lab_name, "failed", message)


# ---------------------------------------------------------------------------------------------
# In the app: executors

class ThreadExecutor:
    """A daemon thread per job, in this process: no start-up cost, nothing to isolate (the CLI
    has no page to compete with; tests that patch a lab in-process need it)."""

    def start(self, job, *, limits, store, on_done) -> None:
        def work():
            result = None
            try:
                from playground import registry

                result = loop.run(registry.get(job.lab_name), job.cfg, job.run_id, store,
                                  job.cancel, on_progress=job.snapshot.update, **limits)
            finally:
                on_done(job, result or _failed(job, "Training stopped unexpectedly."))

        threading.Thread(target=work, name=f"train-{job.run_id}", daemon=True).start()

    def cancel(self, job, interrupt: bool = False) -> None:
        job.cancel.set()

    def device_info(self, timeout: float = 0) -> dict | None:
        return None

    def ask(self, kind: str, args: dict, timeout: float = asks.TIMEOUT_S, sticky: str = ""):
        try:
            return asks.answer(kind, args)
        except Exception as e:  # noqa: BLE001 - as the worker process reports it
            return asks.raise_from(asks.error_event(e))

    def shutdown(self, timeout: float = STOP_TIMEOUT_S) -> None:
        pass


class Worker:
    """One worker process, seen from the app."""

    def __init__(self, executor: "ProcessExecutor"):
        self.executor = executor
        self.ready = threading.Event()
        self.info: dict = {}
        self.job = None
        self.on_done = None
        self.gone = False                   # the events pipe has closed: the process is over
        self._asks: dict[int, dict] = {}    # ask id -> {"done": Event, "event": its answer}
        self._job_lock = threading.Lock()
        self._write_lock = threading.Lock()
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if executor.threads:
            env.setdefault("PLAYGROUND_THREADS", str(executor.threads))
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "playground.engine.worker", str(write_fd)],
                cwd=ROOT, env=env, stdin=subprocess.PIPE, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        self._events = os.fdopen(read_fd, "rb")
        threading.Thread(target=self._read, name=f"worker-{self.proc.pid}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, **msg) -> bool:
        try:
            with self._write_lock:
                self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
                self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False                     # dead: _read sees the end and fails its job

    def run(self, job, limits, on_done) -> None:
        with self._job_lock:
            self.job, self.on_done = job, on_done
            gone = self.gone
        # A worker that dies from here on is seen by _read, which fails the job; one that was
        # already gone is failed here.
        sent = self.send(op="run", run_id=job.run_id, lab=job.lab_name, config=job.config,
                         root=str(job.store.root), limits=limits, env=_env_for_job())
        if gone or not sent:
            self._fail_current()

    def ask(self, kind: str, args: dict, timeout: float) -> object:
        """Send an ask and wait for its answer (asks.AskError when there is none)."""
        if not self.ready.wait(READY_TIMEOUT_S) or not self.alive():
            raise asks.AskError("The training process did not start: try again.")
        n, slot = next(_ask_ids), {"done": threading.Event()}
        with self._job_lock:
            gone = self.gone
            self._asks[n] = slot
        if gone or not self.send(op="ask", id=n, kind=kind, args=args, env=_env_for_job()):
            self._asks.pop(n, None)
            raise asks.WorkerGone("The training process has stopped: try again.")
        if not slot["done"].wait(timeout):
            self._asks.pop(n, None)
            raise asks.AskError(f"The training process did not answer within {timeout:.0f} s.")
        return asks.raise_from(slot["event"])

    def _read(self) -> None:
        for line in self._events:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            kind = ev.get("ev")
            if kind == "ready":
                self.info = ev
                self.ready.set()
            elif kind == "answer":
                slot = self._asks.pop(ev.get("id"), None)
                if slot is not None:
                    slot["event"] = ev
                    slot["done"].set()
            elif kind == "progress" and self.job is not None:
                self.job.snapshot.update(ev.get("status") or {})
            elif kind == "done" and self.job is not None:
                fields = {f.name for f in dataclasses.fields(loop.Result)}
                result = loop.Result(**{k: v for k, v in ev["result"].items() if k in fields})
                with self._job_lock:
                    job, on_done, self.job = self.job, self.on_done, None
                self.executor._released(self, ev.get("rss_mb"), broken=result.device_broken)
                on_done(job, result)
        # The events pipe closed: the worker is gone.
        self.proc.wait()
        self.ready.set()
        self.executor._gone(self)
        with self._job_lock:
            self.gone = True
            pending, self._asks = list(self._asks.values()), {}
        for slot in pending:
            slot["event"] = {"error": f"the training process {_death(self.proc.returncode)} "
                                      "while it answered", "error_type": "WorkerGone"}
            slot["done"].set()
        self._fail_current()

    def _fail_current(self) -> None:
        if self.proc.poll() is None:
            return                          # still alive: its events will end the job
        with self._job_lock:
            job, on_done, self.job = self.job, self.on_done, None
        if job is None:
            return
        message = (f"The training process {_death(self.proc.returncode)}. The metrics so far are "
                   "kept; press Train to start again.")
        try:
            job.store.set_status(job.run_id, status="failed", ended=time.time(), message=message)
        except Exception:  # noqa: BLE001 - a damaged folder must not stop the queue
            pass
        on_done(job, _failed(job, message))

    def stop(self) -> None:
        self.send(op="stop")

    def alive(self) -> bool:
        return self.proc.poll() is None


class ProcessExecutor:
    """Warm worker processes, one per running job; one spare is kept warm between jobs."""

    def __init__(self, threads: int | None = None, prewarm: bool = True):
        from playground.engine import device

        # NOTE: one core stays free for the server and (on a laptop giving a talk) the browser.
        # Measured on 2 cores with the page open in Chromium: two training threads made the
        # default CNN run 6-10x slower than headless (a descheduled OpenMP thread stalls every
        # parallel region), one thread 1.2-1.4x.
        self.threads = threads or device.ui_threads()
        self._lock = threading.Lock()
        self._idle: list[Worker] = []
        self._busy: dict[str, Worker] = {}
        self._sticky: dict[str, Worker] = {}    # sticky key -> its worker, oldest first
        self._closed = False
        if prewarm:
            self._idle.append(Worker(self))

    def start(self, job, *, limits, store, on_done) -> None:
        with self._lock:
            self._closed = False
            worker = self._idle.pop() if self._idle else None
            if worker is None or not worker.alive():
                worker = Worker(self)
            self._busy[job.run_id] = worker
        if not worker.ready.is_set():
            store.set_status(job.run_id, message=N_("Starting a training process..."))
        worker.run(job, limits, on_done)

    def _released(self, worker: Worker, rss_mb, broken: bool = False) -> None:
        # A CUDA worker maps CUDA's libraries (GBs of RSS that no job grew): its limit counts
        # from where it stood after warm-up. A sticky CUDA error leaves it unusable.
        base = (worker.info.get("rss_mb") or 0.0) if worker.info.get("cuda") else 0.0
        with self._lock:
            self._busy = {k: w for k, w in self._busy.items() if w is not worker}
            keep = (not self._closed and len(self._idle) < MAX_IDLE_WORKERS and not broken
                    and not (rss_mb and rss_mb > recycle_rss_mb() + base))
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.stop()

    def _gone(self, worker: Worker) -> None:
        with self._lock:
            self._busy = {k: w for k, w in self._busy.items() if w is not worker}
            if worker in self._idle:
                self._idle.remove(worker)

    def cancel(self, job, interrupt: bool = False) -> None:
        job.cancel.set()
        worker = self._busy.get(job.run_id)
        if worker is not None:
            worker.send(op="cancel", run_id=job.run_id, interrupt=interrupt)

    def device_info(self, timeout: float = READY_TIMEOUT_S) -> dict | None:
        """What the worker sees: {"cuda": bool, "mps": bool, "describe": str, "pid", ...}."""
        with self._lock:
            workers = self._idle + list(self._busy.values())
            if not workers:
                workers = [Worker(self)]
                self._idle.extend(workers)
        workers[0].ready.wait(timeout)
        return workers[0].info or None          # {} until ready; a dead one reports nothing

    def ask(self, kind: str, args: dict, timeout: float = asks.TIMEOUT_S, sticky: str = ""):
        """An ask to a warm worker: the idle one, else the one training (the ask runs beside
        its job), else a new one. Asks with the same `sticky` key go to the same worker while
        it lives (a slow-motion session is kept in the process that picked it up)."""
        try:
            return self._pick(sticky).ask(kind, args, timeout)
        except asks.WorkerGone:         # it died before it answered (killed while idle): once more
            return self._pick(sticky).ask(kind, args, timeout)

    def _pick(self, sticky: str) -> Worker:
        with self._lock:
            workers = [w for w in self._idle + list(self._busy.values())
                       if w.alive() and not w.gone]
            if not workers:
                workers = [Worker(self)]
                self._idle.extend(workers)
            worker = self._sticky.get(sticky) if sticky else None
            if worker is None or worker not in workers:
                worker = workers[0]
            if sticky:
                self._sticky.pop(sticky, None)
                self._sticky[sticky] = worker
                while len(self._sticky) > 4 * asks.MAX_SESSIONS:
                    self._sticky.pop(next(iter(self._sticky)))
        return worker

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._idle + list(self._busy.values()) if w.alive()]

    def shutdown(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every worker: a running job is told to stop first (the manager has marked it);
        a worker that does not exit in time is killed."""
        with self._lock:
            self._closed = True
            workers = self._idle + list(self._busy.values())
            self._idle = []
        for w in workers:
            if w.job is None and not w.ready.is_set():
                w.proc.kill()           # a spare still importing torch reads "stop" only after
            else:
                w.stop()
        deadline = time.monotonic() + timeout
        for w in workers:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(5)
            if w.proc.stdin and not w.proc.stdin.closed:
                try:
                    w.proc.stdin.close()
                except OSError:
                    pass


def make_executor(kind: str | None = None):
    kind = kind or mode()
    return ThreadExecutor() if kind == "thread" else ProcessExecutor()


# ---------------------------------------------------------------------------------------------
# In the worker process

class _Child:
    def __init__(self, events_fd: int):
        self.out = os.fdopen(events_fd, "wb")
        self.lock = threading.Lock()
        self.jobs: list[dict] = []
        self.wake = threading.Condition()
        self.current: dict | None = None
        self.stopping = False
        self.asks: list[dict] = []
        self.asked = threading.Condition()

    def emit(self, **ev) -> None:
        data = json.dumps(ev, default=_plain).encode() + b"\n"
        with self.lock:
            try:
                self.out.write(data)
                self.out.flush()
            except (BrokenPipeError, OSError):
                pass

    def commands(self) -> None:
        """Reads stdin until the app closes it; runs on a thread beside the training."""
        for line in sys.stdin.buffer:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            op = msg.get("op")
            if op == "run":
                msg["cancel"] = threading.Event()
                msg["interrupt"] = False
                with self.wake:
                    self.jobs.append(msg)
                    self.wake.notify()
            elif op == "cancel":
                job = self.current
                if job is not None and job["run_id"] == msg.get("run_id"):
                    job["interrupt"] = bool(msg.get("interrupt"))
                    job["cancel"].set()
            elif op == "ask":
                with self.asked:
                    self.asks.append(msg)
                    self.asked.notify()
            elif op == "stop":
                self._stop(interrupt=True)
                return
        self._orphaned()

    def _stop(self, interrupt: bool) -> None:
        with self.wake:
            self.stopping = True
            job = self.current
            if job is not None:
                job["interrupt"] = interrupt
                job["cancel"].set()
            self.wake.notify()

    def _orphaned(self) -> None:
        """The app is gone (killed): leave the run as a dead process would, marked, and go."""
        job = self.current
        if job is not None:
            from playground.engine.jobs import INTERRUPTED
            from playground.engine.runs import RunStore

            try:
                RunStore(job["root"]).set_status(job["run_id"], status="interrupted",
                                                 ended=time.time(), message=INTERRUPTED)
            except Exception:  # noqa: BLE001
                pass
        os._exit(0)

    def answers(self) -> None:
        """Asks, one at a time, on their own thread: a page's look needs no wait for a job."""
        while True:
            with self.asked:
                while not self.asks:
                    self.asked.wait()
                msg = self.asks.pop(0)
            try:
                result = asks.answer(msg.get("kind"), msg.get("args") or {}, msg.get("env"))
                self.emit(ev="answer", id=msg.get("id"), result=result)
            except Exception as e:  # noqa: BLE001 - every failure is the page's message
                self.emit(ev="answer", id=msg.get("id"), **asks.error_event(e))

    def serve(self) -> None:
        threading.Thread(target=self.commands, name="commands", daemon=True).start()
        threading.Thread(target=self.answers, name="answers", daemon=True).start()
        while True:
            with self.wake:
                while not self.jobs and not self.stopping:
                    self.wake.wait()
                if self.stopping:
                    return
                self.current = self.jobs.pop(0)
            try:
                self.emit(ev="done", result=dataclasses.asdict(self._run(self.current)),
                          rss_mb=_rss_mb())
            finally:
                self.current = None

    def _run(self, job: dict) -> loop.Result:
        from playground import registry
        from playground.engine.jobs import INTERRUPTED
        from playground.engine.runs import RunStore

        for k, v in (job.get("env") or {}).items():
            os.environ[k] = v
        store = RunStore(job["root"])
        store.set_status(job["run_id"], worker=os.getpid())
        lab = registry.get(job["lab"])
        cfg, errors = registry.parse_config(lab, job["config"], budget=False)
        if errors:
            message = "These settings cannot be trained: " + "; ".join(errors)
            store.set_status(job["run_id"], status="failed", ended=time.time(), message=message)
            return loop.Result(job["run_id"], job["lab"], "failed", message)
        result = loop.run(lab, cfg, job["run_id"], store, job["cancel"],
                          on_progress=lambda st: self.emit(ev="progress", run_id=job["run_id"],
                                                           status=_progress(st)),
                          **(job.get("limits") or {}))
        if job["interrupt"] and result.status == "cancelled":
            result.status, result.message = "interrupted", INTERRUPTED
            store.set_status(job["run_id"], status="interrupted", message=INTERRUPTED)
        _free_device_memory()
        return result


def _plain(obj):
    """What JSON cannot hold as it is: numpy's numbers and arrays as Python's, the rest as text."""
    tolist = getattr(obj, "tolist", None)
    return tolist() if callable(tolist) else str(obj)


def _progress(status: dict) -> dict:
    keys = ("status", "step", "total_steps", "progress", "eta_s", "samples_per_s", "message")
    return {k: status[k] for k in keys if k in status}


def _free_device_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _rss_mb() -> float | None:
    return procfs.rss_mb(os.getpid())


def warm_up() -> dict:
    """Pay the one-off costs (torch, scikit-learn, the labs, the first kernels) before the first
    Train, so that a run's first curve point comes as fast as the next ones."""
    import torch
    from sklearn import datasets  # noqa: F401

    from playground import registry
    from playground.engine import device as devices

    from playground.labs._common import OPTIMIZERS
    from playground.labs._shared import make_optimizer

    devices.configure_torch()
    for name in registry.LABS:
        registry.get(name).build            # the face and its torch part
    w = torch.ones(4, 4, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.ones(8, 4) @ w, torch.zeros(8, dtype=torch.long)).backward()
    for name in OPTIMIZERS:         # the first optimizer imports torch._dynamo: ~2 s here
        make_optimizer(name, [w], 1e-3).step()
    if torch.cuda.is_available():   # the CUDA context and cuBLAS, before the first run's clock
        x = torch.ones(64, 64, device="cuda", requires_grad=True)
        (x @ x).sum().backward()
        torch.cuda.synchronize()
    return {"pid": os.getpid(), "cuda": torch.cuda.is_available(), "mps": devices._mps_ok(torch),
            "describe": devices.describe(), "threads": torch.get_num_threads(), "rss_mb": _rss_mb()}


def main(argv: list[str]) -> None:
    # Ctrl-C in the app's terminal reaches the whole process group: the app stops the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = _Child(int(argv[0]))
    child.emit(ev="ready", **warm_up())
    child.serve()
    # every event is flushed and every run's files written: skip tearing torch down (~1 s)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
