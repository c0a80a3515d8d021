"""Stage mode: the controls a talk needs on the page itself (the lab's STAGE, less `hide=`), the
rest in the folded sidebar, the lecture left out; a toggle in and out that the URL keeps."""
import pytest

from playground import params, registry
from tests.helpers import open_page


@pytest.mark.parametrize("lab", registry.LABS)
def test_every_labs_stage_names_its_own_settings(lab):
    mod = registry.get(lab)
    names = {s.name for s in params.specs(mod.Config)}
    assert 1 <= len(mod.STAGE) <= 8 and set(mod.STAGE) <= names, (lab, mod.STAGE)


def _labels(container) -> list[str]:
    return [w.label for kind in ("selectbox", "number_input", "toggle", "slider", "multiselect",
                                 "text_input") for w in getattr(container, kind)]


def test_on_stage_the_page_shows_only_the_controls_the_demonstration_needs(home):
    at = open_page("app_pages/30_resnet.py", {"stage": "1"})
    assert not at.exception
    assert _labels(at.main) == ["Depth", "Residual", "Batch norm"]
    assert "Depth" not in _labels(at.sidebar) and "Epochs" in _labels(at.sidebar)
    # the experiment folded, the lecture left out: the result has the screen
    assert [e for e in at.expander if e.label == "🧪 Try this"]
    assert not [b for b in at.button if b.label == "More about this architecture"]
    assert not at.warning                     # stage and hide are not settings to complain about
    at = open_page("app_pages/30_resnet.py", {"stage": "1", "hide": "batch_norm"})
    assert not at.warning
    assert _labels(at.main) == ["Depth", "Residual"] and "Batch norm" in _labels(at.sidebar)


def test_the_toggle_switches_stage_mode_and_the_url_keeps_it(home):
    at = open_page("app_pages/30_resnet.py")
    assert "Depth" in _labels(at.sidebar) and "Depth" not in _labels(at.main)
    assert at.sidebar.toggle(key="_stage_toggle").value is False
    at.sidebar.toggle(key="_stage_toggle").set_value(True).run()
    assert at.query_params["stage"] in ("1", ["1"]) and "Depth" in _labels(at.main)
    at.sidebar.toggle(key="_stage_toggle").set_value(False).run()
    assert "stage" not in at.query_params and "Depth" in _labels(at.sidebar)


def test_a_replay_goes_on_stage_too(home):
    at = open_page("app_pages/30_resnet.py", {"stage": "1", "demo": "plain-vs-residual"})
    assert not at.exception
    assert any(i.value.startswith("**Replay of a recorded run**") for i in at.info)
    assert at.sidebar.toggle(key="_stage_toggle").value is True
