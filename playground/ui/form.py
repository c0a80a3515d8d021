"""Config -> sidebar widgets, presets, validation messages and URL state.

Widget values live in st.session_state under "<lab>.<field>", and the visitor's values outside
any widget (`_form.<lab>`) survive the runs that do not draw a widget (another page, the replay,
a field hidden where it does not apply), whose state Streamlit drops. Each value comes from one
place: the URL when the page is entered with settings in it (a shared link, a refresh, a run's
link), else the visitor's last values for the lab, else the defaults. The form writes its non-default values
back to the URL so the address bar always reproduces what is on screen.
"""
from __future__ import annotations

import functools

import streamlit as st

from playground import i18n, params, registry
from playground.i18n import N_, _
from playground.engine import hosting
from playground.engine.runs import NoSuchRun
from playground.ui.text import plain

PRESET_NONE = N_("(custom)")


def _key(lab_name: str, name: str) -> str:
    return f"{lab_name}.{name}"


def _widget_value(spec: params.Spec, value):
    """Typed config value -> the value its widget holds."""
    if spec.kind == "ints":
        return ", ".join(str(v) for v in value)
    if spec.kind == "strs":
        return list(value)
    return value


def _kept(lab_name: str) -> dict:
    """The visitor's last values of this lab's form (widget values by field), outside any widget:
    Streamlit drops a widget's state in every run that does not draw it (another page, the
    replay, a hidden field), and a widget drawn again without it shows 0 or empty."""
    return st.session_state.setdefault(f"_form.{lab_name}", {})


def _from_url(lab_name: str, lab, store, qp: dict) -> tuple[dict, list[str]]:
    """The form as a link gives it: the defaults, the named run's settings, the link's own."""
    values = {s.name: s.default for s in params.specs(lab.Config)}
    notes = []
    run_id = qp.get("run")
    try:
        saved = store.config(run_id) if run_id and store.exists(run_id) else {}
    except NoSuchRun:                       # damaged: the page says so; the form keeps defaults
        saved = {}
    if saved.get("lab") == lab_name:
        cfg, _errors = registry.parse_config(lab, saved.get("config", {}), budget=False)
        if cfg is not None:
            values.update(params.to_dict(cfg))
    limits = hosting.limits(lab.Config)
    for spec in params.specs(lab.Config):
        if spec.name in qp:
            try:
                values[spec.name] = params.coerce(params.bounded(spec, limits), qp[spec.name])
            except params.Invalid as e:
                notes.append(f"Ignored from the link: {e}")
    unknown = [k for k in qp
               if k not in values and k not in ("run", "preset", "compare", "demo", *KEPT)]
    notes += [f"Ignored from the link: unknown setting {k[:40]!r}" for k in unknown]
    return values, notes


ENTERING = "_form_entering"         # the lab page the visitor just came to (ui/app.py sets it)


def entered(page: str) -> None:
    """Called on every full run with the page shown: a page other than the last one's form is
    being entered (its URL, not the visitor's last values, then says what the form holds)."""
    if st.session_state.get("_form_page") != page:
        st.session_state[ENTERING] = page
    st.session_state["_form_page"] = page


def _seed_values(lab_name: str, lab, store, shown: list[params.Spec]) -> None:
    """Give each widget drawn this run its value before it is drawn, from one place: the URL
    when the page is entered with settings in it (a shared link, a refresh, a run's link), else
    the visitor's last values for this lab, else the defaults. Only widgets drawn in this run
    are given one: a value set for a widget that is not drawn would outlive it, stale."""
    specs = params.specs(lab.Config)
    kept = _kept(lab_name)
    qp = st.query_params.to_dict()
    if st.session_state.get(ENTERING) == lab_name:
        st.session_state[ENTERING] = None
        st.session_state[f"_url_notes.{lab_name}"] = []
        if any(k not in KEPT for k in qp):
            values, notes = _from_url(lab_name, lab, store, qp)
            kept.clear()
            kept.update({s.name: _widget_value(s, values[s.name]) for s in specs})
            st.session_state[f"_url_notes.{lab_name}"] = notes
            for spec in specs:
                st.session_state.pop(_key(lab_name, spec.name), None)
    for spec in specs:
        kept.setdefault(spec.name, _widget_value(spec, spec.default))
    for spec in shown:
        key = _key(lab_name, spec.name)
        # NOTE: set on every run, even to the value it holds: the value then travels with the
        # widget to the browser, which otherwise keeps its own copy - one it can lose (after a
        # fragment's run, when a run ends) and then draws 0 and sends that back
        st.session_state[key] = st.session_state[key] if key in st.session_state \
            else kept[spec.name]


def _values(lab_name: str, lab) -> dict:
    """The form as it stands: a drawn widget's value, else the visitor's last value."""
    kept = _kept(lab_name)
    return {s.name: st.session_state.get(_key(lab_name, s.name), kept.get(s.name, s.default))
            for s in params.specs(lab.Config)}


