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


def _recipe_summary() -> str:
    from zeroi2v.settings.recipes import recipe_summary_markdown

    return recipe_summary_markdown()


def _flags() -> str:
    """Every command's flags (help and default), from the parsers (`zeroi2v.settings.flags.reference_markdown`)."""
    from episodes.__main__ import build_parser as episodes_parser
    from fewshot.config import build_parser as run_parser
    from fewshot.data.__main__ import build_parser as data_parser
    from results.__main__ import build_parser as results_parser
    from zeroi2v.bench.config import build_parser as bench_parser
    from zeroi2v.settings.flags import reference_markdown
    from zeroi2v.train.cli import build_parser as train_parser

    parsers = {"python -m fewshot.run": run_parser(), "python -m fewshot.data": data_parser(),
               "python -m episodes": episodes_parser(), "python -m zeroi2v.train": train_parser(),
               "python -m zeroi2v.bench": bench_parser(), "python -m results": results_parser()}
    return reference_markdown(parsers, level=2)


def _methods() -> str:
    """Every method of the registry: what it is, whether it merges, its paper's optimiser settings and its source."""
    from zeroi2v.methods import all_methods

    def fmt(d: dict) -> str:
        return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items()) or "the recipe's"

    rows = ["| method | table label | merges | optimiser (paper configs, on the original recipes) | "
            "on every recipe | source |", "|---|---|---|---|---|---|"]
    for m in all_methods():
        rows.append(f"| `{m.name}` | {m.label} | {'yes' if m.mergeable else 'no'} | {fmt(m.optim)} | "
                    f"{fmt(m.optim_relative) if m.optim_relative else '–'} | {m.source or '–'} |")
    return "\n".join(rows)


GENERATORS = {
    "methods": _methods,
    "recipes": _recipes,
    "recipe-summary": _recipe_summary,
    "flags": _flags,
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
