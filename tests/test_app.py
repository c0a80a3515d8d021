"""The pages as Streamlit runs them (AppTest: no browser, same script runs)."""
import pytest

from playground import params
from playground.labs import mlp
from tests.helpers import APP, TIMEOUT, poll_until, run_id_of
from streamlit.testing.v1 import AppTest


@pytest.fixture
def app(home):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    return at


def _mlp(at):
    at.switch_page("app_pages/10_mlp.py")
    at.run()
    assert not at.exception, at.exception
    return at


_poll_until = poll_until


def test_home_renders_with_device_and_labs(app):
    assert not app.exception
    assert app.title[0].value.endswith("Neural Playground")
    text = " ".join(m.value for m in app.markdown) + " ".join(i.value for i in app.info)
    assert "training on CPU" in text or "GPU" in text


def test_mlp_page_has_a_widget_for_every_config_field(app):
    at = _mlp(app)
    kinds = ("selectbox", "multiselect", "text_input", "number_input", "slider", "toggle")

    def missing(values: dict) -> list[str]:
        keys = {w.key for kind in kinds for w in getattr(at, kind)}
        uploaders = {w.proto.label for w in at.get("file_uploader")}
        return [s.name for s in params.specs(mlp.Config)
                if s.applies(values) and f"mlp.{s.name}" not in keys
                and not (s.upload and s.title in uploaders)]

    assert missing({"dataset": "spiral"}) == []
    assert "Try this" in at.info[0].value
    at.selectbox(key="mlp.dataset").set_value("csv").run()
    assert missing({"dataset": "csv"}) == []
    assert {"mlp.target", "mlp.task"} <= {w.key for w in at.text_input} | {
        w.key for w in at.selectbox}


def test_train_starts_a_run_whose_metrics_appear_and_which_completes(app, store):
    at = _mlp(app)
    at.number_input(key="mlp.epochs").set_value(30)
    at.button(key="mlp._train").click().run()
    assert not at.exception, at.exception
    run_id = run_id_of(at)
    assert store.exists(run_id)
    if store.status(run_id)["status"] in ("queued", "running"):
        assert not at.button(key="mlp._stop").disabled
    assert _poll_until(at, lambda a: any(m.label == "Test accuracy" for m in a.metric))
    assert _poll_until(at, lambda a: store.status(run_id)["status"] == "completed")
    at.run()
    assert any("Finished" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) >= 3      # loss, accuracy, decision boundary
    assert float(at.metric[-1].value.rstrip("%")) > 50


def test_an_invalid_value_shows_an_error_and_starts_no_run(app, store):
    at = _mlp(app)
    at.text_input(key="mlp.hidden_sizes").set_value("32, zero").run()
    at.number_input(key="mlp.lr").set_value(-0.5).run()
    errors = " ".join(e.value for e in at.error)
    assert "Hidden sizes (each value) must be a number" in errors
    assert "Learning rate must be at least" in errors
    assert at.button(key="mlp._train").disabled
    assert store.list() == []
    assert "run" not in at.query_params


def test_settings_and_run_come_back_from_the_url(home, store):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["epochs"] = "7"
    at.query_params["hidden_sizes"] = "5,4"
    at.query_params["lr"] = "banana"
    at.run()
    at.switch_page("app_pages/10_mlp.py")
    at.query_params["epochs"] = "7"
    at.query_params["hidden_sizes"] = "5,4"
    at.query_params["lr"] = "banana"
    at.run()
    assert at.number_input(key="mlp.epochs").value == 7
    assert at.text_input(key="mlp.hidden_sizes").value == "5, 4"
    assert any("Learning rate must be a number" in w.value for w in at.warning)


def test_a_finished_run_is_shown_from_disk_in_a_new_session(home, store):
    from playground.engine import loop

    cfg = mlp.Config(epochs=5, hidden_sizes=(6,))
    run_id = store.create("mlp", params.to_dict(cfg))
    loop.run(mlp, cfg, run_id, store)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/10_mlp.py")
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    assert at.text_input(key="mlp.hidden_sizes").value == "6"
    assert any("Finished" in s.value for s in at.success)
    assert any(run_id in m.value for m in at.markdown)


