"""mkdocs hook: pages name generated blocks with `<!-- generate: NAME -->`; the block is rendered from the code
at build time, so the recipe table and the flag reference cannot drift from what runs."""
from __future__ import annotations

import re


def _recipes() -> str:
    from zeroi2v.settings.recipes import recipe_table_markdown

    return recipe_table_markdown()


def _root_file(name: str, links: dict[str, str]) -> str:
    """A Markdown file of the repository root (README, CHANGELOG), its links made relative to docs/."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / name).read_text(encoding="utf-8")
    for old, new in links.items():
        text = text.replace(old, new)
    return text


GENERATORS = {
    "recipes": _recipes,
    "readme": lambda: _root_file("README.md", {"](docs/": "](", "](CHANGELOG.md)": "](changelog.md)"}),
    "changelog": lambda: _root_file("CHANGELOG.md", {}),
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    def render(m: re.Match) -> str:
        name = m.group(1)
        if name not in GENERATORS:
            from mkdocs.exceptions import PluginError

            raise PluginError(f"{page.file.src_path}: unknown generated block {name!r}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    return re.sub(r"<!-- generate: ([\w-]+) -->", render, markdown)
