"""The one training loop. It knows the lab contract and nothing about any lab.

Hot path per step: slice a device randperm (or the lab's own draw_batch: token windows cut on
the device, or an agent's own experience: it acts in its environment, then samples its replay
buffer), call the lab's train_step, keep the returned 0-d
tensors in a list. Nothing is read back to the host there. A few times a second the window is
stacked and read in one sync: that is when metrics are written, non-finite losses are caught and
the progress/ETA is updated. Evaluation and artefacts run on a wall-clock cadence.
"""
from __future__ import annotations

import contextlib
import math
import random
import threading
import time
import traceback
from dataclasses import dataclass, field

from playground.engine import device as devices
from playground.engine import stepping
from playground.engine.runs import RunStore
from playground.i18n import N_

METRIC_INTERVAL_S = 0.25      # train metrics and status: at most ~4 host syncs a second
EVAL_INTERVAL_S = 0.25        # validation metrics, or less often when evaluating is slow...
EVAL_SHARE = 20               # ...so that it takes at most ~1/20 of the time
EVAL_POINTS = 25              # a run too short for the clock still gets a test curve...
EVAL_BUDGET = 0.01            # ...from evaluations costing about 1% of the training time
MIN_EVAL_POINTS = 12          # and every run gets at least this many, evenly spaced in steps
ARTIFACT_INTERVAL_S = 1.0     # artefacts (figures, images), likewise
ARTIFACT_SHARE = 10
CURVE_POINTS = 500            # training-curve resolution over a whole run
MAX_WINDOW = 2048             # steps kept before a forced flush (fast GPU steps)
PAUSE_POLL_S = 0.1            # a paused run looks for resume, a step or a change this often
PAUSE_LIMIT_S = 3600          # a run left paused (a tab closed) stops after this, weights kept
EXPLODED = 1e4                # loss this many times its first value counts as diverged


@dataclass
class Result:
    run_id: str
    lab: str
    status: str
    message: str = ""
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0
    device: str = ""
    params: int = 0
    detail: str = ""            # traceback of an unexpected failure, for the curious
    fix: dict = field(default_factory=dict)    # settings that would avoid the failure
    words: list = field(default_factory=list)  # the message's ids and values (loop.said)
    device_broken: bool = False  # a CUDA error that poisons the process: replace the worker

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "lab": self.lab, "status": self.status,
                "message": self.message, "metrics": self.metrics, "seconds": round(self.seconds, 3),
                "steps": self.steps, "device": self.device, "params": self.params}


class Diverged(Exception):
    pass


class _Inbox:
    """What pages ask of this run while it trains (RunStore.request_control), read from where
    the last read ended."""

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id, self.offset = store, run_id, 0

    def read(self) -> list[dict]:
        asks, self.offset = self.store.controls(self.run_id, self.offset)
        return asks


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epochs_of(lab, cfg) -> int:
    """Passes over the training set: `cfg.epochs`, unless the lab says otherwise (a
    distillation teacher trains for its own number of epochs)."""
    return lab.epochs_of(cfg) if hasattr(lab, "epochs_of") else cfg.epochs


def steps_of(lab, cfg) -> int:
    """Steps of a lab counted in steps: `cfg.steps`, unless the lab says otherwise (an agent's
    updates: one per `train_frequency` of its environment steps)."""
    return lab.steps_of(cfg) if hasattr(lab, "steps_of") else cfg.steps


def said(*parts: tuple[str, dict]) -> dict:
    """A run's message in English, and its words (message ids with their values) that the page
    shows in its own language: the worker has none."""
    parts = tuple((text, values) for text, values in parts if text)
    return {"message": "".join(text.format(**values) if values else text
                               for text, values in parts),
            "message_words": [{"text": text, "values": values} for text, values in parts]}


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters()) if model is not None else 0