def test_an_unknown_run_in_the_url_says_so(home):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/10_mlp.py")
    at.query_params["run"] = "../../etc/passwd"
    at.run()
    assert not at.exception
    assert any("No such run" in w.value for w in at.warning)


def test_stop_cancels_the_run_started_from_the_page(app, store):
    at = _mlp(app)
    at.number_input(key="mlp.epochs").set_value(2000)
    at.button(key="mlp._train").click().run()
    run_id = run_id_of(at)
    assert not at.button(key="mlp._stop").disabled
    at.button(key="mlp._stop").click().run()
    assert _poll_until(at, lambda a: store.status(run_id)["status"] == "cancelled", timeout=10)
    at.run()
    assert at.button(key="mlp._stop").disabled
    assert any("Stopped at step" in w.value for w in at.warning)


def test_a_dataset_that_cannot_be_downloaded_offers_the_embedded_one(app, store, tmp_path,
                                                                     monkeypatch):
    from playground.data import images

    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "empty"))

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    images._download_set.cache_clear()
    at = _mlp(app)
    at.selectbox(key="mlp.dataset").set_value("mnist").run()
    at.button(key="mlp._train").click().run()
    assert _poll_until(at, lambda a: any("offline" in e.value for e in a.error))
    fix = next(b for b in at.button if b.label.startswith("Use dataset = digits"))
    fix.click().run()
    assert at.selectbox(key="mlp.dataset").value == "digits"
    assert not at.exception


def _to(at, page: str, **query):
    """Another page by the navigation, as a browser goes there: with only `query` in its URL."""
    at.switch_page(page)
    for k in list(at.query_params):
        del at.query_params[k]
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_form_survives_another_page_a_hidden_field_and_a_link(app):
    """Streamlit drops the state of every widget a run does not draw: the form keeps its own."""
    at = _to(app, "app_pages/50_rnn.py")
    at.number_input(key="rnn.steps").set_value(120).run()
    at.selectbox(key="rnn.task").set_value("copy").run()
    at.number_input(key="rnn.n_copy").set_value(5).run()
    _to(at, "app_pages/00_home.py")
    _to(at, "app_pages/50_rnn.py")
    assert at.number_input(key="rnn.steps").value == 120
    assert at.number_input(key="rnn.n_copy").value == 5
    assert not at.error and not at.button(key="rnn._train").disabled
    # a field that does not apply is hidden, and comes back with its value
    at.selectbox(key="rnn.task").set_value("adding").run()
    assert not [w for w in at.number_input if w.key == "rnn.n_copy"]
    at.selectbox(key="rnn.task").set_value("copy").run()
    assert at.number_input(key="rnn.n_copy").value == 5
    # entered with settings in its URL (a link from the Runs page): the URL wins, the rest default
    _to(at, "app_pages/00_home.py")
    _to(at, "app_pages/50_rnn.py", steps="300")
    assert at.number_input(key="rnn.steps").value == 300
    assert at.selectbox(key="rnn.task").value == "adding"


def test_a_preset_and_an_earlier_runs_settings_fill_the_form(app, store):
    from playground.engine import loop

    cfg = mlp.Config(dataset="moons", hidden_sizes=(3,), epochs=2)
    run_id = store.create("mlp", params.to_dict(cfg))
    assert loop.run(mlp, cfg, run_id, store).status == "completed"
    at = _to(app, "app_pages/10_mlp.py")
    at.selectbox(key="mlp._preset").set_value("Linear can't spiral").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="mlp.activation").value == "linear"
    assert at.text_input(key="mlp.hidden_sizes").value == "16, 16, 16"
    at.selectbox(key="mlp._history_pick").set_value(run_id).run()
    at.button(key="mlp._history_show").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="mlp.dataset").value == "moons"
    assert at.text_input(key="mlp.hidden_sizes").value == "3"
    assert at.number_input(key="mlp.epochs").value == 2
    assert at.query_params["run"] in (run_id, [run_id])
