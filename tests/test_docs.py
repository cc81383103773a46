"""The documentation stays inside the repository: every relative link of docs/ resolves to a page
of the site (``mkdocs build --strict`` in ci/test.sh checks the rest)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GENERATED = {"cli.md", "benchmarks.md"}  # written by docs/gen_pages.py at build time
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_relative_links_stay_in_the_site() -> None:
    broken = []
    for page in DOCS.rglob("*.md"):
        for target in _LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address, or an anchor on the same page
            path = (page.parent / target.split("#")[0]).resolve()
            inside = path.is_relative_to(DOCS)
            if not inside or not (path.exists() or path.name in GENERATED):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_architecture_is_in_the_repository() -> None:
    text = (DOCS / "architecture.md").read_text()
    assert text.startswith("# aiolibp2p architecture")
    assert "../shared" not in text
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in DOCS.rglob("*.md"):
        assert str(page.relative_to(DOCS)) in nav, page
    assert all(name in nav for name in GENERATED)
