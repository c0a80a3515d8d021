"""lab_page(name): the whole page of a lab, derived from the lab module.

Title and explanation from the docstring, TRY_THIS, the form from Config, a model summary before
Train, Train/Stop, the live panel of the run named in the URL, and this lab's earlier runs.
"""
from __future__ import annotations

import base64
import dataclasses
import uuid

import pandas as pd
import streamlit as st

from playground import demos, params, registry
from playground.engine.jobs import InvalidConfig, NotOwner, SubmitError
from playground.engine import asks, hosting, server
from playground.engine.runs import ACTIVE, DamagedRun, NoSuchRun
from playground import guides
from playground import i18n
from playground.i18n import N_, _
from playground.ui import charts, controls, downloads, form, live, share, stage
from playground.ui import sweeps as sweep_ui
from playground.ui.text import plain
from playground.ui.state import client_id, manager, mine, session_id, visible_runs, visit


def _explanation(lab, on_stage: bool = False) -> None:
    if on_stage:                        # a talk: the experiment, folded; the result in view
        with st.expander("🧪 " + _("Try this")):
            st.markdown(_(lab.TRY_THIS))
        return
    name = lab.__name__.rsplit(".", 1)[-1]
    st.markdown(guides.intro(name))
    if guides.more(name):
        # a dialog, drawn only when asked for: the guide is pages long, and a page reruns often
        if st.button(_("More about this architecture"), key=f"{name}._guide", type="tertiary",
                     icon=":material/menu_book:"):
            st.session_state["_guide_open"] = name
        if st.session_state.get("_guide_open") == name:
            _guide(name)
    st.info(_("**Try this:** {idea}", idea=_(lab.TRY_THIS)), icon="🧪")


def _close_guide() -> None:
    st.session_state.pop("_guide_open", None)


# open until the visitor closes it: the page reruns on its own (the model check, a run's end)
def _guide(name: str) -> None:
    @st.dialog(_("More about this architecture"), width="large", on_dismiss=_close_guide)
    def show() -> None:
        st.markdown(guides.more(name))
        st.caption(_("This guide is docs/labs/{name}.md in the repository.", name=name))
    show()


CHECK_WAIT_S = 0.5      # a page waits this long for the worker's check before it draws without
CHECK_POLL_S = 0.3      # and then looks again this often until the answer is there


def _model_check(lab_name: str, cfg, mgr):
    """The worker's check of the form's settings - the model's size against the caps and the
    free memory, the device - with the model's summary: {"errors", "summary", ...}, a future
    while it is computed (a worker still starting), None where the check itself failed (the
    run's own check at Train says why)."""
    future = mgr.ask_soon("check", mgr.check_args(lab_name, cfg), wait=CHECK_WAIT_S)
    if not future.done():
        return future
    try:
        return future.result()
    except asks.AskError:
        return None


@st.fragment(run_every=CHECK_POLL_S)
def _checking(future) -> None:
    if future.done():
        st.rerun(scope="app")           # Train and the errors above follow the answer
    st.caption(_("Checking the model's size and memory..."))


def _model_summary(checked) -> None:
    info = (checked or {}).get("summary") if isinstance(checked, dict) else None
    if not info:
        return
    from playground.engine.summary import human

    per_token = (_(" ({flops:,} FLOPs per token)", flops=info["flops_per_token"])
                 if info.get("flops_per_token") else "")
    if not info["rows"]:                # a race of points on a surface: no layers to list
        st.caption(_("Model: {params:,} trainable parameters, about {memory} to train.",
                     params=info["params"], memory=human(info["bytes"])))
        return
    with st.expander(_("Model: {layers} layers, {params:,} trainable parameters, {macs:,} "
                       "multiply-adds per example{per_token}, about {memory} to train",
                       layers=len(info["rows"]), params=info["params"], macs=info["macs"],
                       per_token=per_token, memory=human(info["bytes"]))):
        st.dataframe(pd.DataFrame(info["rows"]), hide_index=True, width="stretch")