def _divergence_message(cfg, step: int, what: str, hint=None) -> str:
    """What happened and what to try: the lab's own reading of it (`divergence_hint(cfg)`, e.g.
    a missing target network), else the learning rate."""
    # made of messages (the page recognises them and says them in its language)
    why = hint(cfg) if hint is not None else None
    if why:
        return N_("The loss became {what} at step {step}: {why} The curve so far is kept."
                  ).format(what=what, step=step, why=why)
    lr = getattr(cfg, "lr", None)
    if lr:
        return N_("The loss became {what} at step {step}: learning rate {lr:g} is likely too "
                  "high - try {lower:g}. The curve so far is kept.").format(
            what=what, step=step, lr=lr, lower=lr / 10)
    return N_("The loss became {what} at step {step}: training became unstable. The curve so "
              "far is kept.").format(what=what, step=step)


def _oom_message(cfg, where: str) -> str:
    bs = getattr(cfg, "batch_size", None)
    hint = N_("try a batch size below {bs}").format(bs=bs) if bs else N_("try a smaller batch")
    return N_("Out of {where} memory: {hint} or a smaller model.").format(where=where, hint=hint)


class _Window:
    """Step outputs since the last flush, kept as device tensors until one batched read.

    At a flush the (metrics x steps) matrix comes to the host in a single transfer; it is
    checked step by step for a non-finite or exploding loss and cut into buckets of
    `log_every` steps, so a curve has the same resolution whether a step takes 1 ms or 1 s.
    """

    def __init__(self, log_every: int, hint=None):
        self.log_every = max(1, log_every)
        self.hint = hint
        self.outputs: list[dict] = []
        self.step = 0                              # steps drained so far
        self.baseline: float | None = None         # the first step's loss
        self.pending: dict[str, list[float]] = {}  # a bucket not yet complete

    def add(self, out: dict) -> None:
        self.outputs.append(out)

    def __len__(self):
        return len(self.outputs)

    def drain(self, cfg, final: bool = False) -> list[tuple[int, dict[str, float]]]:
        """[(step, {metric: mean over its bucket})] for every bucket completed by this flush."""
        import torch

        outs, self.outputs = self.outputs, []
        records: list[tuple[int, dict[str, float]]] = []
        if outs:
            keys = list(outs[0])
            rows = torch.stack([torch.stack([o[k].detach().float() for o in outs])
                                for k in keys]).tolist()                 # the one sync
            loss_rows = [rows[i] for i, k in enumerate(keys) if "loss" in k]
            for j in range(len(outs)):
                self.step += 1
                self._check(cfg, [r[j] for r in loss_rows])
                for k, r in zip(keys, rows):
                    self.pending.setdefault(k, []).append(r[j])
                if self.step % self.log_every == 0:
                    records.append(self._close())
        if final and self.pending and any(self.pending.values()):
            records.append(self._close())
        return records

    def _close(self) -> tuple[int, dict[str, float]]:
        means = {k: sum(v) / len(v) for k, v in self.pending.items() if v}
        self.pending = {}
        return self.step, means

    def _check(self, cfg, losses: list[float]) -> None:
        if not losses:
            return
        if not all(math.isfinite(v) for v in losses):
            what = "NaN" if any(v != v for v in losses) else N_("infinite")
            raise Diverged(_divergence_message(cfg, self.step, what, self.hint))
        loss = max(abs(v) for v in losses)
        if self.baseline is None:
            self.baseline = max(loss, 1e-3)
        elif loss > EXPLODED * self.baseline:
            # A finite but astronomically growing loss is the same failure caught later
            # (dead ReLUs can keep it finite forever).
            raise Diverged(_divergence_message(
                cfg, self.step, N_("{loss:.3g} ({times:.0e} times its first value)").format(
                    loss=loss, times=loss / self.baseline),
                self.hint))


