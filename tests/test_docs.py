"""The front door and the docs site: README length, every page in the nav exists, links resolve, generated blocks."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _nav_pages() -> list[str]:
    return re.findall(r":\s*([\w./-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), flags=re.M)


def test_readme_is_a_front_door_of_at_most_200_lines():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    nav = _nav_pages()
    assert nav and all((DOCS / p).is_file() for p in nav), [p for p in nav if not (DOCS / p).is_file()]
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert sorted(set(nav)) == pages


def test_readme_links_point_at_files_that_exist():
    links = re.findall(r"\]\(([^)#]+)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert links and [link for link in links if not (ROOT / link).exists()] == []


def test_generated_blocks_name_known_generators():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    names = {m for p in DOCS.glob("*.md") for m in re.findall(r"<!-- generate: ([\w-]+) -->", p.read_text(encoding="utf-8"))}
    assert names and names <= set(hooks.GENERATORS)
    for name in names:
        assert hooks.GENERATORS[name]().strip()
