"""`python -m playground i18n extract|check`: the catalogues kept in step with the code.

extract: every `_()` and `N_()` message in the source (Babel's Python extractor), and the words
each lab declares (its title, section, Try this, presets, slow-motion words, every setting's label
and help and the form's groups), written to playground/locale/messages.pot and merged into each
language's messages.po (new ids added untranslated, gone ones dropped).
check: the messages of the template that a language leaves untranslated, and translations whose
placeholders differ from their id's - what the suite fails on.
"""
from __future__ import annotations

import io
from pathlib import Path

from playground import i18n, registry

SOURCES = ("playground", "app_pages", "streamlit_app.py")
KEYWORDS = {"_": None, "N_": None}
TEMPLATE = i18n.ROOT / f"{i18n.DOMAIN}.pot"
REPO = Path(__file__).resolve().parents[1]


# The labs whose every declared word is in the catalogues: all of them (a new lab's words
# must be translated before the suite passes).
TRANSLATED = tuple(registry.LABS)


def declared() -> list[tuple[str, str]]:
    """(message, where) of the words the labs declare as constants."""
    from playground import params

    out = [(s, "registry.SECTIONS") for s in registry.SECTIONS]
    out += [(registry.meta(n).TITLE, f"playground/labs/{n}") for n in registry.LABS]
    for name in TRANSLATED:
        lab = registry.get(name)
        where = f"playground/labs/{name}"
        out += [(lab.TRY_THIS, where)]
        out += [(c[1], f"{where} CURVES") for c in getattr(lab, "CURVES", ())]
        out += [(h[1], f"{where} HEADLINE") for h in registry.headlines(name)]
        out += [(p, f"{where} PRESETS") for p in getattr(lab, "PRESETS", {})]
        steps = getattr(lab, "STEPS", None) or {}
        out += [(steps[k], f"{where} STEPS") for k in ("title", "help", "ready") if k in steps]
        out += [(a, f"{where} STEPS") for a in steps.get("actions", ())]
        ex = getattr(lab, "EXPLORE", None) or {}
        out += [(ex[k], f"{where} EXPLORE") for k in ("title", "help", "text_label", "text_help")
                if ex.get(k)]
        compare = getattr(lab, "COMPARE", None)
        if isinstance(compare, dict):         # one made per setting speaks through _() itself
            out += [(compare["label"], f"{where} COMPARE")]
            out += [(n, f"{where} COMPARE") for n in compare.get("names") or ()]
            out += [(c[1], f"{where} COMPARE") for c in compare.get("curves") or ()]
        if getattr(lab, "STEP_UNIT", ""):
            out += [(lab.STEP_UNIT, f"{where} STEP_UNIT")]
        out += [(d["title"], f"{where} DEMOS") for d in (getattr(lab, "DEMOS", None) or {}
                                                          ).values() if d.get("title")]
        for spec in params.specs(lab.Config):
            out += [(spec.title, f"{where} {spec.name}"), (spec.group, f"{where} {spec.name}")]
            if spec.help:
                out.append((spec.help, f"{where} {spec.name}"))
    return out


def template():
    """The catalogue of every message, untranslated (Babel's Catalog)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir, extract_from_file

    cat = Catalog(project="Neural Playground", msgid_bugs_address="", charset="utf-8")
    for source in SOURCES:
        path = REPO / source
        found = (extract_from_file("python", str(path), keywords=KEYWORDS)
                 if path.is_file() else
                 ((f, *rest) for f, *rest in extract_from_dir(
                     str(path), method_map=[("**.py", "python")], keywords=KEYWORDS)))
        for item in found:
            if path.is_file():
                lineno, message, comments, _ = item
                filename = source
            else:
                filename, lineno, message, comments, _ = item
                filename = f"{source}/{filename}"
            if isinstance(message, str) and message:
                cat.add(message, locations=[(filename, lineno)])
    for message, where in declared():
        if message:
            cat.add(message, locations=[(where, 0)])
    return cat


def extract() -> dict[str, int]:
    """Write the template and merge it into every language's catalogue; {lang: untranslated}."""
    from babel.messages.pofile import read_po, write_po

    tmpl = template()
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    with open(TEMPLATE, "wb") as f:
        write_po(f, tmpl, omit_header=False, width=100, sort_output=False)
    left = {}
    for lang in i18n.LANGUAGES:
        if lang == i18n.DEFAULT:
            continue
        path = i18n.po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with open(path, "rb") as f:
                cat = read_po(f, locale="zh_Hans_CN" if lang == "zh" else lang)
        else:
            from babel.messages.catalog import Catalog

            cat = Catalog(locale="zh_Hans_CN" if lang == "zh" else lang,
                          project="Neural Playground", charset="utf-8")
        cat.update(tmpl, no_fuzzy_matching=True)
        cat.obsolete.clear()
        with open(path, "wb") as f:
            write_po(f, cat, width=100, sort_output=False, ignore_obsolete=True)
        left[lang] = sum(1 for m in cat if m.id and not m.string)
        i18n.catalog.cache_clear()
        i18n._patterns.cache_clear()
        i18n._filled.cache_clear()
    return left


def problems(lang: str, tmpl=None) -> list[str]:
    """What the suite fails on: messages of the code without a translation, and translations
    whose placeholders are not their id's."""
    tmpl = tmpl or template()
    done = i18n.catalog(lang)
    out = []
    for m in tmpl:
        if not m.id:
            continue
        where = ", ".join(f"{f}:{n}" for f, n in m.locations[:2])
        if m.id not in done:
            out.append(f"untranslated ({where}): {m.id[:80]!r}")
        elif i18n.fields(done[m.id]) != i18n.fields(m.id):
            out.append(f"placeholders differ ({where}): {m.id[:60]!r} has "
                       f"{sorted(i18n.fields(m.id))}, the translation "
                       f"{sorted(i18n.fields(done[m.id]))}")
    return out


def dump(cat) -> str:
    from babel.messages.pofile import write_po

    buf = io.BytesIO()
    write_po(buf, cat, width=100)
    return buf.getvalue().decode()
