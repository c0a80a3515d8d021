"""The words around the code: a README one reads in a few minutes, a guide per lab, links that
lead somewhere."""
from __future__ import annotations

import re
from pathlib import Path

from playground import registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "README.zh-CN.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_the_readme_is_short_and_links_every_guide():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for name in registry.LABS:
        assert f"](docs/labs/{name}.md)" in readme, name
    assert "make run" in readme and "make test" in readme
    assert "](README.zh-CN.md)" in readme


def test_the_chinese_readme_is_as_short_and_links_every_chinese_guide():
    readme = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for name in registry.LABS:
        assert (ROOT / "docs" / "labs" / f"{name}.zh.md").exists(), name
        assert f"](docs/labs/{name}.zh.md)" in readme, name
    assert "make run" in readme and "make test" in readme and "](README.md)" in readme


def test_every_relative_link_and_picture_resolves():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)", doc.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+://", target) and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert broken == []