def _current_run(lab_name: str, store) -> str | None:
    run_id = st.query_params.get("run")
    if not run_id:
        return None
    try:
        cfg = store.config(run_id)
    except DamagedRun as e:
        st.error(_("{error}. The other runs are fine; start a new one with Train.", error=e))
        return None
    except NoSuchRun:
        st.warning(_("No such run: {run}. It may have been deleted, or the link is wrong.",
                     run=plain(run_id)))
        return None
    if cfg.get("lab") != lab_name:
        st.warning(_("Run {run} belongs to the {lab} lab, not this one.", run=run_id,
                     lab=cfg.get("lab")))
        return None
    try:
        store.status(run_id)
    except NoSuchRun:                       # a crash between writing config and status
        st.error(_("Run {run} is damaged: its status.json is missing. The other runs are fine; "
                   "start a new one with Train.", run=run_id))
        return None
    visit(run_id)
    return run_id


_SOURCES = (N_("Upload"), N_("Camera"))


def _try_your_image(lab_name: str, lab, store, run_id: str) -> None:
    """Upload, camera or drawing-free fallback: the finished run's class probabilities."""
    from playground.engine import inference

    path = store.model_path(run_id)
    if path is None or store.status(run_id).get("status") != "completed":
        return
    st.subheader(_("Try your own image"))
    c1, c2 = st.columns([1, 1])
    source = c1.radio(_("Image from"), ["Upload", "Camera"], horizontal=True,
                      format_func=lambda v, lang=i18n.current(): i18n.translate(v, lang),
                      key=f"{lab_name}._img_source")
    file = (c1.file_uploader(_("Image (PNG, JPEG, BMP, GIF or WebP)"),
                             type=list(inference.IMAGE_TYPES), key=f"{lab_name}._upload",
                             max_upload_size=inference.MAX_UPLOAD_BYTES // 2**20)
            if source == "Upload"
            else c1.camera_input(_("Take a picture"), key=f"{lab_name}._camera"))
    invert = c1.toggle(_("Dark strokes on a light background (invert)"), value=True,
                       key=f"{lab_name}._invert",
                       help=_("The digit sets are light strokes on black: invert a pen "
                              "drawing."))
    c1.caption(_("Your image is only used for this prediction: it is not saved, and nobody "
                 "else who opens this run sees it."))
    if file is None:
        c2.caption(_("A photo of a handwritten digit or a drawing works best, centred and "
                     "large."))
        return
    try:
        inference.check_upload(file.name, file.size, bytes(file.getbuffer()[:16]))
        # read and computed by the training process; the bytes go there and nowhere else
        with server.turn(), st.spinner(_("The training process is reading your image...")):
            out = manager().ask("classify", owner=session_id(), args={
                "lab": lab_name, "config": store.config(run_id)["config"], "model": str(path),
                "image": base64.b64encode(file.getvalue()).decode(), "invert": bool(invert)})
    except (inference.BadImage, asks.BadImage, asks.TooMuch, server.Busy) as e:
        c1.error(plain(e, 500))
        return
    except asks.AskError as e:
        c1.error(_("Your image could not be classified here ({why}).", why=plain(e, 500)))
        return
    classes, probs = out["classes"], out["probs"]
    best = max(range(len(probs)), key=probs.__getitem__)
    c2.image(base64.b64decode(out["seen"]), caption=_("What the model sees"), width=140)
    c2.markdown(_("**Prediction: {label}** ({p:.0%})", label=classes[best], p=probs[best]))
    c2.plotly_chart({"data": [{"type": "bar", "x": classes, "y": probs}],
                     "layout": {"height": 260, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                                "yaxis": {"range": [0, 1], "tickformat": ".0%"},
                                "xaxis": {"type": "category"}, "template": "plotly_white"}},
                    key=f"{lab_name}._probs", width="stretch")


def _explore(lab_name: str, lab, store, run_id: str) -> None:
    """A lab's look into a finished run that needs no retraining (EXPLORE): one setting (`field`)
    read from a widget, or a typed text (`text_label`, with `probes` that one click types), and
    the artefacts the lab makes for it from the saved weights; `when`: the runs it applies to."""
    ex = lab.EXPLORE
    path = store.model_path(run_id)
    if path is None or store.status(run_id).get("status") != "completed":
        return
    cfg, errors = params.parse(lab.Config, store.config(run_id).get("config", {}))
    if cfg is None or not all(getattr(cfg, k) in v for k, v in ex.get("when", {}).items()):
        return
    spec = {s.name: s for s in params.specs(lab.Config)}.get(ex.get("field"))
    st.subheader(_(ex["title"]))
    typed, text_key = "", f"{lab_name}._explore_text.{run_id}"
    if ex.get("probes"):
        st.pills(_("Try one"), ex["probes"], key=f"{text_key}.probe", on_change=_probe,
                 args=(text_key,))
    if "text_label" in ex:              # typed, e.g. a word: that first, the number below
        typed = st.text_input(_(ex["text_label"]), key=text_key,
                              max_chars=ex.get("max_chars", 100),
                              help=_(ex["text_help"]) if ex.get("text_help") else None).strip()
    # settings the look may change (a sampling temperature, a sampler), the run's own first;
    # beside a typed look, only once something is typed
    names = ex.get("options", ())
    names = names(cfg) if callable(names) else names
    options = [s for s in params.specs(lab.Config) if s.name in names]
    changed = {}
    if options and (typed or "text_label" not in ex):
        for col, o in zip(st.columns(len(options)), options):
            key = f"{lab_name}._explore_{o.name}.{run_id}"
            if o.choices:
                changed[o.name] = col.selectbox(_(o.title), o.choices, help=_(o.help), key=key,
                                                index=o.choices.index(getattr(cfg, o.name)))
                continue
            kind = float if isinstance(getattr(cfg, o.name), float) else int
            changed[o.name] = col.number_input(
                _(o.title), min_value=kind(o.lo), max_value=kind(o.hi),
                value=getattr(cfg, o.name), help=_(o.help), key=key)
    own = all(changed[k] == getattr(cfg, k) for k in changed)
    cfg = dataclasses.replace(cfg, **changed)
    value = _explore_value(lab_name, ex, spec, cfg, run_id) if spec is not None else 0
    if not typed and (spec is None or (own and value == getattr(cfg, spec.name))):
        if spec is not None:
            st.caption(_("The run's own choice is shown above: pick another to look again."))
        return
    # computed by the training process (the server draws, the worker computes), one look at a
    # time on a shared server
    try:
        with server.turn(), st.spinner(_("The training process is looking...")):
            items = manager().ask("explore", owner=session_id(), args={
                "lab": lab_name, "config": params.to_dict(cfg), "model": str(path),
                "value": int(value), "typed": typed})
    except (asks.TooMuch, server.Busy) as e:
        st.warning(plain(e, 500))
        return
    except asks.AskError as e:          # a missing teacher or dataset is a message
        st.caption(_("This run cannot be explored here ({why}).", why=plain(e, 500)))
        return
    live.artifact_grid(items, prefix=f"explore-{run_id}")


def _probe(text_key: str) -> None:
    """A probe clicked: it becomes the typed text, and the pills are ready for another."""
    st.session_state[text_key] = st.session_state.get(f"{text_key}.probe") or ""
    st.session_state[f"{text_key}.probe"] = None


def _explore_value(lab_name: str, ex: dict, spec, cfg, run_id: str) -> int:
    """EXPLORE's number (an example, a step count), held to the hosted cap."""
    hi, cap = int(spec.hi), getattr(hosting.caps(), ex.get("cap", ""), None)
    if cap and cap < hi:
        hi = cap
        st.caption(_("This shared server takes at most {cap:,} {what} at a look.", cap=cap,
                     what=_(spec.title).lower()))
    return int(st.number_input(_(spec.title), min_value=int(spec.lo), max_value=hi,
                               value=min(hi, int(getattr(cfg, spec.name))), step=1,
                               help=_(ex["help"]) if ex.get("help") else None, key=f"{lab_name}._explore.{run_id}"))


def _steps(lab_name: str, lab, store, run_id: str) -> None:
    """STEPS: a finished or stopped run stepped on by hand, with its pictures after each click.
    Off until asked for: picking the run up loads its data and weights."""
    from playground.engine import stepping


    spec = lab.STEPS
    status = store.status(run_id).get("status")
    if status not in stepping.STEPPABLE or (store.model_path(run_id) is None
                                            and not stepping.from_start(lab)):
        return
    cfg, _errors = params.parse(lab.Config, store.config(run_id).get("config", {}))
    if not stepping.offered(lab, cfg):
        return
    st.subheader(_(spec["title"]))
    st.caption(_(spec["help"]))
    cap, batch = hosting.caps().server_examples, getattr(cfg, "batch_size", None)
    if cap and isinstance(batch, int) and batch > cap:
        st.caption(_("On this shared server a step by hand uses at most {cap:,} examples (the "
                     "run's batches had {batch:,}).", cap=cap, batch=batch))
    if not st.toggle(_("Step through it by hand"), key=f"{lab_name}._steps_on.{run_id}"):
        return
    _stepper(lab_name, lab, store, run_id)


@st.fragment
def _stepper(lab_name: str, lab, store, run_id: str) -> None:
    # a fragment: a click reruns this part only, not the page above it. The session lives in
    # the worker (the model and its optimizers); this page keeps its last answer.
    from playground.engine import stepping

    key = f"{lab_name}._steps"
    last = st.session_state.get(key)
    actions = list(lab.STEPS["actions"])
    cols = st.columns(len(actions) + 1)
    clicked = [label for col, label in zip(cols, actions)
               if col.button(_(label), key=f"{key}.{label}", width="stretch")]
    back = _("Back to the start") if stepping.from_start(lab) else _("Back to the run's end")
    restart = cols[-1].button(back, key=f"{key}.reset", width="stretch",
                              icon=":material/restart_alt:")
    fresh = last is None or last["run_id"] != run_id or restart
    if fresh or clicked:
        token = st.session_state.setdefault("_steps_session", uuid.uuid4().hex)
        cfg, _errors = params.parse(lab.Config, store.config(run_id).get("config", {}))
        doing = (_("Setting the run up at its start...") if stepping.from_start(lab)
                 else _("Picking the run up where it ended...")) if fresh else _("Stepping...")
        try:
            with st.spinner(doing), server.turn():
                answer = manager().ask("steps", owner=session_id(), args={
                    "lab": lab_name, "config": params.to_dict(cfg), "root": str(store.root),
                    "run_id": run_id, "session": token, "actions": clicked, "reset": fresh},
                    sticky=token)
        except (asks.TooMuch, server.Busy) as e:
            st.warning(plain(e, 500))
        except asks.AskError as e:  # a missing dataset, an upload gone, a failed step
            st.error(_("This run cannot be stepped here: {why}", why=plain(e, 500)) if fresh
                     else _("The step failed: {why}", why=plain(e, 500)))
        else:
            last = st.session_state[key] = {"run_id": run_id, **answer}
    if last is None or last["run_id"] != run_id:
        return
    taken = _(", ").join(f"{n} x {_(label).lower()}" for label, n in last["counts"].items())
    ready = lab.STEPS.get("ready", "")
    st.caption(_("Steps taken by hand: {taken}.", taken=taken) if taken
               else _(ready) if ready else "")
    if last["log"]:
        table = pd.DataFrame(last["log"])
        numbers = [c for c in table.columns if c not in ("#", "step")]
        # one action moves one player: the other's columns are blank, not "None"
        table[numbers] = table[numbers].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
        st.dataframe(table, hide_index=True, width="stretch")
    live.artifact_grid(last["pictures"], prefix=f"steps-{run_id}")


def _history(lab_name: str, lab, store, current: str | None) -> None:
    runs = visible_runs(lab=lab_name, limit=50)
    if not runs:
        return
    st.subheader(_("Earlier runs"))
    # the lab's headline: test accuracy where its runs have one, else the test loss; what the
    # data was: its dataset, or its task
    finals = [r.status.get("final") or {} for r in runs]
    heads = registry.headlines(lab_name) + registry.DEFAULT_HEADLINE
    metric, column = next((h for h in heads if any(h[0] in f for f in finals)), heads[0])
    what = next((k for k in ("dataset", "task", "corpus", "data", "env", "graph", "experiment")
                 if any(k in r.config for r in runs)), "dataset")
    share = registry.is_share(column)
    rows = [{"run": r.run_id, "status": r.status.get("status", "?"),
             column: f.get(metric) if share else charts.number(f.get(metric)),
             what: str(r.config.get(what, "–")), "seconds": r.status.get("seconds")}
            for r, f in zip(runs, finals)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={column: st.column_config.NumberColumn(format="percent")
                                if share else st.column_config.TextColumn(),
                                "seconds": st.column_config.NumberColumn(format="%.1f")})
    ids = [r.run_id for r in runs]
    c1, c2 = st.columns([3, 1])
    pick = c1.selectbox(_("Show run"), ids, index=ids.index(current) if current in ids else 0,
                        key=f"{lab_name}._history_pick")
    if c2.button(_("Show"), key=f"{lab_name}._history_show", width="stretch"):
        try:
            form.load_config(lab_name, lab, store.config(pick).get("config", {}))
        except NoSuchRun:
            pass                            # damaged: the panel explains it after the rerun
        st.query_params["run"] = pick
        st.rerun()


def _compare_ids(lab_name: str, store) -> list[str]:
    """The runs of a comparison named in the URL (?compare=a,b,c). The last one is this lab's;
    the others may come from another page (a teacher trained on the MLP page, say)."""
    ids = [i for i in str(st.query_params.get("compare", "")).split(",") if i][:4]
    try:
        if ids and all(store.exists(i) for i in ids) and \
                store.config(ids[-1]).get("lab") == lab_name:
            visit(*ids)
            return ids
    except NoSuchRun:
        pass
    return []


def _start_comparison(lab_name: str, cfg, compare: dict, mgr) -> None:
    """Queue the runs the lab's plan asks for, one after another, each seeing the ids queued
    before it (a distilled student names its teacher). A plan may also name an existing run."""
    try:
        ids = mgr.submit_plan(lab_name, compare["plan"], cfg, owner=session_id(),
                              client=client_id(), names=tuple(compare.get("names", ())))
    except (InvalidConfig, SubmitError) as e:
        st.error(_("The comparison could not start: {why}", why=plain(e, 500)))
        return
    st.query_params["compare"] = ",".join(ids)
    st.query_params["run"] = ids[-1]
    st.rerun()


def _slow_machine(lab_name: str, store, run_id: str):
    """The live panel's notice: on a machine much slower than the one that recorded this page's
    demo of the same settings, offer the recording (a talk should not wait on a laptop)."""
    try:
        config = store.config(run_id).get("config", {})
    except NoSuchRun:
        return None

    def notice(status: dict) -> None:
        from playground.ui import replay

        found = replay.slower_demo(lab_name, config, status)
        if found is None:
            return
        name, predicted, recorded = found
        st.warning(_("This machine is slow for this run: about {predicted:.0f} s to go where "
                     "the recording of the same settings took {recorded:.0f} s.",
                     predicted=predicted, recorded=recorded), icon=":material/speed:")
        st.button(_("Switch to the recording"), key=f"slow-{run_id}", icon=":material/replay:",
                  on_click=lambda: st.query_params.update(demo=name))
    return notice


def _comparison(lab, cfg) -> dict | None:
    """The lab's COMPARE: one for the lab, or (a function of the settings) one per setting - the
    fundamentals page compares optimizers on one experiment and initialisations on another."""
    compare = getattr(lab, "COMPARE", None)
    if callable(compare):
        return compare(cfg) if cfg is not None else None
    return compare


def _worker_table(lab_name: str, ids: list[str], names, store):
    """A finished comparison's own table, made by the training process (the Distillation
    page's times its networks) and kept: the runs are over, the table does not change."""
    def table(runs):
        args = {"lab": lab_name, "root": str(store.root), "ids": list(ids), "names": list(names)}
        try:
            with st.spinner(_("The training process is making the table...")):
                out = manager().ask_soon("table", args).result(timeout=asks.TIMEOUT_S)
        except (asks.AskError, TimeoutError) as e:
            return live.plain_rows(runs), _("(This comparison's own table could not be made: "
                                            "{why}.)", why=plain(e, 300))
        return out["rows"], out["verdict"]
    return table


def _run_config(lab, store, run_id: str):
    """The settings a stored run trained with, or None."""
    try:
        cfg, _errors = params.parse(lab.Config, store.config(run_id).get("config", {}))
    except NoSuchRun:
        return None
    return cfg


def _run_params(lab, store, run_id: str) -> dict[str, str]:
    """The settings the run trained with, as a link gives them (not the form's current ones)."""
    cfg = _run_config(lab, store, run_id)
    return form.url_params(lab, cfg) if cfg is not None else {}


def _plain_curves(lab, cfg) -> bool:
    """Does the run's panel chart loss and accuracy? A lab's PLAIN_CURVES (a function of the
    settings) may say no where its own pictures show them (the optimizer race)."""
    plain = getattr(lab, "PLAIN_CURVES", True)
    return bool(plain(cfg)) if callable(plain) and cfg is not None else bool(plain)


def _overview(lab_name: str, lab, cfg) -> None:
    """What the lab shows before anything trains (the distillation page's teacher vs student),
    computed by the training process."""
    if cfg is None or not registry.has(lab_name, "overview"):
        return
    try:
        with st.spinner(_("The training process is preparing the overview...")):
            items = manager().ask("overview", {"lab": lab_name,
                                               "config": params.to_dict(cfg)})
    except asks.AskError as e:          # an overview must never hide the form and Train
        st.caption(_("The overview could not be computed ({why}).", why=plain(e, 500)))
        return
    live.artifact_grid(items, columns=1, prefix="overview")


def lab_page(lab_name: str) -> None:
    on_stage = stage.active()
    if on_stage:
        stage.style()
    stage.toggle()
    if st.query_params.get("demo"):
        # a recorded demo: drawn from its files alone, before (and without) the lab's torch
        from playground.ui import replay

        replay.replay_page(lab_name, str(st.query_params["demo"]))
        return
    lab = registry.get(lab_name)
    mgr = manager()
    store = mgr.store
    st.title(f"{lab.ICON} {_(lab.TITLE)}")
    _explanation(lab, on_stage)

    cfg, errors = form.render(lab_name, lab, store,
                              main_fields=stage.fields(lab) if on_stage else ())
    checked = _model_check(lab_name, cfg, mgr) if cfg is not None else None
    if isinstance(checked, dict):
        errors = errors + checked["errors"]
    if mgr.caps.hosted:
        st.sidebar.caption(f"Shared server: {mgr.caps.describe()}. "
                           f"{mgr.caps.describe_retention()}")
    for note in form.url_notes(lab_name):
        st.warning(plain(note, 300))            # quotes the link: shown as text
    run_id = _current_run(lab_name, store)
    compared = _compare_ids(lab_name, store)
    compare = _comparison(lab, cfg)
    active, owned = False, True
    if run_id:
        active = store.status(run_id).get("status") in ACTIVE
        owned = all(mine(r) for r in {run_id, *compared})

    c1, c2, c3, c5, c4 = st.columns([1, 1, 2.2, 1.3, 1])
    recorded = demos.demos_of(lab_name)
    if recorded:
        c5.button(_("Replay demo"), key=f"{lab_name}._replay", width="stretch",
                  icon=":material/replay:", on_click=lambda: st.query_params.update(
                      demo=recorded[0]),
                  help=_("A recorded run of this page, played back: nothing trains."),
                  shortcut=stage.key("replay"))
    train = c1.button(_("Train"), type="primary", key=f"{lab_name}._train", width="stretch",
                      disabled=bool(errors), icon=":material/play_arrow:",
                      shortcut=stage.key("train"))
    stop = False
    if owned:
        stop = c2.button(_("Stop"), key=f"{lab_name}._stop", width="stretch", disabled=not active,
                         icon=":material/stop:", shortcut=stage.key("stop"))
    if run_id:
        shared = {**_run_params(lab, store, run_id), "run": run_id}
        if compared:
            shared["compare"] = ",".join(compared)
        share.share_button(lab_name, shared, key=f"{lab_name}._share", container=c4,
                           what=N_("this comparison") if compared else N_("this run"))
    if not owned:
        st.info(_("**Watching another visitor's run, read-only:** it is theirs to stop or "
                  "delete. Train starts a run of your own with the settings in the sidebar."),
                icon=":material/visibility:")
    if errors:
        st.error(_("Fix these settings to train:") + "\n\n" + "\n".join(f"- {plain(_(e), 500)}"
                                                                for e in errors))
    if train and not errors:
        try:
            st.query_params["run"] = mgr.submit(lab_name, cfg=cfg, owner=session_id(),
                                                client=client_id())
            st.rerun()          # the whole page, Stop included, now follows the new run
        except InvalidConfig as e:
            st.error("\n".join(plain(_(m), 500) for m in e.messages))
        except SubmitError as e:
            st.error(plain(e, 500))
    if checked is not None and not isinstance(checked, dict):
        _checking(checked)
    if compare and c3.button(_(compare["label"]), key=f"{lab_name}._compare", disabled=bool(errors),
                             icon=":material/compare_arrows:",
                             shortcut=stage.key("compare")):
        _start_comparison(lab_name, cfg, compare, mgr)
    if stop and run_id:
        try:
            for rid in {run_id, *compared}:
                mgr.cancel(rid, by=session_id())
            c3.caption(_("Stopping..."))
        except NotOwner as e:
            st.error(str(e))
    form.sync_url(lab_name, lab, cfg, run_id, extra={"compare": ",".join(compared)}
                  if compared else None)
    if not on_stage:
        _model_summary(checked)
    if not on_stage and not mgr.caps.hosted:
        sweep_ui.panel(lab_name, lab, cfg, mgr)
    _overview(lab_name, lab, cfg)

    shown = _comparison(lab, _run_config(lab, store, compared[-1])) if compared else None
    if shown:
        table = _worker_table(lab_name, compared, shown["names"], store) \
            if shown.get("table") else None
        live.compare_panel(compared, shown["names"], store, table=table,
                           curves=shown.get("curves"), views=shown.get("views", ()))
    if run_id:
        live.panel(run_id, store, mgr, on_fix=lambda fix: form.set_values(lab_name, lab, fix),
                   curves=getattr(lab, "CURVES", ()), columns=2,
                   notice=_slow_machine(lab_name, store, run_id), pictures_first=on_stage,
                   plain=_plain_curves(lab, _run_config(lab, store, run_id)),
                   controls=(lambda _: controls.panel(lab_name, lab, run_id, store, mgr))
                   if owned and hasattr(lab, "LIVE") else None)
        status = store.status(run_id).get("status")
        if active and status not in ACTIVE:
            # it ended while this page ran (a Stop that landed at once): the buttons above were
            # drawn for a live run and no poll follows an ended one - draw them again
            st.rerun()
        if status == "completed":
            with st.expander(_("Download: script, weights, ONNX, whole run")):
                downloads.run_downloads(run_id, store, key=f"{lab_name}._dl",
                                        owner=mine(run_id))
    else:
        st.caption(_("Press **Train** to start. The run trains in the background: you can change "
                     "page, refresh or share the link and come back to it."))
    if run_id and hasattr(lab, "EXPLORE"):
        _explore(lab_name, lab, store, run_id)
    if run_id and hasattr(lab, "STEPS"):
        _steps(lab_name, lab, store, run_id)
    if run_id and getattr(lab, "ACCEPTS_IMAGES", False):
        _try_your_image(lab_name, lab, store, run_id)
    _history(lab_name, lab, store, run_id)
