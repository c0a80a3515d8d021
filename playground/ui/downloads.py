"""Take a run away: download buttons for its script, weights, ONNX and the whole run as a zip.

A completed run offers all four. Any other run offers only the zip (settings, status, metrics so
far), with a caption saying the rest comes with a completed run. A form that does not apply to
a run (a distilled student's script needs its teacher) is a caption in its button's place, and
nothing here ever raises into the page.

The script and the ONNX file are made when the buttons are drawn, because only making them tells
whether they can be made; they are kept per (run, what, the run's last status update), so a rerun
does not export again. The weights and the zip are made only when clicked (`data` is a callable),
and a click does not rerun the page (`on_click="ignore"`).
"""
from __future__ import annotations

import base64
import threading
from collections import OrderedDict

import streamlit as st

from playground.i18n import N_, _
from playground import export
from playground.engine import server
from playground.engine.runs import NoSuchRun

CACHE_ENTRIES = 32
_made: OrderedDict[tuple, tuple[bytes | None, str]] = OrderedDict()
_lock = threading.Lock()


def _cached(store, run_id: str, what: str, updated, make) -> tuple[bytes | None, str]:
    """(bytes, "") or (None, why not) of `make()`, made once per run folder, `what` and status
    update. A NotExportable is kept like bytes (it depends on the run's settings alone); any other
    error propagates and is tried again on the next rerun."""
    key = (str(store.root), run_id, what, updated)
    with _lock:
        if key in _made:
            _made.move_to_end(key)
            return _made[key]
    try:
        data = make()
        value = (data.encode() if isinstance(data, str) else data, "")
    except export.NotExportable as e:
        value = (None, str(e))
    with _lock:
        _made[key] = value
        while len(_made) > CACHE_ENTRIES:
            _made.popitem(last=False)
    return value


def _button(col, label: str, data, file_name: str, mime: str, key: str) -> None:
    col.download_button(label, data, file_name=file_name, mime=mime, key=key, on_click="ignore",
                        icon=":material/download:", width="stretch")


def _exported(col, store, run_id: str, updated, what: str, make, label: str, file_name: str,
              mime: str, key: str) -> None:
    """The button of a form made now (to know whether it can be), or a caption saying why not."""
    try:
        data, why = _cached(store, run_id, what, updated, make)
    except server.Busy as e:                # not kept: the next rerun tries again
        col.caption(f"{label}: {e}")
        return
    except Exception as e:  # noqa: BLE001 - a failed export must not take the page down
        error = f"{type(e).__name__}: {e}"
        col.caption(_("{label}: could not be made ({error}).", label=label, error=error))
        return
    if why:
        col.caption(f"{label}: {_(why)}")            # made in English, known by its shape
    else:
        _button(col, label, lambda: data, file_name, mime, key)


def _weights(store, run_id: str) -> bytes:
    path = store.model_path(run_id)
    if path is None:
        raise FileNotFoundError(N_("run {run} has no saved weights (model.pt)").format(run=run_id))
    return path.read_bytes()


def _onnx(store, run_id: str) -> bytes:
    # made by the training process; hosted: one export (or look) at a time, and drawing the
    # buttons waits only a little for it
    from playground.ui.state import manager, session_id

    with server.turn(wait=5):
        out = manager().ask("onnx", {"root": str(store.root), "run_id": run_id},
                            owner=session_id())
    if "why" in out:
        raise export.NotExportable(out["why"])
    return base64.b64decode(out["onnx"])


def _completed(store, info, key: str, owner: bool) -> None:
    run_id, updated = info.run_id, info.status.get("updated")
    script = f"train_{info.lab}.py"
    c1, c2, c3, c4 = st.columns(4)
    _exported(c1, store, run_id, updated, "script", lambda: export.run_script(store, run_id),
              _("Script ({file})", file=script), script, "text/x-python", f"{key}.script")
    if store.model_path(run_id) is None:
        c2.caption(_("Weights: this run saved no weights (model.pt)."))
    else:
        _button(c2, _("Weights (model.pt)"), lambda: _weights(store, run_id), f"{run_id}.pt",
                "application/octet-stream", f"{key}.weights")
    _exported(c3, store, run_id, updated, "onnx", lambda: _onnx(store, run_id),
              "ONNX", f"{run_id}.onnx", "application/octet-stream", f"{key}.onnx")
    _button(c4, _("Whole run (.zip)"), lambda: export.bundle(store, run_id, detail=owner),
            f"{run_id}.zip", "application/zip", f"{key}.zip")


def _unfinished(store, info, key: str, owner: bool) -> None:
    c1, c2 = st.columns([1, 3])
    _button(c1, _("Whole run (.zip)"), lambda: export.bundle(store, info.run_id, detail=owner),
            f"{info.run_id}.zip", "application/zip", f"{key}.zip")
    c2.caption(_("This run is {status}: the zip holds its settings, status and metrics so "
                 "far. The weights, the script and ONNX come with a completed run.",
                 status=_(info.status.get("status", N_("unfinished")))))


def run_downloads(run_id: str, store, key: str, owner: bool = True) -> None:
    """Download buttons for one run; every widget key starts with `key`. `owner`: may the
    viewer see a failure's traceback (in the zip's status.json)?"""
    try:
        info = store.info(run_id)
        if info.damaged:
            st.caption(_("Nothing to download: {why}", why=info.damaged))
        elif info.status.get("status") == "completed":
            _completed(store, info, key, owner)
        else:
            _unfinished(store, info, key, owner)
    except NoSuchRun as e:
        why = f"{e}."
        st.caption(_("Nothing to download: {why}", why=why))
    except Exception as e:  # noqa: BLE001 - downloads must never hide the rest of the page
        error = f"{type(e).__name__}: {e}"
        st.caption(_("The downloads could not be prepared ({error}).", error=error))
