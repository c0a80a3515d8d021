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

import re
import string
import threading
from contextlib import contextmanager
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


_here = threading.local()          # a language for this thread's work (a page's ask)


@contextmanager
def speaking(lang: str | None):
    """Messages made in this thread, inside the block, in `lang`: the training process answers
    a page's ask (a comparison's table, an overview) in the page's language."""
    before = getattr(_here, "lang", None)
    _here.lang = lang if lang in LANGUAGES else None
    try:
        yield
    finally:
        _here.lang = before


def current() -> str:
    here = getattr(_here, "lang", None)
    if here:
        return here
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
    """`text` in `lang` (the page's by default), itself where the catalogue has no entry. A
    text made from a message with placeholders ("Feature maps of test image 3 (predicted 5,
    true 5)": a recording's, a stored run's) is recognised and translated with its values."""
    if not isinstance(text, str) or not text:
        return text
    lang = lang or current()
    if lang == DEFAULT:
        return text
    found = catalog(lang).get(text)
    if found is None and text != text.strip():      # an older recording's trailing space
        found = catalog(lang).get(text.strip())
    return found if found is not None else _filled(text.strip(), lang) if text.strip() != text \
        else _filled(text, lang)


@lru_cache(maxsize=4096)
def _filled(text: str, lang: str, whole: bool = True) -> str:
    for pattern, names, target in _patterns(lang):
        m = pattern.fullmatch(text)
        if m:
            # a value may be a message of its own (a lab's hint inside the run's message)
            return target.format(**{n: _filled_value(v, lang) for n, v in zip(names, m.groups())})
    if text.endswith(".") and len(text) > 8:       # a message with its full stop added
        said = catalog(lang).get(text[:-1]) or _filled(text[:-1], lang, False)
        if said != text[:-1]:
            return said + ("。" if lang == "zh" else ".")
    if whole:       # sentences made one by one and joined (a comparison's verdict)
        parts = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text)
        if len(parts) > 1:
            said = [catalog(lang).get(p) or _filled(p, lang, False) for p in parts]
            if said != parts:
                return "".join(said) if lang == "zh" else " ".join(said)
    return text


def _filled_value(value: str, lang: str) -> str:
    found = catalog(lang).get(value)
    return found if found is not None else _filled(value, lang) if len(value) > 3 else value


@lru_cache(maxsize=None)
def _patterns(lang: str) -> list:
    """(regex of the English with each placeholder a group, the names, the translation with
    its placeholders plain) of every message with placeholders; the longest literal first."""
    out = []
    for msgid, msgstr in catalog(lang).items():
        try:
            parts = list(string.Formatter().parse(msgid))
            target = "".join(literal.replace("{", "{{").replace("}", "}}")
                             + ("{" + name + "}" if name is not None else "")
                             for literal, name, _, _ in string.Formatter().parse(msgstr))
        except ValueError:
            continue
        names = [name for _, name, _, _ in parts if name is not None]
        if not names or len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            continue
        # a value never spans the end of a sentence: a verdict's sentences are matched apart
        regex = "".join(re.escape(literal) + (r"((?:(?![.!?]\s+[A-Z]).)+?)" if name is not None
                                              else "") for literal, name, _, _ in parts)
        literal = sum(len(p[0]) for p in parts)
        if literal >= 8:                # "{a} to {b}" would match too much
            out.append((literal, re.compile(regex, re.S), names, target))
    return [x[1:] for x in sorted(out, key=lambda x: -x[0])]


def _(message: str, /, **values) -> str:
    """The message in the page's language, its placeholders filled."""
    out = translate(message)
    return out.format(**values) if values else out


def fields(text: str) -> set[str]:
    """The str.format placeholders of a message ({step}, {total:,})."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"<unbalanced braces>"}