def _put(lab_name: str, lab, values: dict) -> None:
    """Change fields from a callback (a preset, a suggested fix, a run's settings): into the
    visitor's values, the widgets dropped so that the form draws them again from there."""
    kept = _kept(lab_name)
    for spec in params.specs(lab.Config):
        if spec.name in values:
            kept[spec.name] = _widget_value(spec, values[spec.name])
            st.session_state.pop(_key(lab_name, spec.name), None)


def apply_preset(lab_name: str, lab) -> None:
    name = st.session_state.get(f"{lab_name}._preset")
    overrides = getattr(lab, "PRESETS", {}).get(name)
    if overrides is None:
        return
    _put(lab_name, lab, {s.name: overrides.get(s.name, s.default)
                         for s in params.specs(lab.Config)})


def set_values(lab_name: str, lab, values: dict) -> None:
    """Change some fields of the form (a suggested fix); the others keep what the user set."""
    typed = {}
    for spec in params.specs(lab.Config):
        if spec.name in values:
            try:
                typed[spec.name] = params.coerce(spec, values[spec.name])
            except params.Invalid:
                continue
    _put(lab_name, lab, typed)


def load_config(lab_name: str, lab, config: dict) -> None:
    """Put a saved run's settings into the form (the history's "load settings")."""
    cfg, _errors = registry.parse_config(lab, config, budget=False)
    if cfg is None:
        return
    _put(lab_name, lab, params.to_dict(cfg))


def _run_choices(spec: params.Spec, store, current: str) -> dict[str, str]:
    """Finished runs a `runs_of` field can name: id -> what the list shows, newest first.
    Hosted, only the visitor's own (and recorded demos): others' ids, data and results are
    theirs, a click from their weights."""
    from playground.ui.state import session_id

    out = {"": "(none)"}
    me = session_id() if hosting.caps().hosted else None
    for info in store.list(limit=400):
        if me is not None and info.owner != me and not info.status.get("demo"):
            continue
        if info.lab in spec.runs_of and info.status.get("status") == "completed":
            acc = (info.status.get("final") or {}).get("val/acc")
            out[info.run_id] = (f"{info.lab} · {info.config.get('dataset', '?')}"
                                + (f" · {acc:.1%}" if isinstance(acc, (int, float)) else "")
                                + f" · {info.run_id}")
            if len(out) > 50:
                break
    if current and current not in out:
        out[current] = current              # from a link or the comparison: keep it visible
    return out


def _upload(key: str, spec: params.Spec, container) -> None:
    """A file uploader whose file is checked, stored under its fingerprint, and whose id becomes
    the field's value. An id that came from a link, or from a file uploaded before the visitor
    left the page (the uploader comes back empty), stays until a file replaces it or the visitor
    removes theirs."""
    from playground.data import uploads
    from playground.ui.state import session_id

    limit = uploads.limit_bytes(hosting.caps().hosted)
    touched = f"{key}.touched"                # the uploader changed: a file came, or was removed
    # Streamlit says the limit under the widget ("Limit 1MB per file"): said once, and right
    file = container.file_uploader(_(spec.title), type=list(spec.upload), key=f"{key}.file",
                                   help=_(spec.help) if spec.help else None, max_upload_size=limit // 2**20,
                                   on_change=st.session_state.__setitem__, args=(touched, True))
    mine = f"{key}.uploaded"                  # (file identity, id, note, name) of the last upload
    removed = st.session_state.pop(touched, False) and file is None
    if file is not None:
        seen = (file.file_id, file.size)
        if st.session_state.get(mine, (None,))[0] != seen:
            try:
                text_id, info = uploads.save(bytes(file.getbuffer()), limit,
                                             spec.holds or spec.upload[0],
                                             owner=session_id())
            except uploads.BadUpload as e:
                st.session_state[mine] = (seen, "", str(e), file.name)
            else:
                note = (_("{n:,} points", n=info["points"]) if "points" in info else
                        _("{rows:,} rows, {columns} columns", rows=info["rows"],
                          columns=info["columns"]) if "columns" in info else
                        _("{rows:,} texts, {labels} labels", rows=info["rows"],
                          labels=info["labels"]) if "rows" in info else
                        _("{chars:,} characters, {distinct} different", chars=info["chars"],
                          distinct=info["distinct"]))
                st.session_state[mine] = (seen, text_id, note, file.name)
            st.session_state[key] = st.session_state[mine][1]
        note = st.session_state[mine][2]
        if st.session_state[mine][1]:
            container.caption(_("Using {file}: {note}.", file=plain(file.name, 60), note=note))
        else:
            container.error(plain(note, 500))           # may quote the file
    elif removed and st.session_state.get(mine):        # the visitor removed their file
        if st.session_state.get(key) == st.session_state[mine][1]:
            st.session_state[key] = ""
        del st.session_state[mine]
    elif st.session_state.get(key):
        _seen, held, note, name = st.session_state.get(mine) or (None, "", "", "")
        container.caption(_("Using {file}, uploaded before: {note}.", file=plain(name, 60),
                            note=note)
                          if held and held == st.session_state[key] else
                          _("Using the uploaded file {file} named in the link.",
                            file=st.session_state[key]))
        container.button(_("Use no file"), key=f"{key}.forget", on_click=_forget,
                         args=(key, mine), icon=":material/close:")
    container.caption(_("An uploaded file is kept on this server under its fingerprint, so "
                        "that the training process can read it; anyone with a link to a run "
                        "trained on it can train on it too. Upload nothing private."))


