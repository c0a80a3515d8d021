"""Model work a page asks of the training process: the server draws, the worker computes.

A page that needs a model (a look into a finished run: EXPLORE, "Sample again") sends an ask to
the warm worker process through the job manager (`JobManager.ask`); the worker answers it on a
thread of its own, beside whatever job it trains, one ask at a time, and sends back what the page
draws (artefacts: plotly figures, images as base64) or the error's message. In the CLI and the
tests that train on threads, the same `answer` runs in this process.

Kinds of ask:
    check     {lab, config, max_params}: the check every run passes that needs the model - its
              size against the parameter cap and the free memory, on the device it would train
              on -> {errors, pool (the device type), summary (layers, parameters, bytes) or None}
    steps     {lab, config, root, run_id, session, actions, reset}: slow motion - the visitor's
              session on a finished run (kept in this process, picked up on the first ask or a
              reset), the actions taken in order -> {counts, log, pictures}
    table     {lab, root, ids, names}: a finished comparison's own table (the lab's COMPARE
              "table": the Distillation page's times its networks) -> {rows, verdict}
    explore   {lab, config, model, value, typed}: the lab's EXPLORE look at a finished run's
              weights; `config` may carry the look's own settings (a sampler, a temperature)
    classify  {lab, config, model, image (base64), invert}: a visitor's own image through a
              finished run's model -> {classes, probs, seen (the model's input as a PNG, base64)}
    onnx      {root, run_id}: a finished run's network as ONNX -> {onnx (base64)} or {why: the
              reason it is not exported}
    overview  {lab, config}: what the lab shows before anything trains (the Distillation page's
              teacher vs student, timed; diffusion's schedule; Word2Vec's corpus) -> artefacts
"""
from __future__ import annotations

import base64
import io
import os
import threading
from collections import OrderedDict

KINDS = ("check", "steps", "table", "explore", "classify", "onnx", "overview")
MAX_SESSIONS = 8                # slow-motion sessions a process keeps (each holds a model)
TIMEOUT_S = 600.0               # an ask that outlives this is answered "too slow" to its page


class AskError(RuntimeError):
    """The worker could not answer: the message says why, in words for the page."""


class TooMuch(AskError):
    """More than this (shared) server computes for a visitor; the message says the limit."""


class WorkerGone(AskError):
    """The process that was asked ended before it answered (another may: the ask is retried)."""


class BadImage(AskError):
    """A visitor's image that cannot be read or is too large; the message says which."""


def answer(kind: str, args: dict, env: dict | None = None):
    """Compute an ask (in the worker process, or in this one with a thread executor), its
    words in the asking page's language."""
    from playground import i18n

    with i18n.speaking(args.get("lang")):
        return _answer(kind, args, env)


def _answer(kind: str, args: dict, env: dict | None = None):
    from playground import params, registry
    from playground.engine import server

    for k, v in (env or {}).items():
        os.environ[k] = v
    if kind not in KINDS:
        raise AskError(f"unknown ask {str(kind)[:40]!r}; asks: {', '.join(KINDS)}")
    if kind == "onnx":
        return _onnx(args)
    lab = registry.get(args["lab"])
    if kind == "table":
        return _table(lab, args)
    # the run's own settings (checked when it was trained) with the look's options: the page
    # has held those to their ranges and the hosted caps
    cfg, errors = params.parse(lab.Config, args.get("config") or {})
    if cfg is None:
        raise AskError("; ".join(errors))
    if kind == "check":
        return _check(lab, cfg, args.get("max_params"))
    try:
        server.check_model(lab, cfg)
    except server.TooMuch as e:
        raise TooMuch(str(e)) from e
    if kind == "overview":
        return lab.overview(cfg)
    if kind == "classify":
        return _classify(lab, cfg, args)
    if kind == "steps":
        return _steps(lab, cfg, args)
    typed = args.get("typed") or ""
    return (lab.explore_text(cfg, args["model"], typed) if typed
            else lab.explore(cfg, args["model"], int(args["value"])))


