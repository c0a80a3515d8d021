"""The app in English and 简体中文: every word a visitor reads is an English message id, looked up
in a gettext catalogue, playground/locale/<lang>/LC_MESSAGES/messages.po, read with Babel.

- In code, `_("Train")` is a message shown now; `N_("...")` marks a message kept in a constant (a
  lab's TITLE, a setting's help) that is looked up where it is shown (`_(lab.TITLE)`).
  Placeholders are str.format's: `_("step {step} of {total}", step=3, total=9)`; the translation
  keeps the same names (the suite checks it).
- `python -m playground i18n extract` writes the template (messages.pot) from the marked calls
  (Babel's extractor) and the labs' declared words (titles, sections, settings' labels and help,
  presets, Try this), then merges it into each language's catalogue; `i18n check` says what is
  untranslated or broken. Names in code and on the command line stay English.
- The language of a page comes from the UI (`use` with a provider that reads the visitor's
  choice); without one (the worker, the CLI) everything is English.
Torch-free and Streamlit-free: the server, the worker and the CLI all import it.
"""
from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT = "en"
ROOT = Path(__file__).parent / "locale"
DOMAIN = "messages"
_provider = None          # () -> language code, set by the UI for the visitor's page


def N_(text: str) -> str:
    """Mark a message for the catalogue without translating it here (constants)."""
    return text


def provide(fn) -> None:
    """Where the language of the page being drawn comes from (the UI's session)."""
    global _provider
    _provider = fn


def current() -> str:
    try:
        lang = _provider() if _provider is not None else DEFAULT
    except Exception:  # noqa: BLE001 - outside a page (a thread of the server): English
        return DEFAULT
    return lang if lang in LANGUAGES else DEFAULT


def po_path(lang: str) -> Path:
    return ROOT / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """{message id: translation} of a language: the translated, not fuzzy, entries."""
    if lang == DEFAULT:
        return {}
    from babel.messages.pofile import read_po

    try:
        with open(po_path(lang), "rb") as f:
            cat = read_po(f)
    except FileNotFoundError:
        return {}
    return {m.id: m.string for m in cat if m.id and isinstance(m.id, str) and m.string
            and not m.fuzzy}


def translate(text: str, lang: str | None = None) -> str:
    """`text` in `lang` (the page's by default), itself where the catalogue has no entry."""
    if not isinstance(text, str) or not text:
        return text
    return catalog(lang or current()).get(text, text)


def _(text: str, **values) -> str:
    """The message in the page's language, its placeholders filled."""
    out = translate(text)
    return out.format(**values) if values else out


def fields(text: str) -> set[str]:
    """The str.format placeholders of a message ({step}, {total:,})."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"<unbalanced braces>"}
