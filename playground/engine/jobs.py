"""The process-wide job manager: validates, queues and runs trainings in the background.

A bounded pool: by default one running job per device, the rest queued in order. Jobs run in a
warm worker process (see worker.py; a thread for the CLI) behind a small executor interface, so
the page that watches a run never competes with it for one interpreter. Everything a job does is
written to the run store, which is what the UI reads; the in-memory snapshot is only a fast path.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field

from playground import registry
from playground.engine import device as devices
from playground.engine import hosting, loop
from playground.engine import worker as workers
from playground.engine.runs import RunStore
from playground.i18n import N_


MAX_PLAN = 8            # runs one comparison may make
FAIR_WINDOW_S = 600     # hosted: how far back a network's started runs count against its turn
KEEP_DONE = 256         # ended jobs kept in memory (wait(), snapshot()); the store keeps all
CHECK_TIMEOUT_S = 120   # a run's check waits this long for a worker (a cold one imports torch)
MAX_REMEMBERED_ASKS = 64

INTERRUPTED = N_("The server stopped while this run was training; its metrics so far are kept. "
                 "Press Train to start again.")


def _step_of(change: dict) -> int:
    step = change.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) else -1


class InvalidConfig(ValueError):
    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


class SubmitError(RuntimeError):
    """A valid run that cannot be started now; the message says why and what to do."""


class QueueFull(SubmitError):
    pass


class StoreUnavailable(SubmitError):
    pass


class NotOwner(PermissionError):
    """Hosted mode: a visitor asked to stop or delete a run that another visitor started."""


@dataclass
class Job:
    run_id: str
    lab_name: str
    cfg: object
    pool: str
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    snapshot: dict = field(default_factory=dict)
    result: loop.Result | None = None
    interrupted: bool = False       # stopped because the process is exiting, not by a user
    owner: str | None = None        # the browser session that started it
    client: str | None = None       # the address it came from (hosted caps count it too)
    needs: tuple[str, ...] = ()     # runs that must complete first (a student's teacher)
    config: dict = field(default_factory=dict)     # cfg as JSON, for a worker process
    store: RunStore | None = None


ThreadExecutor = workers.ThreadExecutor
ProcessExecutor = workers.ProcessExecutor


def _warm_up() -> None:
    """Pay the one-off costs (imports, first kernels) before the first Train (thread mode)."""
    workers.warm_up()


class JobManager:
    """`executor`: "process" (a warm worker process; the default, PLAYGROUND_WORKER), "thread",
    or an executor object."""

    instances: "weakref.WeakSet[JobManager]" = weakref.WeakSet()

    def __init__(self, store: RunStore | None = None, *, caps: hosting.Caps | None = None,
                 executor=None):
        self.store = store or RunStore()
        self.caps = caps or hosting.caps()
        self._lock = threading.Lock()
        self._soon: dict[str, Future] = {}          # ask_soon's answers, oldest first
        self._asked: dict[str, list] = {}           # hosted: visitor -> [(start, seconds)]
        self._asker: ThreadPoolExecutor | None = None
        self._queued: deque[Job] = deque()
        self._running: dict[str, Job] = {}
        self._jobs: dict[str, Job] = {}     # the active ones and the last KEEP_DONE ended
        self._recent: dict[str, deque] = {}  # submission times per client, the last minute
        self._started: dict[str, deque] = {}  # hosted: start times per network, for turns
        self._closing = False
        self.recovered = self.store.recover()
        self.executor = (executor if executor is not None and not isinstance(executor, str)
                         else workers.make_executor(executor))
        if isinstance(self.executor, ThreadExecutor):
            threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
        JobManager.instances.add(self)
        atexit.register(self._interrupt_all)

    def _interrupt_all(self, timeout: float = 3.0) -> None:
        """At process exit: stop running jobs cleanly (a thread killed inside a torch kernel
        aborts the process) and mark them interrupted, their metrics kept; then the workers."""
        with self._lock:
            self._closing = True        # queued runs stay queued: the next start recovers them
            running = list(self._running.values())
        for job in running:
            job.interrupted = True
            self.executor.cancel(job, interrupt=True)
        deadline = time.monotonic() + timeout
        for job in running:
            job.done.wait(max(0.0, deadline - time.monotonic()))
        self.executor.shutdown()

    # -- submitting ---------------------------------------------------------------------------
    def check(self, lab_name: str, raw: dict | None = None, *, cfg=None):
        """(lab, Config, device pool) after the one full check that every run passes, however
        it is queued (form, link, CLI, comparison, sweep, demo): declared ranges, this server's
        caps, the lab's own rules, and the model's size against the parameter cap and the free
        memory. A ready `cfg` is checked as its values, like a form's. Raises InvalidConfig."""
        try:
            lab = registry.get(lab_name)
        except registry.UnknownLab as e:
            raise InvalidConfig([str(e)]) from None
        from playground.params import to_dict

        from playground.engine import asks

        values = to_dict(cfg) if cfg is not None else dict(raw or {})
        cfg, errors = registry.parse_config(lab, values, budget=False, caps=self.caps)
        if errors:
            raise InvalidConfig(errors)
        # the model's size and the device are the worker's to judge: this process has no torch
        try:
            found = self.ask("check", self.check_args(lab_name, cfg), timeout=CHECK_TIMEOUT_S)
        except asks.AskError as e:
            raise InvalidConfig([f"The settings could not be checked: {e}"]) from None
        if found["errors"]:
            raise InvalidConfig(found["errors"])
        return lab, cfg, found["pool"]

    def check_args(self, lab_name: str, cfg) -> dict:
        """The "check" ask of a config (engine/asks.py), as a page asks it before Train."""
        from playground.params import to_dict

        return {"lab": lab_name, "config": to_dict(cfg), "max_params": self.caps.params}

    def submit(self, lab_name: str, raw: dict | None = None, *, cfg=None,
               owner: str | None = None, client: str | None = None,
               schedule: list[dict] | None = None) -> str:
        """Check and queue a run; returns its id. Raises InvalidConfig with every message,
        QueueFull when a queue or rate cap is reached, StoreUnavailable when the run cannot be
        saved. `owner` (a visitor's owner id, see hosting.owner_id) is what the per-visitor caps
        count and, in hosted mode, who may stop and delete the run later; `client` (the
        visitor's address, which a new cookie does not change) is counted too. `schedule`:
        changes of the lab's LIVE settings before given steps ([{"step": k, field: value}]), as
        a run's changes made while it trained are replayed."""
        lab, cfg, pool = self.check(lab_name, raw, cfg=cfg)
        schedule = self.check_schedule(lab, cfg, schedule or [])
        with self._lock:
            self._admit(owner, client, 1)
            job = self._create(lab, lab_name, cfg, pool, owner, client, schedule)
            self._enqueue([job])
        self.prune(owner)
        return job.run_id

    def submit_plan(self, lab_name: str, plan, cfg, *, owner: str | None = None,
                    client: str | None = None, names: tuple = ()) -> list[str]:
        """Queue a lab's comparison (COMPARE["plan"]): runs made one after another, each seeing
        the ids made before it (a distilled student names its teacher); an item may also name
        an existing run. The plan is checked whole before any of its runs is queued: every run
        passes check() and the caps count all of them, or none is queued. Returns the ids."""
        ids: list[str] = []
        while (item := plan(cfg, [f"planned-{i}" for i in range(len(ids))])) is not None:
            ids.append(item if isinstance(item, str) else "")
            if len(ids) > MAX_PLAN:
                raise InvalidConfig([f"A comparison makes at most {MAX_PLAN} runs."])
        with self._lock:
            self._admit(owner, client, ids.count(""))
        ids, made = [], []
        try:
            while (item := plan(cfg, list(ids))) is not None:
                if isinstance(item, str):
                    ids.append(item)
                    continue
                who = names[len(ids)] if len(ids) < len(names) else f"run {len(ids) + 1}"
                try:
                    lab, item, pool = self.check(lab_name, cfg=item)
                except InvalidConfig as e:
                    raise InvalidConfig([f"{who}: {m}" for m in e.messages]) from None
                with self._lock:
                    made.append(self._create(lab, lab_name, item, pool, owner, client))
                ids.append(made[-1].run_id)
            with self._lock:
                self._admit(owner, client, len(made))
                self._enqueue(made)
        except BaseException:
            for job in made:                # made, never queued: nothing else knows them
                try:
                    self.store.set_status(job.run_id, status="cancelled")
                    self.store.delete(job.run_id)
                except Exception:  # noqa: BLE001 - best effort: a left-over is a cancelled run
                    pass
            raise
        self.prune(owner)
        return ids

    def _admit(self, owner: str | None, client: str | None, n: int) -> None:
        """Raise QueueFull when `n` more runs would pass a cap (call with the lock held)."""
        if n <= 0:
            return
        active = [*self._queued, *self._running.values()]
        mine = [j for j in active if owner is not None and j.owner == owner]
        cap = self.caps.queued_per_session
        if cap and len(mine) + n > cap:
            if n == 1:
                raise QueueFull(f"You already have {len(mine)} run(s) training or waiting, the "
                                "most this server allows per visitor: stop it or wait for it.")
            raise QueueFull(f"This comparison makes {n} runs and you have {len(mine)} training "
                            f"or waiting; this server allows {cap} per visitor: stop yours or "
                            "wait for them.")
        near = [j for j in active if client is not None and j.client == client]
        cap = self.caps.queued_per_address
        if cap and len(near) + n > cap:
            raise QueueFull(f"{len(near)} runs from your network are training or waiting, and "
                            f"this server takes {cap} from one network at a time: try again "
                            "when one has finished.")
        if len(self._queued) + n > self.caps.queued:
            raise QueueFull(f"{len(self._queued)} runs are already waiting, the most this "
                            "server allows: try again when one has finished.")
        now = time.monotonic()
        for key, rate, who in ((owner, self.caps.submissions_per_minute, "You have"),
                               (client, self.caps.address_submissions_per_minute,
                                "Your network has")):
            if not rate or key is None:
                continue
            recent = self._recent.get(key, deque())
            while recent and recent[0] < now - 60:
                recent.popleft()
            if len(recent) + n > rate:
                wait = int(recent[0] + 60 - now) + 1 if recent else 60
                raise QueueFull(f"{who} started {len(recent)} runs in the last minute; this "
                                f"server takes {rate} a minute: try again in {wait} s.")

    def check_schedule(self, lab, cfg, schedule: list[dict]) -> list[dict]:
        """The schedule with its values as they will apply, each change checked against the
        settings it meets (InvalidConfig names the change and what is wrong)."""
        from playground.params import to_dict

        live, now, out, errors = tuple(getattr(lab, "LIVE", ())), to_dict(cfg), [], []
        for i, change in enumerate(sorted(schedule, key=lambda c: _step_of(c))):
            step, values = _step_of(change), {k: v for k, v in change.items() if k != "step"}
            where = f"change {i + 1} (step {change.get('step')})"
            wrong = [k for k in values if k not in live]
            if step < 0 or not values or wrong:
                errors.append(f"{where}: " + ("the step must be a whole number from 0" if step < 0
                              else f"{', '.join(wrong)} cannot change while the run trains "
                                   f"(only {', '.join(live) or 'nothing'} can)" if wrong
                              else "names no setting"))
                continue
            new, problems = registry.parse_config(lab, {**now, **values}, budget=False,
                                                  caps=self.caps)
            if problems:
                errors += [f"{where}: {m}" for m in problems]
                continue
            now = to_dict(new)
            out.append({"step": step, **{k: now[k] for k in values}})
        if errors:
            raise InvalidConfig(errors)
        return out

    def _create(self, lab, lab_name: str, cfg, pool: str, owner, client,
                schedule: list[dict] = ()) -> Job:
        """The run's folder, status queued (call with the lock held)."""
        from playground.params import to_dict

        config = to_dict(cfg)
        try:
            run_id = self.store.create(lab_name, config, owner=owner if self.caps.hosted else None,
                                       schedule=list(schedule))
        except OSError as e:
            raise StoreUnavailable(f"The runs folder {self.store.root} cannot be written "
                                   f"({e.strerror or e}); the run was not started.") from None
        needs = tuple(getattr(lab, "needs", lambda _cfg: ())(cfg))
        return Job(run_id, lab_name, cfg, pool, owner=owner, client=client, needs=needs,
                   config=config, store=self.store)

    def _enqueue(self, jobs: list[Job]) -> None:
        """Queue made runs and count them against the rate caps (call with the lock held)."""
        now = time.monotonic()
        for job in jobs:
            self._jobs[job.run_id] = job
            self._queued.append(job)
            for key, rate in ((job.owner, self.caps.submissions_per_minute),
                              (job.client, self.caps.address_submissions_per_minute)):
                if key is not None and rate:
                    self._recent.setdefault(key, deque()).append(now)
        for k in [k for k, d in self._recent.items() if not d or d[-1] < now - 60]:
            del self._recent[k]                 # a long-lived server forgets old visitors
        for k in [k for k, d in self._started.items() if not d or d[-1] < now - FAIR_WINDOW_S]:
            del self._started[k]
        self._dispatch()

    def limits(self) -> dict:
        """The caps a training process applies to each run itself."""
        return {"max_train": self.caps.samples, "max_seconds": self.caps.seconds,
                "max_updates": self.caps.updates, "max_pause": self.caps.seconds}

    # -- ownership and retention (hosted mode) -------------------------------------------------
    def controls(self, run_id: str, by: str | None) -> bool:
        """May `by` (an owner id; None: this process itself, the CLI) stop and delete the run?
        Locally everyone may: one user, every run theirs."""
        if by is None or not self.caps.hosted:
            return True
        from playground.engine.runs import DamagedRun, NoSuchRun

        try:
            return self.store.owner(run_id) == by
        except DamagedRun:
            return False                        # whose it is cannot be read: not a visitor's
        except NoSuchRun:
            return True                         # nothing to protect; the caller says so

    def _check(self, run_id: str, by: str | None, verb: str) -> None:
        if not self.controls(run_id, by):
            raise NotOwner(f"Run {run_id} was started by another visitor: you can watch it and "
                           f"share its link, but only the visitor who started it can {verb} it.")

    def delete(self, run_id: str, by: str | None = None) -> None:
        """Delete a finished run (RunStore.delete), refused to anyone but its owner when hosted."""
        self._check(run_id, by, "delete")
        self.store.delete(run_id)

    def prune(self, owner: str | None = None) -> list[str]:
        """Keep the store within the caps: the oldest finished runs go first, never one that is
        queued or running or that a waiting run needs, never a recorded demo. Returns the ids
        deleted. Nothing happens without caps (local mode)."""
        per_visitor, overall = self.caps.stored_per_visitor, self.caps.stored
        if not (per_visitor or overall):
            return []
        from playground.engine.runs import ACTIVE, NoSuchRun

        with self._lock:
            busy = set(self._running) | {j.run_id for j in self._queued}
            busy |= {n for j in [*self._queued, *self._running.values()] for n in j.needs}
        runs = sorted(self.store.list(), key=lambda r: r.created, reverse=True)   # newest first

        def removable(r) -> bool:
            return (r.run_id not in busy and r.status.get("status") not in ACTIVE
                    and not r.status.get("demo"))

        doomed: list[str] = []
        if per_visitor and owner:
            mine = [r for r in runs if r.owner == owner]
            extra = len(mine) - per_visitor
            doomed += [r.run_id for r in reversed(mine) if removable(r)][:max(0, extra)]
        if overall:
            # The heaviest visitor's oldest run goes first: one who submits many never costs
            # another visitor their runs (runs of no visitor, the CLI's, count as one).
            kept: dict = {}
            for r in runs:
                if r.run_id not in doomed:
                    kept.setdefault(r.owner, []).append(r)
            extra = sum(map(len, kept.values())) - overall
            while extra > 0:
                heavy = [(len(g), -g[-1].created, o) for o, g in kept.items()
                         if any(map(removable, g))]
                if not heavy:
                    break
                group = kept[max(heavy, key=lambda h: h[:2])[2]]
                victim = next(r for r in reversed(group) if removable(r))
                group.remove(victim)
                doomed.append(victim.run_id)
                extra -= 1
        deleted = []
        for run_id in doomed:
            try:
                self.store.delete(run_id)
                deleted.append(run_id)
            except (NoSuchRun, ValueError, OSError):
                pass                            # gone already, or started meanwhile: kept
        return deleted

    def _dispatch(self) -> None:
        """Start queued jobs while their device has a free slot (call with the lock held)."""
        if self._closing:
            return
        busy: dict[str, int] = {}
        per_owner: dict[str, int] = {}
        for j in self._running.values():
            busy[j.pool] = busy.get(j.pool, 0) + 1
            per_owner[j.owner] = per_owner.get(j.owner, 0) + 1
        queue = list(self._queued)
        if self.caps.hosted:
            # Turns go round the visitors' networks: one who queued many runs (fresh cookies
            # from one address) takes one turn, then the others' runs go first.
            now = time.monotonic()
            for d in self._started.values():
                while d and d[0] < now - FAIR_WINDOW_S:
                    d.popleft()
            queue.sort(key=lambda j: len(self._started.get(j.client or j.owner, ())))
        for job in queue:
            if self._waiting_on(job):
                continue
            if busy.get(job.pool, 0) >= self.caps.running:
                continue
            if (job.owner is not None and self.caps.running_per_session
                    and per_owner.get(job.owner, 0) >= self.caps.running_per_session):
                continue                        # let another visitor's run go first
            self._queued.remove(job)
            self._running[job.run_id] = job
            busy[job.pool] = busy.get(job.pool, 0) + 1
            per_owner[job.owner] = per_owner.get(job.owner, 0) + 1
            if self.caps.hosted and (job.client or job.owner) is not None:
                self._started.setdefault(job.client or job.owner, deque()).append(time.monotonic())
            self.executor.start(job, limits=self.limits(), store=self.store,
                                on_done=self._finish)

    def _waiting_on(self, job: Job) -> bool:
        """True while a run this job needs is still queued or running (call with the lock held).
        A needed run that ended any other way than completed fails the job at once: waiting
        would be forever."""
        from playground.engine.runs import ACTIVE, NoSuchRun

        for need in job.needs:
            try:
                state = self.store.status(need).get("status")
            except NoSuchRun:
                state = "deleted"
            if state == "completed":
                continue
            if state in ACTIVE and (need in self._running or
                                    any(j.run_id == need for j in self._queued)):
                return True
            why = ("is training in another process, which this server cannot wait for"
                   if state in ACTIVE else f"ended {state}")
            message = (f"This run needs run {need} to complete first, and that run {why}: "
                       "start again once it has completed.")
            self._queued.remove(job)
            self.store.set_status(job.run_id, status="failed", ended=time.time(), message=message)
            job.result = loop.Result(job.run_id, job.lab_name, "failed", message)
            job.done.set()
            self._forget()
            return True
        return False

    def _finish(self, job: Job, result: loop.Result) -> None:
        """A job has ended, in whichever executor: record it and start what can start."""
        try:
            job.result = result
            if job.interrupted and result.status == "cancelled":
                result.status, result.message = "interrupted", INTERRUPTED
                self.store.set_status(job.run_id, status="interrupted", message=INTERRUPTED)
            self._settle(job, result)
        finally:
            with self._lock:
                self._running.pop(job.run_id, None)
                job.done.set()
                self._forget()
                self._dispatch()

    def _settle(self, job: Job, result: loop.Result) -> None:
        """A run whose process ended must not stay "running" on disk (its process could not
        write its end: a full disk, a crash): write the end here; if that fails too, the store
        still reports it in this process, so the page shows why and the run can be deleted."""
        from playground.engine.runs import ACTIVE, NoSuchRun

        try:
            if self.store.status(job.run_id).get("status") not in ACTIVE:
                return
        except NoSuchRun:
            return
        status = result.status if result.status not in ACTIVE else "failed"
        try:
            self.store.set_status(job.run_id, status=status, message=result.message,
                                  ended=time.time())
        except OSError as e:
            if status != "failed" or "could not be saved" not in result.message:
                result.status, result.message = "failed", loop.unsaved(e)
                with contextlib.suppress(OSError):      # fails again; the store remembers it
                    self.store.set_status(job.run_id, status="failed", message=result.message,
                                          ended=time.time())

    def _forget(self) -> None:
        """Keep the ended jobs of a long-lived server to the last KEEP_DONE (lock held)."""
        extra = len(self._jobs) - len(self._running) - len(self._queued) - KEEP_DONE
        for run_id in [r for r, j in self._jobs.items() if j.done.is_set()][:max(0, extra)]:
            del self._jobs[run_id]

    # -- controlling --------------------------------------------------------------------------
    def cancel(self, run_id: str, by: str | None = None) -> bool:
        """Ask a run to stop; a queued run is cancelled at once. True when there was one to stop.
        `by`: who asks (an owner id; None for this process itself); in hosted mode only the run's
        owner may, anyone else gets NotOwner."""
        self._check(run_id, by, "stop")
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and job in self._queued:
                self._queued.remove(job)
                self.store.set_status(run_id, status="cancelled", ended=time.time(),
                                      message=N_("Cancelled while waiting in the queue."))
                job.done.set()
                self._forget()
                self._dispatch()                # runs that needed it fail now, not later
                return True
        if job is not None and not job.done.is_set():
            self.executor.cancel(job)
            return True
        # A run of another process (the CLI, an earlier server) still reads its cancel file.
        if self.store.exists(run_id) and self.store.status(run_id).get("status") == "running":
            self.store.request_cancel(run_id)
            return True
        return False

    def change(self, run_id: str, values: dict, by: str | None = None) -> dict:
        """Change settings of a training run (its lab's LIVE ones), checked here as the form
        checks them (InvalidConfig says what is wrong); its loop takes them at its next flush,
        a few times a second. Returns the values as they will apply."""
        self._check(run_id, by, "change")
        info = self._training(run_id)
        lab = registry.get(info.lab)
        live = tuple(getattr(lab, "LIVE", ()))
        wrong = [k for k in values if k not in live]
        if wrong:
            raise InvalidConfig([f"{k} cannot change while the run trains"
                                 + (f" (only {', '.join(live)} can)" if live else "")
                                 for k in wrong])
        now = {**info.config, **{k: v for c in info.changes for k, v in c.items() if k != "step"}}
        cfg, errors = registry.parse_config(lab, {**now, **values}, budget=False, caps=self.caps)
        if errors:
            raise InvalidConfig(errors)
        from playground import params

        clean = {k: params.to_dict(cfg)[k] for k in values}
        self.store.request_control(run_id, set=clean)
        return clean

    def pause(self, run_id: str, paused: bool = True, by: str | None = None) -> None:
        """Pause a training run at its next flush (its pictures and test metrics of that moment
        written), or let it go on."""
        self._check(run_id, by, "pause")
        self._training(run_id)
        self.store.request_control(run_id, pause=bool(paused))

    def step_once(self, run_id: str, by: str | None = None) -> None:
        """One batch on a paused run, its curves and pictures redrawn."""
        self._check(run_id, by, "step")
        if not self._training(run_id).status.get("paused"):
            raise SubmitError(f"Run {run_id} is not paused: pause it first.")
        self.store.request_control(run_id, step=1)

    def _training(self, run_id: str):
        info = self.store.info(run_id)
        if info.status.get("status") != "running":
            raise SubmitError(f"Run {run_id} is {info.status.get('status')}: only a run that is "
                              "training can be changed, paused or stepped.")
        return info

    def position(self, run_id: str) -> int | None:
        """0 while running, n when n-th in the queue, None when neither."""
        with self._lock:
            if run_id in self._running:
                return 0
            for i, job in enumerate(self._queued, 1):
                if job.run_id == run_id:
                    return i
        return None

    def snapshot(self, run_id: str) -> dict:
        job = self._jobs.get(run_id)
        return dict(job.snapshot) if job else {}

    def active(self) -> list[str]:
        with self._lock:
            return list(self._running) + [j.run_id for j in self._queued]

    def ask(self, kind: str, args: dict, timeout: float | None = None, sticky: str = "",
            owner: str | None = None):
        """Model work for a page, computed where the jobs train (engine/asks.py); raises
        asks.AskError with a message for the page. `sticky`: asks with one key go to one
        worker (a slow-motion session). `owner`: the visitor asking; hosted, their asks' time
        counts against their share (`server_seconds` per FAIR_WINDOW_S), as runs count against
        their turn: the worker that answers also trains everyone's runs."""
        from playground.engine import asks

        args = _with_language(args)
        cap = self.caps.server_seconds if owner else None
        if cap:
            now = time.monotonic()
            with self._lock:
                spent = [(t, d) for t, d in self._asked.get(owner, []) if t > now - FAIR_WINDOW_S]
                self._asked[owner] = spent
            used = sum(d for _, d in spent)
            if used >= cap:
                wait = max(1, int(spent[0][0] + FAIR_WINDOW_S - now))
                raise asks.TooMuch(
                    f"Your looks, steps and exports have used {used:.0f} s of this shared "
                    f"server's model work in the last {FAIR_WINDOW_S // 60} minutes (at most "
                    f"{cap} s): try again in {wait} s. Training runs are not affected.")
        start = time.monotonic()
        try:
            return self.executor.ask(kind, args, timeout or asks.TIMEOUT_S, sticky=sticky)
        finally:
            if cap:
                with self._lock:
                    self._asked.setdefault(owner, []).append(
                        (start, time.monotonic() - start))

    def ask_soon(self, kind: str, args: dict, wait: float = 0.0) -> Future:
        """The same ask, answered in the background and remembered: a page that draws before
        the answer comes (the model's summary while the worker starts) asks again on its next
        rerun and gets the same future. `wait`: seconds to give it before returning (a warm
        worker answers a check in milliseconds: the page then draws it at once). A failed ask is
        forgotten, so the next rerun asks again."""
        args = _with_language(args)             # the asking page's, known in its thread
        key = json.dumps([kind, args], sort_keys=True, default=str)
        with self._lock:
            future = self._soon.get(key)
            if future is None or (future.done() and future.exception() is not None):
                if self._asker is None:
                    self._asker = ThreadPoolExecutor(2, thread_name_prefix="ask")
                future = self._asker.submit(self.ask, kind, args)
            self._soon.pop(key, None)
            self._soon[key] = future
            while len(self._soon) > MAX_REMEMBERED_ASKS:
                self._soon.pop(next(iter(self._soon)))
        if wait:
            futures_wait([future], timeout=wait)
        return future

    def device_description(self, timeout: float = 30.0) -> str | None:
        """Where runs train, in one line, as the process that trains them sees it (asking the
        worker spares this process the torch import); None while the worker is still starting."""
        if isinstance(self.executor, ThreadExecutor):
            return devices.describe()
        info = self.executor.device_info(timeout)
        return info.get("describe") if info else None

    def wait(self, run_id: str, timeout: float | None = None) -> loop.Result | None:
        job = self._jobs.get(run_id)
        if job is None:
            return None
        job.done.wait(timeout)
        return job.result

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel everything and wait for the workers (tests, CLI)."""
        with self._lock:
            queued = list(self._queued)
        for job in queued:
            self.cancel(job.run_id)
        for run_id in list(self._running):
            self.cancel(run_id)
        deadline = time.monotonic() + timeout
        for job in list(self._jobs.values()):
            job.done.wait(max(0.0, deadline - time.monotonic()))
        if self._asker is not None:
            self._asker.shutdown(wait=False, cancel_futures=True)
        self.executor.shutdown()


def _with_language(args: dict) -> dict:
    """An ask's arguments with the asking page's language (its answer's words are in it)."""
    from playground import i18n

    lang = args.get("lang") or i18n.current()
    return args if lang == i18n.DEFAULT or args.get("lang") == lang else {**args, "lang": lang}
