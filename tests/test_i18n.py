"""The app in 简体中文: a gettext catalogue that keeps up with the code, and pages that use it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from playground import i18n, i18n_tools
from tests.helpers import english_left, open_page, poll_until, run_id_of

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
    for name in i18n_tools.TRANSLATED:                                # a guide each
        assert CJK.search(guides.intro(name)[:40]), name
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
    # a name (Beta1, d_model, Double DQN) is its own translation, chosen so in the catalogue
    kept = {k for k, v in i18n.catalog("zh").items() if k == v}
    assert labels and [x for x in labels if not CJK.search(x) and x not in kept] == []
    assert at.button(key=f"{lab_name}._train").label == "训练"
    assert CJK.search(at.title[0].value)


# words a model reads, quoted as they are
DATA_WORDS = {"word2vec": ("husband : wife :: king : queen",)}


@pytest.mark.parametrize("lab_name", i18n_tools.TRANSLATED)
def test_each_lab_page_leaves_no_english_sentence_in_chinese(home, lab_name):
    """Everything a visitor reads on a lab page in Chinese: names, units and numbers may stay,
    a run of three English words may not (the same page in English shows dozens)."""
    from playground.ui.app import lab_files

    page = lab_files()[lab_name].relative_to(Path(i18n.__file__).resolve().parents[1])
    at = open_page(str(page), {"lang": "zh"})
    assert not at.exception
    assert english_left(at, allowed=DATA_WORDS.get(lab_name, ())) == []
    at.query_params["lang"] = "en"
    at.run()
    assert len(english_left(at)) > 5             # the check sees English where there is some


def test_home_and_runs_leave_no_english_sentence_in_chinese(home, store):
    at = open_page("app_pages/00_home.py", {"lang": "zh"})
    assert not at.exception and english_left(at) == []
    run_id = store.create("mlp", {"epochs": 1})
    store.set_status(run_id, status="completed", message="Finished 3 steps in 0.1 s.",
                     message_words=[{"text": "Finished {step} steps in {seconds:.1f} s",
                                     "values": {"step": 3, "seconds": 0.1}},
                                    {"text": ".", "values": {}}])
    at = open_page("app_pages/90_runs.py", {"lang": "zh", "runs": run_id})
    assert not at.exception
    assert english_left(at) == []
    assert any("完成：3 步" in c.value for c in at.caption)        # the run's own message


def test_a_run_trained_in_chinese_speaks_chinese_from_start_to_end(home, store):
    """The live panel, the worker's messages and the pictures' words of a whole run."""
    at = open_page("app_pages/10_mlp.py", {"lang": "zh"})
    at.number_input(key="mlp.epochs").set_value(5)
    at.button(key="mlp._train").click().run()
    run_id = run_id_of(at)
    assert poll_until(at, lambda a: store.status(run_id)["status"] == "completed")
    at.run()
    assert not at.exception
    assert any(s.value.startswith("完成：") for s in at.success), [s.value for s in at.success]
    assert english_left(at) == []
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert any("决策边界" in t for t in titles), titles


def test_words_made_in_english_are_recognised_by_their_shape():
    """A recording, a stored run or the training process says things in English; the page
    knows a message by its shape and says it in Chinese with the same values."""
    say = lambda text: i18n.translate(text, "zh")                          # noqa: E731
    assert say("Feature maps of test image 3 (predicted 5, true 8)") == \
        "测试图像 3 的特征图（预测 5，真实 8）"
    assert say("Finished 480 steps in 1.5 s.") == "完成：480 步，用时 1.5 秒。"
    verdict = ("At 30 blocks the plain net reached 11% on the test digits, the residual one 97%. "
               "At this depth the plain net still learns: make it deeper (30 blocks) to see it "
               "stall.")
    said = say(verdict)
    assert "11%" in said and "97%" in said and not re.search(r"[a-z]{4} [a-z]{4}", said), said
    # the run's message holds a lab's hint, itself a message
    hint = "The loss became NaN at step 12: learning rate 1 is likely too high - try 0.1. " \
           "The curve so far is kept."
    assert say(hint).startswith("损失在第 12 步变成了 NaN")
    assert say("a sentence nobody wrote. Another one.") == "a sentence nobody wrote. Another one."
    assert i18n.translate("Finished 480 steps in 1.5 s.", "en") == "Finished 480 steps in 1.5 s."


@pytest.mark.parametrize("lab_name,demo", [("resnet", "plain-vs-residual"),
                                           ("fundamentals", "regularization")])
def test_a_recorded_demo_replays_in_chinese(home, lab_name, demo):
    """A recording's words (made in English when it was recorded) come from the catalogue."""
    from playground.ui import replay
    from playground.ui.app import lab_files

    page = lab_files()[lab_name].relative_to(Path(i18n.__file__).resolve().parents[1])
    at = open_page(str(page), {"lang": "zh", "demo": demo})
    assert not at.exception, at.exception
    assert any("录制运行的回放" in i.value for i in at.info)
    assert english_left(at) == []
    # at its end: the runs' messages, their pictures and the comparison's verdict
    at.session_state[replay._clock_key(lab_name, demo)] = {"at": 1e9, "origin": None,
                                                           "speed": 1}
    at.run()
    assert not at.exception, at.exception
    assert any("完成" in s.value for s in at.success), [s.value for s in at.success]
    assert english_left(at) == []


def test_a_settings_error_is_said_in_chinese(home):
    at = open_page("app_pages/10_mlp.py", {"lang": "zh"})
    at.text_input(key="mlp.hidden_sizes").set_value("32, zero").run()
    at.number_input(key="mlp.lr").set_value(-0.5).run()
    errors = " ".join(e.value for e in at.error)
    assert "隐藏层大小（每个值） 必须是一个数，收到的是 'zero'" in errors, errors
    assert "学习率 至少为" in errors, errors
    assert english_left(at) == []


def test_a_table_made_in_the_worker_is_headed_in_chinese_and_keeps_its_data(monkeypatch):
    from playground.ui import live

    monkeypatch.setattr(i18n, "_provider", lambda: "zh")
    made = "| question | answer | truth |\n|---|---|---|\n| `3 1 4` | 1 3 4 | paris |\n\nNone yet."
    assert live._markdown_words(made) == (
        "| 问题 | 回答 | 真实值 |\n|---|---|---|\n| `3 1 4` | 1 3 4 | paris |\n\n暂无。")
    monkeypatch.setattr(i18n, "_provider", lambda: "en")
    assert live._markdown_words(made) == made
