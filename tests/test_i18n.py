"""The app in 简体中文: a gettext catalogue that keeps up with the code, and pages that use it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from playground import i18n, i18n_tools
from tests.helpers import open_page

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_message_of_the_code_is_translated_with_its_placeholders():
    """A message added to the code (a `_()` call, a lab's declared word) without its Chinese
    fails here, as does a translation that drops or renames a {placeholder}:
    `python -m playground i18n extract`, then translate the new entries of messages.po."""
    assert i18n_tools.problems("zh") == []


def test_a_broken_or_missing_translation_is_reported(monkeypatch):
    real = dict(i18n.catalog("zh"))
    broken = {**real, "**Device:** {where}": "**设备：** {place}"}
    del broken["Stop"]
    monkeypatch.setattr(i18n, "catalog", lambda lang: broken)
    found = "\n".join(i18n_tools.problems("zh"))
    assert "placeholders differ" in found and "'**Device:** {where}'" in found
    assert "untranslated" in found and "'Stop'" in found


def test_messages_fall_back_to_english_and_fill_their_placeholders(monkeypatch):
    monkeypatch.setattr(i18n, "_provider", lambda: "zh")
    assert i18n._("Train") == "训练"
    assert i18n._("**Device:** {where}", where="CPU") == "**设备：** CPU"
    assert i18n._("a message nobody wrote") == "a message nobody wrote"
    monkeypatch.setattr(i18n, "_provider", lambda: "en")
    assert i18n._("Train") == "Train"


def test_the_mlp_page_and_home_speak_chinese_and_keep_the_form(home):
    at = open_page("app_pages/10_mlp.py", {"lang": "zh"})
    assert not at.exception
    labels = [w.label for kind in ("selectbox", "number_input", "slider", "text_input", "toggle",
                                   "multiselect") for w in getattr(at, kind)
              if w.label != "Language / 语言"]
    assert labels and [x for x in labels if not CJK.search(x)] == []
    assert at.button(key="mlp._train").label == "训练"
    assert "试一试" in at.info[0].value
    at.number_input(key="mlp.lr").set_value(0.03).run()
    at.query_params["lang"] = "en"
    at.run()
    assert at.button(key="mlp._train").label == "Train"
    assert at.number_input(key="mlp.lr").value == 0.03          # the form survives the switch
    at.switch_page("app_pages/00_home.py")
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    assert any(s.value == "最近的运行" for s in at.subheader)


def test_a_guide_in_chinese_is_what_the_page_shows_in_chinese(monkeypatch):
    from playground import guides

    monkeypatch.setattr(i18n, "_provider", lambda: "zh")
    assert guides.intro("mlp").startswith("多层感知机")
    more = guides.more("mlp")
    assert "#### 页面上" in more and "试一试" not in more
    assert "| 设置（`--set 名称=...`） | 默认值 | 取值 | 作用 |" in more   # from the catalogue
    assert "| `lr` (学习率) |" in more
    assert guides.intro("cnn").startswith("卷积网络")
    assert guides.intro("resnet").startswith("Residual network")     # none written yet
    monkeypatch.setattr(i18n, "_provider", lambda: "en")
    assert guides.intro("mlp").startswith("Multilayer perceptron")


def test_no_message_hides_inside_an_f_string_where_the_extractor_cannot_see_it():
    root = Path(i18n.__file__).resolve().parents[1]
    hidden = re.compile(r"""f(["'])[^"'\n]*\{\s*(?:_|N_|t)\(\s*(?:N_\()?["']""")
    found = [f"{p.relative_to(root)}:{n}" for p in [*root.joinpath("playground").rglob("*.py"),
                                                   *root.joinpath("app_pages").glob("*.py")]
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if hidden.search(line)]
    assert found == []


@pytest.mark.parametrize("lab_name", i18n_tools.TRANSLATED)
def test_every_setting_of_a_translated_lab_is_labelled_in_chinese(home, lab_name):
    from playground.ui.app import lab_files

    page = lab_files()[lab_name].relative_to(Path(i18n.__file__).resolve().parents[1])
    at = open_page(str(page), {"lang": "zh"})
    assert not at.exception
    labels = [w.label for kind in ("selectbox", "number_input", "slider", "text_input", "toggle",
                                   "multiselect", "radio") for w in getattr(at, kind)
              if w.label != "Language / 语言"]
    assert labels and [x for x in labels if not CJK.search(x)] == []
    assert at.button(key=f"{lab_name}._train").label == "训练"
    assert CJK.search(at.title[0].value)