def run(lab, cfg, run_id: str, store: RunStore, cancel: threading.Event | None = None,
        on_progress=None, max_train: int | None = None, max_seconds: float | None = None,
        max_updates: int | None = None, max_pause: float | None = None,
        schedule: list[dict] | None = None) -> Result:
    """Train `cfg` with `lab`, writing everything to `store` under `run_id`. Never raises for
    anything a user can cause: the outcome is in the returned Result and in status.json.
    Hosting caps: `max_train` trains on the first examples only; `max_seconds` (of training)
    and `max_updates` (optimizer steps) end the run early, its weights and curves kept. Each
    says so in the run's message; `max_pause`: seconds a run may stay paused.

    While it trains, the run obeys its control inbox at every flush: the lab's LIVE settings
    changed (its `retune(state, cfg)` applies them), pause, resume, one step while paused.
    `schedule` ([{"step": k, field: value}]; by default the run's config.json's) makes changes
    before the step numbered k, as a run's recorded changes were made: a replay."""
    import torch

    from playground import params, registry

    cancel = cancel or threading.Event()
    t0 = time.perf_counter()
    res = Result(run_id=run_id, lab=lab.__name__.rsplit(".", 1)[-1], status="running")
    step = 0
    limited = ""                # which hosting cap ended the run early, if one did
    paused_s = 0.0              # seconds spent paused: not training time
    pause_expired = False
    last_train: dict = {}
    last_val: dict = {}

    def status(**fields):
        st = store.set_status(run_id, **fields)
        if on_progress is not None:
            on_progress(st)

    try:
        dev = devices.pick(getattr(cfg, "device", "auto"))
        # The CPU's slow path for tiny floats (Adam's second moments of small gradients) made
        # some updates 40x slower (DQN: 41 ms instead of 0.9 ms); the flag is per thread.
        torch.set_flush_denormal(True)
        res.device = str(dev)
        status(status="running", started=time.time(), device=res.device,
               **said((N_("Loading data and building the model..."), {})))
        seed = int(getattr(cfg, "seed", 0))
        seed_everything(seed)
        data = lab.load_data(cfg)
        note = []
        if max_train and data.n_train > max_train and data.n_examples is None:
            note.append((N_(" on the first {max_train:,} of {n_train:,} training examples (server "
                            "limit)"), {"max_train": max_train, "n_train": data.n_train}))
            data = data.head(max_train)
        data = data.to(dev)
        state = lab.build(cfg, data)
        if getattr(state, "model", None) is not None:
            data = devices.channels_last(state, data)
        res.params = count_params(getattr(state, "model", None))

        n = data.n_train
        batch_size = max(1, min(int(getattr(cfg, "batch_size", n)), n))
        steps_per_epoch = math.ceil(n / batch_size)
        total = (int(epochs_of(lab, cfg)) * steps_per_epoch if hasattr(cfg, "epochs")
                 else int(steps_of(lab, cfg)))
        planned = total
        if max_updates and total > max_updates:
            total = int(max_updates)        # progress and curves span what will really run
            note.append((N_(" (this server stops a run at {total:,} optimizer steps; these "
                            "settings ask for {planned:,})"), {"total": total, "planned": planned}))
        # a lab that counts in its own unit (DQN: environment steps, an update every few):
        # curves, progress and the end say that unit, as its form and pictures do
        unit = getattr(lab, "STEP_UNIT", "")

        def shown(k: int) -> int:
            return int(lab.shown_step(cfg, k)) if unit else k
        gen = torch.Generator(device=dev).manual_seed(seed)
        train = data.train
        amp = devices.autocast(dev, lab)
        status(total_steps=total, steps_per_epoch=steps_per_epoch, params=res.params,
               **said((N_("Training"), {}), *note))

        # Material that is not a list of examples (a token stream): the lab cuts its batches.
        draw = lab.draw_batch if data.n_examples is not None else None
        window = _Window(log_every=max(1, total // CURVE_POINTS),
                         hint=getattr(lab, "divergence_hint", None))
        # A lab may end its run before `total` (early stopping): it says why (a host-side
        # attribute, read after every step: no sync), the loop stops.
        finished = getattr(lab, "finished", None)
        ended = None
        train_start = time.perf_counter()
        next_flush = next_eval = next_show = 0.0    # the first step is shown at once
        eval_every = max(1, total // EVAL_POINTS)
        segment = max(1, total // MIN_EVAL_POINTS)
        eval_spent = eval_cost = 0.0             # forced evaluations so far; the last one's cost
        last_eval_step = -1
        perm = None

        def flush(now: float, final: bool = False) -> None:
            nonlocal last_train
            buckets = window.drain(cfg, final=final or step == 1)
            elapsed = now - train_start
            rate = step / elapsed if elapsed > 0 else 0.0
            eta = (total - step) / rate if rate > 0 else None
            perf = {"perf/samples_per_s": rate * batch_size}
            if eta is not None:
                perf["perf/eta_s"] = eta
            store.append_metrics(run_id, [
                {"step": shown(at), "epoch": at / steps_per_epoch, "time": round(now - t0, 3), **means,
                 **perf} for at, means in buckets])
            if buckets:
                last_train = buckets[-1][1]
            status(step=step, epoch=step / steps_per_epoch, progress=step / total, eta_s=eta,
                   samples_per_s=rate * batch_size, elapsed_s=now - t0,
                   **({"shown_step": shown(step), "shown_total": shown(total), "unit": unit}
                      if unit else {}))

        def evaluate(now: float) -> float:
            """Validation metrics; returns how long it took (to keep its share of time small)."""
            nonlocal last_val, last_eval_step
            last_eval_step = step
            t = time.perf_counter()
            with torch.no_grad(), amp:
                last_val = {k: float(v) for k, v in lab.evaluate(state, data).items()}
            store.append_metrics(run_id, [{"step": shown(step), "epoch": step / steps_per_epoch,
                                           "time": round(now - t0, 3), **last_val}])
            return time.perf_counter() - t

        def show() -> float:
            t = time.perf_counter()
            with torch.no_grad():
                store.write_artifacts(run_id, {"step": step, "items": lab.artifacts(state, data)})
            return time.perf_counter() - t

        def one_step() -> None:
            nonlocal step, perm
            if draw is not None:
                batch = draw(data, batch_size, gen, state)
            else:
                pos = step % steps_per_epoch
                if pos == 0:
                    perm = torch.randperm(n, device=dev, generator=gen)
                idx = perm[pos * batch_size:(pos + 1) * batch_size]
                batch = tuple(t[idx] for t in train)
            with amp:
                out = lab.train_step(state, batch)
            window.add(out)
            step += 1

        live = tuple(getattr(lab, "LIVE", ()))
        changes: list[dict] = []
        if schedule is None:
            schedule = store.config(run_id).get("schedule") or []
        replays = sorted((dict(c) for c in schedule if isinstance(c, dict)),
                         key=lambda c: int(c.get("step", 0)))
        inbox = _Inbox(store, run_id)

        def retune(values: dict) -> bool:
            """Apply settings changed while training (checked as the form checks them); the
            change is recorded in the run's config (the schedule its export replays) and in its
            status (the marks on its curves)."""
            nonlocal cfg
            values = {k: v for k, v in dict(values).items() if k not in ("step", "at")}
            wrong = [k for k in values if k not in live]
            if wrong or not values:
                status(notice=f"Not changed: {', '.join(wrong) or 'nothing'} cannot change while "
                              f"this run trains (only {', '.join(live) or 'nothing'}).")
                return False
            new, errors = registry.parse_config(lab, {**params.to_dict(cfg), **values},
                                                budget=False)
            if errors:
                status(notice="Not changed: " + "; ".join(errors))
                return False
            before, cfg = params.to_dict(cfg), new
            lab.retune(state, cfg)
            after = params.to_dict(cfg)
            change = {"step": step, **{k: after[k] for k in values if after[k] != before[k]}}
            if len(change) > 1:
                changes.append(change)
                store.record_change(run_id, change)
                status(changes=changes, notice="")
            return True

        def obey(asks: list[dict], paused: bool) -> tuple[bool, int]:
            """(paused now, steps asked for while paused), the asks taken in order."""
            steps = 0
            for ask in asks:
                if isinstance(ask.get("set"), dict):
                    retune(ask["set"])
                if isinstance(ask.get("pause"), bool):
                    paused = ask["pause"]
                if ask.get("step") and paused:
                    steps += 1
            return paused, steps

        def hold() -> None:
            """Paused: the curves, test metrics and pictures of now; then wait, taking each step
            asked for (its pictures redrawn), until resumed, stopped, or left too long."""
            nonlocal train_start, paused_s, pause_expired
            began = time.perf_counter()

            def at_rest() -> None:
                now = time.perf_counter()
                flush(now, final=True)
                evaluate(now)
                show()
                status(paused=True, **said((N_("Paused at step {step:,} of {total:,}."),
                                           {"step": shown(step), "total": shown(total)})))
            at_rest()
            paused, limit = True, max_pause or PAUSE_LIMIT_S
            while paused:
                if cancel.is_set() or store.cancel_requested(run_id):
                    cancel.set()
                    break
                if time.perf_counter() - began > limit:
                    pause_expired = True
                    cancel.set()
                    break
                asks = inbox.read()
                before = (step, len(changes))
                paused, steps = obey(asks, paused)
                for _ in range(steps if paused else 0):
                    if step < total:
                        one_step()
                if paused and (step, len(changes)) != before:
                    at_rest()
                if not asks:
                    time.sleep(PAUSE_POLL_S)
            waited = time.perf_counter() - began
            train_start += waited
            paused_s += waited
            status(paused=False, **said((N_("Training"), {}), *note))

        while step < total:
            while replays and int(replays[0].get("step", 0)) <= step:
                retune(replays.pop(0))
            one_step()
            if cancel.is_set() or (finished is not None and (ended := finished(state))):
                break
            now = time.perf_counter()
            if max_seconds and now - train_start >= max_seconds:
                limited = "time"
                break
            if now >= next_flush or len(window) >= MAX_WINDOW:
                flush(now)
                next_flush = now + METRIC_INTERVAL_S
                if store.cancel_requested(run_id):
                    cancel.set()
                    break
                paused, _ = obey(inbox.read(), False)
                if paused:
                    hold()
                    if cancel.is_set():
                        break
                    now = time.perf_counter()
                if now >= next_eval:
                    eval_cost = evaluate(now)
                    next_eval = now + max(EVAL_INTERVAL_S, EVAL_SHARE * eval_cost)
                if now >= next_show:
                    next_show = now + max(ARTIFACT_INTERVAL_S, ARTIFACT_SHARE * show())
            elif (step % eval_every == 0
                  and eval_spent + eval_cost <= EVAL_BUDGET * (now - train_start)):
                eval_cost = evaluate(now)   # between flushes: a test point, no train flush
                eval_spent += eval_cost
            if step % segment == 0 and last_eval_step <= step - segment and step < total:
                # NOTE: a slow evaluation (a deep net) would leave a long run with a handful of
                # test points; one per segment keeps the test curve a curve.
                eval_cost = evaluate(time.perf_counter())

        now = time.perf_counter()
        flush(now, final=True)
        evaluate(now)
        show()
        res.steps = step
        res.metrics = {**last_train, **last_val}
        res.seconds = time.perf_counter() - t0 - paused_s
        # a stopped run keeps its weights too: they can be downloaded, or stepped on (STEPS)
        store.save_model(run_id, state.model.state_dict())
        if hasattr(lab, "STEPS") and lab.STEPS.get("optimizers"):
            store.save_optimizers(run_id, stepping.optimizer_states(lab, state))
        if planned > total and step >= total and not cancel.is_set():
            limited = "steps"
        at = {"step": step, "total": total, "seconds": res.seconds}
        if pause_expired:
            res.status, words = "cancelled", said((N_(
                "Stopped at step {step} of {total} after {minutes:.0f} minutes paused; its "
                "weights are kept."), {**at, "minutes": (max_pause or PAUSE_LIMIT_S) / 60}))
        elif cancel.is_set():
            res.status, words = "cancelled", said((N_(
                "Stopped at step {step} of {total}; its weights are kept."), at))
        elif limited == "time":
            res.status, words = "completed", said((N_(
                "Stopped at the time limit: this server trains a run for at most {limit:,.0f} "
                "s, and it reached step {step:,} of {total:,}"), {
                    "limit": max_seconds, "step": shown(step), "total": shown(total)}), *note,
                (N_(". Its weights and curves are kept; fewer epochs or a smaller model finish "
                    "in time."), {}))
        elif limited == "steps":
            res.status, words = "completed", said((N_(
                "Stopped at the step limit: this server allows {total:,} optimizer steps per "
                "run and these settings ask for {planned:,}; trained in {seconds:.1f} s. Its "
                "weights and curves are kept; fewer epochs or a larger batch fit."),
                {**at, "planned": planned}))
        elif ended:
            res.status, words = "completed", said((ended, {}), (N_(
                " Trained {step} of {total} steps in {seconds:.1f} s"), at), *note, (".", {}))
        elif unit:
            res.status, words = "completed", said((N_(
                "Finished {shown} {unit} in {seconds:.1f} s ({step} updates)"),
                {**at, "shown": shown(step), "unit": unit}), *note, (".", {}))
        else:
            res.status, words = "completed", said((N_(
                "Finished {step} steps in {seconds:.1f} s"), at), *note, (".", {}))
        res.message, res.words = words["message"], words["message_words"]
    except Diverged as e:
        res.status, res.message = "diverged", str(e)
        try:        # the last picture: what blew up (a deep net's spreads at initialisation)
            show()
        except Exception:  # noqa: BLE001 - a picture of NaN weights may fail; the run is kept
            pass
    except Exception as e:  # noqa: BLE001 - every failure becomes a run status, never a crash
        res.status, res.message = _failure(e, cfg)
        res.device_broken = _sticky(e)
        res.fix = getattr(e, "fix", {})
        if not res.fix:
            res.detail = traceback.format_exc(limit=8)
    res.steps = res.steps or step
    res.seconds = res.seconds or time.perf_counter() - t0 - paused_s
    res.metrics = res.metrics or {**last_train, **last_val}
    try:
        status(status=res.status, message=res.message, message_words=res.words,
               ended=time.time(), step=res.steps,
               final=res.metrics, seconds=res.seconds, params=res.params,
               detail=res.detail, fix=res.fix, **({"limited": limited} if limited else {}))
    except OSError as e:
        # this process reports it from memory (RunStore.set_status); a job manager in another
        # process writes it, or remembers it, in its turn (JobManager._settle)
        res.status, res.message = "failed", unsaved(e)
        with contextlib.suppress(OSError):
            store.set_status(run_id, status="failed", message=res.message, ended=time.time())
    return res


def unsaved(e: OSError) -> str:
    why = e.strerror or str(e)
    return (f"This run's end could not be saved ({why}; the disk may be full). Its curves so "
            "far are kept: free some space (delete old runs on the Runs page) and train again.")


_GPU_OOM = ("CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_NOT_ENOUGH_MEMORY",
            "CUDNN_STATUS_ALLOC_FAILED", "CUDA out of memory")
# errors after which CUDA refuses every later call in the process ("sticky")
_STICKY = ("illegal memory access", "device-side assert", "unspecified launch failure",
           "CUDA error: misaligned address", "an illegal instruction")


def _sticky(e: Exception) -> bool:
    return any(m in str(e) for m in _STICKY)


def _failure(e: Exception, cfg) -> tuple[str, str]:
    import torch

    from playground.data import DataUnavailable

    if isinstance(e, DataUnavailable) or isinstance(e, ValueError) and "device" in str(e):
        return "failed", str(e)
    text = str(e)
    if isinstance(e, torch.cuda.OutOfMemoryError) or any(m in text for m in _GPU_OOM):
        # cuBLAS and cuDNN report running out of memory as their own errors
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return "failed", _oom_message(cfg, "GPU")
    if _sticky(e):
        return "failed", (f"The GPU reported an error this training process cannot recover "
                          f"from ({text.splitlines()[0][:160]}); the process is replaced: "
                          "press Train to start again.")
    if isinstance(e, (MemoryError,)) or "can't allocate memory" in str(e):
        return "failed", _oom_message(cfg, N_("main"))
    return "failed", N_("Training failed: {error}").format(error=f"{type(e).__name__}: {e}")
