"""Text that came from outside (a link's query, an uploaded file, a model trained on one), shown
as text: cut to a sane length, with nothing that Markdown would make a link, a picture, a
heading, an icon or a formula - so a crafted link cannot put its own links or pictures in front
of another visitor. Plain prose comes out as it went in."""
from __future__ import annotations

import re

# Markdown's inline syntax and Streamlit's ($math$, :color[...]); `_` inside a word is no syntax
_SPECIAL = re.compile(r"[\\`*\[\]<~$]|(?<![^\W_])_|_(?![^\W_])")
# a colon before a word: an address (https://), an icon or emoji (:material/x:, :smile:)
_COLON = re.compile(r":(?=\S)")
_LEADING = re.compile(r"^(?:[#>+=|-]|\d+[.)])")       # a heading, quote or list at the start
# GFM links bare addresses in the parsed text, escaped or not: an invisible space breaks them
_ZWSP = "\u200b"
_WWW = re.compile(r"(?i)www(?=\.)|@")


def plain(text, limit: int | None = 80) -> str:
    """`text` on one line, at most `limit` characters (then "…"), for st.markdown, st.error and
    the like to show literally."""
    s = " ".join(str(text).split())
    if limit is not None and len(s) > limit:
        s = s[:limit - 1] + "…"
    s = _SPECIAL.sub(lambda m: "\\" + m[0], s)
    s = _COLON.sub("\\:" + _ZWSP, s)
    s = _WWW.sub(lambda m: m[0] + _ZWSP, s)
    lead = _LEADING.match(s)
    if lead:                                    # "1." is no escape: its "." is
        s = s[:lead.end() - 1] + "\\" + s[lead.end() - 1:]
    return s
