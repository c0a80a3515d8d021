"""The live panel: status, progress, curves and artefacts of one run, read from the run store.

While the run is queued or running the panel is a fragment that re-reads the run folder twice a
second (only the panel reruns, not the page); when the run ends it reruns the page once so the
buttons and history catch up.
"""
from __future__ import annotations

import base64

import pandas as pd
import streamlit as st

from playground.engine.runs import ACTIVE, NoSuchRun
from playground.ui import charts

POLL_S = 0.5
_BADGE = {"queued": ("⏳", "gray"), "running": ("🏃", "blue"), "completed": ("✅", "green"),
          "cancelled": ("⏹️", "orange"), "diverged": ("💥", "red"), "failed": ("❌", "red"),
          "interrupted": ("⚠️", "orange"), "damaged": ("🩹", "red")}
_CURVES = (("loss", "Loss", False), ("acc", "Accuracy", False))


def _fmt_s(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _series(records: list[dict], key: str, x: str) -> tuple[list, list]:
    number = (int, float)
    pts = [(r[x], r[key]) for r in records
           if isinstance(r.get(x), number) and isinstance(r.get(key), number)]
    return [p[0] for p in pts], [p[1] for p in pts]


def _header(run_id: str, status: dict, position: int | None, on_fix=None) -> None:
    state = status.get("status", "?")
    icon, color = _BADGE.get(state, ("•", "gray"))
    st.markdown(f"**Run** `{run_id}` &nbsp; :{color}-badge[{icon} {state}]"
                + (f" &nbsp; on `{status['device']}`" if status.get("device") else "")
                + (f" &nbsp; {status['params']:,} parameters" if status.get("params") else ""))
    total = status.get("total_steps") or 0
    step = status.get("step") or 0
    if state == "queued":
        where = f"position {position} in the queue" if position else "waiting for a free slot"
        st.info(f"Queued: {where}. It starts when the run before it finishes.")
    elif state == "running":
        text = (f"step {step:,} / {total:,} · ETA {_fmt_s(status.get('eta_s'))} · "
                f"{status.get('samples_per_s') or 0:,.0f} samples/s") if total else \
            status.get("message", "starting...")
        st.progress(min(1.0, step / total) if total else 0.0, text=text)
    elif state == "completed":
        st.success(status.get("message", "Completed."))
    elif state in ("diverged", "failed", "damaged"):
        st.error(status.get("message", state))
        fix = status.get("fix") or {}
        if fix and on_fix is not None:
            label = ", ".join(f"{k} = {v}" for k, v in fix.items())
            st.button(f"Use {label} instead", key=f"fix-{run_id}", on_click=on_fix, args=(fix,),
                      icon=":material/build:")
        if status.get("detail"):
            with st.expander("Details"):
                st.code(status["detail"])
    elif state in ("cancelled", "interrupted"):
        st.warning(status.get("message", state))


def _tiles(records: list[dict]) -> None:
    latest = {}
    for r in records:
        latest.update({k: v for k, v in r.items() if "/" in k and isinstance(v, (int, float))})
    shown = [(k, lbl) for k, lbl in (("train/loss", "Train loss"), ("val/loss", "Test loss"),
                                      ("train/acc", "Train accuracy"), ("val/acc", "Test accuracy"))
             if k in latest]
    if not shown:
        return
    for col, (k, lbl) in zip(st.columns(len(shown)), shown):
        v = latest[k]
        col.metric(lbl, f"{v:.1%}" if k.endswith("acc") else f"{v:.4f}")


def _curves(run_id: str, records: list[dict]) -> None:
    smoothing = st.session_state.get("_smoothing", 0.6)
    cols = st.columns(2)
    for col, (suffix, title, log_y) in zip(cols, _CURVES):
        series = {}
        for split, name in (("train", "train"), ("val", "test")):
            xs, ys = _series(records, f"{split}/{suffix}", "step")
            if xs:
                series[name] = (xs, ys)
        if series:
            fig = charts.curves(series, title, y_title=title.lower(), smoothing=smoothing,
                                smooth_only=("train",), log_y=log_y)
            col.plotly_chart(fig, key=f"curve-{suffix}", width="stretch")


def _artifacts(art: dict) -> None:
    artifact_grid(art.get("items"))


def artifact_grid(items, columns: int = 2, prefix: str = "art") -> None:
    """Artefacts `columns` to a row; a bad one is a caption, never an exception."""
    if not isinstance(items, dict) or not items:
        return
    cols = st.columns(columns)
    for i, (key, item) in enumerate(items.items()):
        with cols[i % columns]:
            try:
                _artifact(f"{prefix}-{key}", item)
            except Exception as e:  # noqa: BLE001 - one bad picture must not hide the rest
                st.caption(f"This picture could not be shown ({type(e).__name__}).")


def _artifact(key: str, item: dict) -> None:
    st.markdown(f"**{item.get('title', key)}**")
    kind, data = item.get("kind"), item.get("data")
    if kind == "plotly":
        st.plotly_chart(data, key=key, width="stretch")
    elif kind == "image":
        st.image(base64.b64decode(data), width="stretch")
    elif kind == "markdown":
        st.markdown(data)
    if item.get("caption"):
        st.caption(item["caption"])


def _body(run_id: str, store, manager, on_fix=None) -> str:
    try:
        status = store.status(run_id)
    except NoSuchRun as e:
        st.warning(str(e))
        return "missing"
    _header(run_id, status, manager.position(run_id), on_fix)
    records = store.metrics(run_id)
    _tiles(records)
    _curves(run_id, records)
    _artifacts(store.artifacts(run_id))
    return status.get("status", "?")


def panel(run_id: str, store, manager, on_fix=None) -> None:
    """Show a run; poll while it is active. `on_fix(settings)` applies a suggested fix."""
    try:
        state = store.status(run_id).get("status")
    except NoSuchRun as e:
        st.warning(f"{e}. It may have been deleted, or the link is wrong.")
        return
    st.slider("Curve smoothing", 0.0, 0.99, 0.6, 0.01, key="_smoothing",
              help="Exponential moving average, as in TensorBoard.")
    if state in ACTIVE:
        @st.fragment(run_every=POLL_S)
        def _live():
            if _body(run_id, store, manager, on_fix) not in ACTIVE:
                st.rerun()
        _live()
    else:
        _body(run_id, store, manager, on_fix)


def _compare_body(ids: list[str], names: tuple, store) -> bool:
    """Overlaid curves of the compared runs; True while any of them is still going."""
    smoothing = st.session_state.get("_smoothing", 0.6)
    runs, active = [], False
    for rid, name in zip(ids, names):
        try:
            state = store.status(rid).get("status", "?")
        except NoSuchRun:
            continue
        active |= state in ACTIVE
        runs.append((f"{name} ({state})", store.metrics(rid)))
    cols = st.columns(2)
    for col, (key, title, smooth_it) in zip(cols, (("train/loss", "Training loss", True),
                                                    ("val/acc", "Test accuracy", False))):
        series = {name: _series(recs, key, "step") for name, recs in runs}
        series = {k: v for k, v in series.items() if v[0]}
        if series:
            col.plotly_chart(charts.curves(series, title, y_title=key.split("/")[1],
                                           smoothing=smoothing if smooth_it else 0.0),
                             key=f"compare-{key}", width="stretch")
    return active


def _compare_table(ids: list[str], names: tuple, store, table=None) -> None:
    """The final table of a finished comparison: the lab's own (with its verdict) or a plain
    one from the runs' final metrics."""
    runs = [(name, store.info(i)) for name, i in zip(names, ids) if store.exists(i)]
    if table is not None:
        rows, verdict = table(runs)
    else:
        rows = [{"run": name, "status": r.status.get("status"),
                 "test accuracy": (r.status.get("final") or {}).get("val/acc"),
                 "parameters": r.status.get("params"), "seconds": r.status.get("seconds")}
                for name, r in runs]
        verdict = ""
    frame = pd.DataFrame(rows)
    formats = {c: st.column_config.NumberColumn(
        format="percent" if "accuracy" in c or c.startswith("...") else "localized")
        for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}
    st.dataframe(frame, hide_index=True, width="stretch", column_config=formats)
    if verdict:
        st.info(verdict, icon="⚖️")


def compare_panel(ids: list[str], names: tuple, store, table=None) -> None:
    st.subheader("Comparison: " + " vs ".join(names))
    st.caption("Same data order, same seed. The runs train one after another; the panel below "
               "follows the last one.")
    if any(store.exists(i) and store.status(i).get("status") in ACTIVE for i in ids):
        @st.fragment(run_every=POLL_S)
        def _live():
            if not _compare_body(ids, names, store):
                st.rerun()
        _live()
    else:
        _compare_body(ids, names, store)
        _compare_table(ids, names, store, table)