def _check(lab, cfg, max_params: int | None) -> dict:
    from playground.engine import device as devices
    from playground.engine import summary

    try:
        pool = devices.pick(getattr(cfg, "device", "auto")).type
    except ValueError as e:
        return {"errors": [str(e)], "pool": None, "summary": None}
    if not hasattr(lab, "blueprint"):
        return {"errors": [], "pool": pool, "summary": None}
    info = summary.describe(lab, cfg)           # the model built once, on the meta device
    errors = summary.check(lab, cfg, device="cuda" if pool == "cuda" else "cpu",
                           max_params=max_params, info=info)
    return {"errors": errors, "pool": pool, "summary": info}


_sessions: OrderedDict = OrderedDict()      # visitor's session -> stepping.Session
_sessions_lock = threading.Lock()


def _steps(lab, cfg, args: dict) -> dict:
    from playground.engine import stepping
    from playground.engine.runs import RunStore

    key = str(args.get("session") or "")
    with _sessions_lock:
        session = _sessions.get(key)
    if session is None or session.run_id != args["run_id"] or args.get("reset"):
        try:
            session = stepping.resume(lab, cfg, RunStore(args["root"]), args["run_id"])
        except stepping.CannotStep as e:
            raise AskError(str(e)) from e
    with _sessions_lock:
        _sessions[key] = session
        _sessions.move_to_end(key)
        while len(_sessions) > MAX_SESSIONS:
            _sessions.popitem(last=False)
    for label in args.get("actions") or ():
        stepping.act(lab, session, str(label))
    return {"counts": dict(session.counts), "log": session.log[-6:],
            "pictures": stepping.show(lab, session)}


def _table(lab, args: dict) -> dict:
    from playground import params
    from playground.engine.runs import RunStore

    store, ids = RunStore(args["root"]), list(args["ids"])
    cfg, _ = params.parse(lab.Config, store.config(ids[-1]).get("config", {}))
    compare = lab.COMPARE(cfg) if callable(lab.COMPARE) else lab.COMPARE
    if not compare or not compare.get("table"):
        raise AskError("this comparison has no table of its own")
    rows, verdict = compare["table"]([(n, store.info(i)) for n, i in zip(args["names"], ids)
                                      if store.exists(i)])
    return {"rows": rows, "verdict": verdict}


def _onnx(args: dict) -> dict:
    from playground import export
    from playground.engine.runs import RunStore

    try:
        data = export.onnx_bytes(RunStore(args["root"]), args["run_id"])
    except export.NotExportable as e:
        return {"why": str(e)}
    return {"onnx": base64.b64encode(data).decode()}


def _classify(lab, cfg, args: dict) -> dict:
    from PIL import Image

    from playground.engine import inference

    try:
        data = base64.b64decode(args["image"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise BadImage("the image did not arrive whole: send it again") from None
    try:
        classes, probs, seen = inference.classify(lab, cfg, args["model"], data,
                                                  bool(args.get("invert")))
    except inference.BadImage as e:
        raise BadImage(str(e)) from e
    png = io.BytesIO()
    Image.fromarray(seen).save(png, format="PNG")
    return {"classes": [str(c) for c in classes], "probs": [float(p) for p in probs],
            "seen": base64.b64encode(png.getvalue()).decode()}


_PLAIN = {"TooMuch": TooMuch, "BadImage": BadImage, "WorkerGone": WorkerGone}     # errors whose message is the page's own


def error_event(e: BaseException) -> dict:
    """An exception as the worker sends it back."""
    return {"error": str(e)[:2000] or type(e).__name__, "error_type": type(e).__name__}


def raise_from(event: dict):
    """The worker's answer, or its error raised here."""
    if "error" not in event:
        return event.get("result")
    kind = event.get("error_type", "Error")
    if kind in _PLAIN:
        raise _PLAIN[kind](event["error"])
    raise AskError(f"{kind}: {event['error']}")
