"""The visitor's language: `?lang=zh` or `?lang=en` in the URL, else the one they picked in the
sidebar, else their browser's (Streamlit reads it from the page: st.context.locale)."""
from __future__ import annotations

import streamlit as st

from playground import i18n

KEY = "_lang"


def _session_language() -> str:
    return st.session_state.get(KEY, i18n.DEFAULT)


i18n.provide(_session_language)


def resolve() -> str:
    """The page's language, decided once per visit and kept; a link's ?lang= wins."""
    asked = st.query_params.get("lang")
    if asked in i18n.LANGUAGES:
        st.session_state[KEY] = asked
    elif KEY not in st.session_state:
        browser = str(st.context.locale or "").lower()
        st.session_state[KEY] = "zh" if browser.startswith("zh") else i18n.DEFAULT
    return st.session_state[KEY]


def _picked() -> None:
    st.session_state[KEY] = st.session_state["_lang_pick"]
    st.query_params["lang"] = st.session_state[KEY]


def picker() -> None:
    """Language / 语言, at the foot of the sidebar."""
    langs = list(i18n.LANGUAGES)
    st.session_state["_lang_pick"] = resolve()
    st.sidebar.selectbox("Language / 语言", langs, key="_lang_pick",
                         format_func=i18n.LANGUAGES.get, on_change=_picked)