def _forget(key: str, mine: str) -> None:
    st.session_state[key] = ""
    st.session_state.pop(mine, None)


def _widget(lab_name: str, spec: params.Spec, container, store=None) -> None:
    key, label, help_ = _key(lab_name, spec.name), _(spec.title), _(spec.help) or None
    if spec.upload:
        _upload(key, spec, container)
    elif spec.runs_of and store is not None:
        runs = _run_choices(spec, store, str(st.session_state.get(key) or ""))
        container.selectbox(label, list(runs), key=key, help=help_, format_func=runs.get)
    elif spec.kind == "str" and spec.choices:
        container.selectbox(label, spec.choices, key=key, help=help_)
    elif spec.kind == "str":
        container.text_input(label, key=key, help=help_)
    elif spec.kind == "strs":
        container.multiselect(label, spec.choices, key=key, help=help_)
    elif spec.kind == "ints":
        container.text_input(label, key=key, help=help_, placeholder="e.g. 32, 32")
    elif spec.kind == "bool":
        container.toggle(label, key=key, help=help_)
    elif spec.kind == "float" and not spec.log and spec.lo is not None and spec.hi is not None \
            and spec.hi <= 1.0:
        container.slider(label, float(spec.lo), float(spec.hi), step=0.01, key=key, help=help_)
    elif spec.kind == "float":
        # No min/max on purpose: an out-of-range entry gets our message, not a silent clamp.
        container.number_input(label, key=key, help=help_, format="%g",
                               step=None if spec.log else 0.01)
    else:
        container.number_input(label, key=key, help=help_, step=1)


def render(lab_name: str, lab, store, main_fields: tuple[str, ...] = ()):
    """Draw the form in the sidebar (`main_fields`, stage mode's, in the page itself, a row of
    them above Train). Returns (config or None, list of error messages)."""
    specs = params.specs(lab.Config)
    _seed_values(lab_name, lab, store, [])          # the URL, on entering, before any reading
    now = _values(lab_name, lab)
    # a field shows where it applies to the settings (the copy task's fields on copy only)
    shown = [s for s in specs if s.name in main_fields or s.applies(now)]
    _seed_values(lab_name, lab, store, shown)
    sb = st.sidebar
    if main_fields:
        by_name = {s.name: s for s in specs}
        stage_row = [by_name[f] for f in main_fields if f in by_name]
        for col, spec in zip(st.columns(max(1, len(stage_row))), stage_row):
            _widget(lab_name, spec, col, store)
    presets = getattr(lab, "PRESETS", {})
    if presets:
        sb.selectbox(_("Preset"), [PRESET_NONE, *presets], key=f"{lab_name}._preset",
                     on_change=apply_preset, args=(lab_name, lab),
                     # the language of this drawing: the option is formatted again later, in
                     # another thread (Streamlit's, AppTest's), where no page is being drawn
                     format_func=functools.partial(i18n.translate, lang=i18n.current()),
                     help=_("Fill the form with a known setting; every field stays editable."))
    groups: dict[str, list[params.Spec]] = {}
    for spec in shown:
        if spec.name not in main_fields:
            groups.setdefault(spec.group, []).append(spec)
    for group, group_specs in groups.items():
        box = sb.expander(_(group), expanded=group in ("Task", "Data", "Network", "Distillation",
                                                    "Experiment"))
        for spec in group_specs:
            _widget(lab_name, spec, box, store)

    raw, kept = _values(lab_name, lab), _kept(lab_name)
    for spec in shown:                      # what the visitor sees is what they last chose
        kept[spec.name] = raw[spec.name]
    cfg, errors = registry.parse_config(lab, raw, budget=False)   # the model: page.py asks
    return cfg, errors


def url_notes(lab_name: str) -> list[str]:
    return st.session_state.get(f"_url_notes.{lab_name}", [])


def url_params(lab, cfg) -> dict[str, str]:
    """The settings of `cfg` that differ from the lab's defaults, as the address bar has them."""
    return {spec.name: params.to_text(spec, getattr(cfg, spec.name))
            for spec in params.specs(lab.Config) if getattr(cfg, spec.name) != spec.default}


KEPT = ("stage", "hide", "lang")


def sync_url(lab_name: str, lab, cfg, run_id: str | None, extra: dict | None = None) -> None:
    """Non-default settings and the shown run go into the address bar."""
    want = {}
    if cfg is not None:
        want = url_params(lab, cfg)
    else:
        want = {k: v for k, v in st.query_params.to_dict().items() if k != "run"}
    if run_id:
        want["run"] = run_id
    want.update(extra or {})
    # how the page is shown, not what it trains: kept as the URL has it (stage mode)
    want.update({k: v for k, v in st.query_params.to_dict().items() if k in KEPT})
    if want != st.query_params.to_dict():
        st.query_params.from_dict(want)
